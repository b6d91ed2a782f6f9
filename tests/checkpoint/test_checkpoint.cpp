#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "metarec/train/checkpoint.hpp"
#include "fixtures/temp_dir.hpp"
#include "optim/optim_fixtures.hpp"

using namespace metarec;
using namespace metarec::optim;
namespace fs = std::filesystem;

namespace {
using metarec::test::TempDir;

std::vector<std::uint8_t> read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& p, const std::vector<std::uint8_t>& b, std::size_t n) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(n));
}
/// Message of the CheckpointError thrown by f ("" when none was thrown).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

Checkpoint small_checkpoint() {
  Checkpoint ck;
  ck.meta["config"] = R"({"d": 4})";
  Tensor<float> a(Shape{2, 3});
  for (index_t i = 0; i < a.size(); ++i) a[i] = 0.5f * static_cast<float>(i) - 1;
  ck.add(CheckpointEntry::from_tensor("a", a));
  ck.add(CheckpointEntry::from_values<std::int64_t>("n", {7}));
  return ck;
}

/// Parameters of a two-layer model and a snapshot of their values.
using Model = optim_test::TinyModel<float>;
std::vector<Tensor<float>> snapshot(Model& m) {
  std::vector<Tensor<float>> s;
  for (auto* p : m.params()) s.push_back(p->value.clone());
  return s;
}
bool unchanged(Model& m, const std::vector<Tensor<float>>& s) {
  auto ps = m.params();
  for (std::size_t i = 0; i < ps.size(); ++i)
    if (!optim_test::bit_equal(ps[i]->value, s[i])) return false;
  return true;
}
}  // namespace

TEST_CASE("checkpoint: CRC-32 check value") {
  CHECK(crc32("123456789", 9) == 0xCBF43926u);
  CHECK(crc32("", 0) == 0u);
}

TEST_CASE("checkpoint: round trip of every dtype, shapes and metadata; no .tmp left") {
  TempDir dir;
  Checkpoint ck;
  ck.meta["config"] = R"({"backbone": "sasrec", "d": 64})";
  ck.meta["empty"] = "";
  Tensor<double> d(Shape{3, 1, 2});
  for (index_t i = 0; i < d.size(); ++i) d[i] = 1.0 / (1.0 + static_cast<double>(i));
  ck.add(CheckpointEntry::from_tensor("d", d));
  ck.add(CheckpointEntry::from_tensor("f", Tensor<float>(Shape{4}, -0.0f)));
  ck.add(CheckpointEntry::from_tensor("scalar", Tensor<float>(Shape{}, 3.5f)));
  ck.add(CheckpointEntry::from_tensor("zero_rows", Tensor<float>(Shape{0, 5})));
  ck.add(CheckpointEntry::from_values<std::int32_t>("i32", {-1, 2, 2147483647}));
  ck.add(CheckpointEntry::from_values<std::int64_t>("i64", {-(std::int64_t(1) << 40)}));
  CHECK_THROWS_AS(ck.add(CheckpointEntry::from_values<std::int32_t>("i32", {1})), CheckpointError);

  const std::string path = dir.file("model.ckpt");
  save_checkpoint(path, ck);
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  save_checkpoint(path, ck);  // overwriting an existing checkpoint works
  const Checkpoint back = load_checkpoint(path);
  CHECK(back.meta == ck.meta);
  REQUIRE(back.entries.size() == ck.entries.size());
  for (std::size_t i = 0; i < ck.entries.size(); ++i) {
    CAPTURE(ck.entries[i].name);
    CHECK(back.entries[i].name == ck.entries[i].name);
    CHECK(back.entries[i].dtype == ck.entries[i].dtype);
    CHECK(back.entries[i].shape == ck.entries[i].shape);
    CHECK(back.entries[i].bytes == ck.entries[i].bytes);
  }
  CHECK(back.find("i64")->values<std::int64_t>()[0] == -(std::int64_t(1) << 40));
  CHECK_THROWS_AS(back.find("i64")->values<std::int32_t>(), CheckpointError);

  // Unwritable destination: IoError, and no temporary file left behind.
  const std::string bad = dir.file("no_such_dir/model.ckpt");
  CHECK_THROWS_AS(save_checkpoint(bad, ck), IoError);
  CHECK_FALSE(fs::exists(bad + ".tmp"));
  CHECK_THROWS_AS(load_checkpoint(dir.file("missing.ckpt")), IoError);
  // An inconsistent entry is refused before anything is written.
  Checkpoint broken = ck;
  broken.entries[0].bytes.pop_back();
  CHECK(contains(error_of([&] { save_checkpoint(dir.file("broken.ckpt"), broken); }), "'d'"));
  CHECK_FALSE(fs::exists(dir.file("broken.ckpt.tmp")));
}

