// train::fit resumed from a checkpoint (train/fit_checkpoint.hpp) continues
// exactly: E epochs in one go and E1 epochs + resume to E give the same bits
// on the same host (parameters, history, metrics), with dropout and sampled
// negatives on, so the per-epoch reseeding of every random stream is covered.
#include <doctest/doctest.h>

#include <cstring>

#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "fixtures/temp_dir.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/fit_checkpoint.hpp"

using namespace metarec;

namespace {
using SASRecModel = Recommender<backbones::SASRec>;

train::TrainerConfig trainer(int epochs) {
  train::TrainerConfig tc;
  tc.epochs = epochs;
  tc.batch_size = 16;
  tc.patience = 0;
  tc.lr = 1e-2;
  tc.loss = LossKind::bce;  // a sampled negative per position: the negative stream is resumed too
  tc.seed = 11;
  return tc;
}

bool same_bits(SASRecModel& a, SASRecModel& b) {
  const auto pa = a.parameters().all(), pb = b.parameters().all();
  if (pa.size() != pb.size()) return false;
  for (std::size_t i = 0; i < pa.size(); ++i)
    if (pa[i]->value.size() != pb[i]->value.size() ||
        std::memcmp(pa[i]->value.data(), pb[i]->value.data(), sizeof(float) * static_cast<std::size_t>(pa[i]->value.size())))
      return false;
  return true;
}
}  // namespace

TEST_CASE("fit for E epochs equals fit for E1 epochs, checkpoint, resume to E (same bits)") {
  const data::Split split = test::ring_split("ring", 20, 50, 3);
  const test::Sizes sizes{.d = 8, .max_len = 6, .dropout = 0.2};
  metarec::test::TempDir dir("metarec_resume");
  const std::string path = dir.file("last.ckpt");

  SASRecModel straight(test::config<SASRecModel>(sizes), 5);
  const int ks = straight.add_domain("ring", split.n_items);
  const train::TrainResult a = train::fit(straight, ks, split, trainer(4));

  SASRecModel first(test::config<SASRecModel>(sizes), 5);
  const int kf = first.add_domain("ring", split.n_items);
  train::CheckpointEvery<float> save{path, 2, {{"note", "test"}}};
  train::fit(first, kf, split, trainer(2), save);
  CHECK(save.written == 1);

  SASRecModel resumed(test::config<SASRecModel>(sizes), 99);  // another initialisation: everything must come from the file
  const int kr = resumed.add_domain("ring", split.n_items);
  train::ResumeFrom resume{load_checkpoint(path)};
  CHECK(resume.checkpoint.meta.at("note") == "test");
  CHECK(resume.checkpoint.meta.at("epoch") == "2");
  const train::TrainResult b = train::fit(resumed, kr, split, trainer(4), resume);

  CHECK(same_bits(straight, resumed));  // the best epoch's parameters, restored by both
  CHECK(a.best_epoch == b.best_epoch);
  CHECK(a.epochs_run == b.epochs_run);
  REQUIRE(a.history.size() == b.history.size());
  for (std::size_t e = 0; e < a.history.size(); ++e) {
    CHECK(a.history[e].epoch == b.history[e].epoch);
    CHECK(a.history[e].loss == b.history[e].loss);
    CHECK(a.history[e].valid.sums() == b.history[e].valid.sums());
  }
  CHECK(a.valid.sums() == b.valid.sums());
  CHECK(a.test.sums() == b.test.sums());
  // Not vacuous: the epochs after the checkpoint changed the model.
  SASRecModel two(test::config<SASRecModel>(sizes), 5);
  two.add_domain("ring", split.n_items);
  restore_parameters(resume.checkpoint, two.parameters().all());
  CHECK_FALSE(same_bits(two, straight));
}

TEST_CASE("resuming refuses what it cannot continue, and changes nothing then") {
  const data::Split split = test::ring_split("ring", 20, 50, 3);
  metarec::test::TempDir dir("metarec_resume");
  SASRecModel m(test::config<SASRecModel>({.d = 8, .max_len = 6}), 5);
  const int k = m.add_domain("ring", split.n_items);
  train::CheckpointEvery<float> save{dir.file("last.ckpt"), 1, {}};
  train::fit(m, k, split, trainer(2), save);
  CHECK(save.written == 2);
  const Checkpoint ck = load_checkpoint(dir.file("last.ckpt"));

  SUBCASE("a parameters-only checkpoint has no training state") {
    Checkpoint params_only;
    add_parameters(params_only, m.parameters().all());
    train::ResumeFrom r{params_only};
    CHECK_THROWS_WITH_AS(train::fit(m, k, split, trainer(3), r), doctest::Contains("not a resumable training checkpoint"),
                         CheckpointError);
  }
  SUBCASE("another model shape: nothing is loaded") {
    SASRecModel other(test::config<SASRecModel>({.d = 16, .max_len = 6}), 5);
    const int ko = other.add_domain("ring", split.n_items);
    const std::vector<float> before(other.parameters().all()[0]->value.data(),
                                    other.parameters().all()[0]->value.data() + other.parameters().all()[0]->value.size());
    train::ResumeFrom r{ck};
    CHECK_THROWS_WITH_AS(train::fit(other, ko, split, trainer(3), r), doctest::Contains("nothing was loaded"),
                         CheckpointError);
    CHECK(std::equal(before.begin(), before.end(), other.parameters().all()[0]->value.data()));
  }
  SUBCASE("fewer epochs than the checkpoint has run") {
    train::ResumeFrom r{ck};
    CHECK_THROWS_WITH_AS(train::fit(m, k, split, trainer(1), r), doctest::Contains("after epoch 2"), ConfigError);
  }
  SUBCASE("a finished run resumed to the same epoch only evaluates") {
    train::ResumeFrom r{ck};
    const train::TrainResult res = train::fit(m, k, split, trainer(2), r);
    CHECK(res.epochs_run == 2);
    CHECK(res.history.size() == 2);
  }
}