TEST_CASE("checkpoint: every truncation, every flipped byte, bad magic, future version") {
  TempDir dir;
  const std::string path = dir.file("small.ckpt"), cut = dir.file("cut.ckpt");
  save_checkpoint(path, small_checkpoint());
  const auto bytes = read_bytes(path);
  REQUIRE(bytes.size() > 40);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    write_bytes(cut, bytes, n);
    CHECK(contains(error_of([&] { load_checkpoint(cut); }), "truncated"));
  }
  // "a"'s 24 data bytes end where entry "n" begins (29 bytes: 4 + 1 + 4 + 4 + 8 + 8), before the CRC.
  const std::size_t data_begin = bytes.size() - 4 - 29 - 24;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    CAPTURE(i);
    auto flipped = bytes;
    flipped[i] ^= 0x10;
    write_bytes(cut, flipped, flipped.size());
    const std::string msg = error_of([&] { load_checkpoint(cut); });
    CHECK_FALSE(msg.empty());
    if (i >= bytes.size() - 4 || (i >= data_begin && i < data_begin + 24)) CHECK(contains(msg, "checksum"));
  }
  auto wrong = bytes;
  std::memcpy(wrong.data(), "NOTACKPT", 8);
  write_bytes(cut, wrong, wrong.size());
  CHECK(contains(error_of([&] { load_checkpoint(cut); }), "bad magic"));

  // Version 2 with a valid checksum: rejected for its version, not as corruption.
  auto future = bytes;
  future[8] = 2;
  const std::uint32_t crc = crc32(future.data(), future.size() - 4);
  metarec::detail::to_le(&crc, 1, future.data() + future.size() - 4);
  write_bytes(cut, future, future.size());
  const std::string msg = error_of([&] { load_checkpoint(cut); });
  CHECK(contains(msg, "unsupported version 2"));
  CHECK(contains(msg, "cut.ckpt"));
}

TEST_CASE("checkpoint: restore_parameters validates everything before loading anything") {
  TempDir dir;
  Model source(1, 2), target(3, 2);
  Checkpoint ck;
  add_parameters(ck, source.params());
  save_checkpoint(dir.file("m.ckpt"), ck);
  const Checkpoint loaded = load_checkpoint(dir.file("m.ckpt"));
  const auto before = snapshot(target);

  // Shape mismatch in the last parameter: named, and nothing (not even the valid ones) is loaded.
  Checkpoint bad = loaded;
  bad.entries.back().shape = {1, 1};
  bad.entries.back().bytes.resize(4);
  std::string msg = error_of([&] { restore_parameters(bad, target.params()); });
  CHECK(contains(msg, "'l2.bias'"));
  CHECK(contains(msg, "shape"));
  CHECK(unchanged(target, before));

  // Missing name.
  bad = loaded;
  bad.entries.erase(bad.entries.begin() + 1);
  msg = error_of([&] { restore_parameters(bad, target.params()); });
  CHECK(contains(msg, "missing tensor 'l1.bias'"));
  CHECK(unchanged(target, before));

  // Unknown name: an error when strict, ignored otherwise; other sections never count.
  bad = loaded;
  bad.add(CheckpointEntry::from_tensor("extra.weight", Tensor<float>(Shape{2})));
  bad.add(CheckpointEntry::from_tensor("optimizer/adam.m.l1.weight", Tensor<float>(Shape{2})));
  msg = error_of([&] { restore_parameters(bad, target.params()); });
  CHECK(contains(msg, "unexpected tensor 'extra.weight'"));
  CHECK_FALSE(contains(msg, "optimizer/"));
  CHECK(unchanged(target, before));

  // Integer dtype where a float is expected.
  bad = loaded;
  const auto& w = target.params()[0]->value;
  bad.entries[0] = CheckpointEntry::from_values<std::int32_t>("l1.weight", std::vector<std::int32_t>(static_cast<std::size_t>(w.size()), 1));
  bad.entries[0].shape = {w.dim(0), w.dim(1)};
  CHECK(contains(error_of([&] { restore_parameters(bad, target.params()); }), "dtype i32"));
  CHECK(unchanged(target, before));

  bad = loaded;
  bad.add(CheckpointEntry::from_tensor("extra.weight", Tensor<float>(Shape{2})));
  restore_parameters(bad, target.params(), /*strict=*/false);
  CHECK(unchanged(target, snapshot(source)));

  // Prefixes, and float -> double conversion.
  Checkpoint pref;
  add_parameters(pref, source.params(), "teacher/");
  optim_test::TinyModel<double> dbl(9, 2);
  restore_parameters(pref, dbl.params(), true, "teacher/");
  CHECK(dbl.params()[0]->value[3] == static_cast<double>(source.params()[0]->value[3]));
  CHECK(contains(error_of([&] { restore_parameters(pref, dbl.params()); }), "missing tensor 'l1.weight'"));
}

TEST_CASE("checkpoint: resuming Adam from a checkpoint is bit-identical to uninterrupted training") {
  TempDir dir;
  const int total = 10, split = 4;
  auto run = [](Model& m, Adam<float>& opt, int from, int to) {
    Tape<float> tape(7);
    Scheduler sched(opt, Cosine{2, 10}, 0.02);
    for (int s = from; s < to; ++s) {
      opt.zero_grad();
      m.loss_and_grad(tape);
      clip_grad_norm(m.params(), 0.5);
      sched.apply();
      opt.step();
    }
  };
  Model straight(5, 6);
  Adam<float> opt_straight(straight.params(), AdamConfig{0.02});
  run(straight, opt_straight, 0, total);

  Model first(5, 6);
  Adam<float> opt_first(first.params(), AdamConfig{0.02});
  run(first, opt_first, 0, split);
  Checkpoint ck;
  ck.meta["config"] = "tiny";
  add_parameters(ck, first.params());
  add_optimizer_state(ck, opt_first);
  save_checkpoint(dir.file("resume.ckpt"), ck);

  Model resumed(99, 6);  // different initialisation: everything must come from the file
  Adam<float> opt_resumed(resumed.params(), AdamConfig{0.5});
  const Checkpoint back = load_checkpoint(dir.file("resume.ckpt"));
  restore_parameters(back, resumed.params());
  restore_optimizer_state(back, opt_resumed);
  CHECK(opt_resumed.steps() == static_cast<std::uint64_t>(split));
  CHECK(opt_resumed.lr() == opt_first.lr());
  run(resumed, opt_resumed, split, total);
  CHECK(unchanged(resumed, snapshot(straight)));
  CHECK_FALSE(unchanged(first, snapshot(straight)));

  // Optimizer state that does not fit is refused as a whole.
  SGD<float> sgd(resumed.params(), SGDConfig{0.1, 0.9});
  CHECK(contains(error_of([&] { restore_optimizer_state(back, sgd); }), "'adam' state"));
  Checkpoint partial = back;
  partial.entries.erase(std::find_if(partial.entries.begin(), partial.entries.end(),
                                     [](const CheckpointEntry& e) { return e.name == "optimizer/adam.v.l2.bias"; }));
  Adam<float> fresh(resumed.params());
  CHECK(contains(error_of([&] { restore_optimizer_state(partial, fresh); }), "missing tensor 'optimizer/adam.v.l2.bias'"));
  CHECK(fresh.steps() == 0);
  CHECK(fresh.state()[0].second->vec().cwiseAbs().sum() == 0.0f);
}
