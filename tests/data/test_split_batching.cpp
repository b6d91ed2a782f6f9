// Leave-one-out split, limited target data, batching, cloze masking,
// negative sampling and evaluation inputs.
#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "metarec/data/all.hpp"

namespace md = metarec::data;
using V = std::vector<std::int32_t>;

namespace {
md::Domain domain(const std::string& text) {
  std::istringstream in(text);
  return md::read_sequences(in, "mem.txt");
}
/// Row r of a [B, L] buffer.
template <class T>
std::vector<T> row(const std::vector<T>& buf, metarec::index_t L, metarec::index_t r) {
  return std::vector<T>(buf.begin() + r * L, buf.begin() + (r + 1) * L);
}
using U8 = std::vector<std::uint8_t>;
}  // namespace

TEST_CASE("split_leave_one_out") {
  const md::Domain d = domain("1 1 2 3 4 5\n2 6 7 8\n");
  const md::Split s = md::split_leave_one_out(d);
  CHECK(s.n_users == 2);
  CHECK(s.train[0] == V{1, 2, 3});
  CHECK(s.valid.targets[0] == 4);
  CHECK(s.valid.histories[0] == V{1, 2, 3});
  CHECK(s.test.targets[0] == 5);
  CHECK(s.test.histories[0] == V{1, 2, 3, 4});
  CHECK(s.train[1] == V{6});
  CHECK(s.test.histories[1] == V{6, 7});
  CHECK(s.train_users == V{0, 1});
  const md::Split c = md::split_leave_one_out(d, {false, 2});
  CHECK(c.test.histories[0] == V{3, 4});
  CHECK(c.valid.histories[0] == V{2, 3});
  CHECK(c.train[0] == V{1, 2, 3});
}

TEST_CASE("split_leave_one_out: users with fewer than 3 items") {
  const md::Domain d = domain("1 1 2 3\n2 4 5\n3 6 7 8\n");
  try {
    md::split_leave_one_out(d);
    FAIL("expected ParseError");
  } catch (const metarec::ParseError& e) {
    CHECK(e.file() == "mem.txt");
    CHECK(e.line() == 2);
    CHECK(e.field() == "user");
    CHECK(std::string(e.what()).find("user 2 has 2 item(s)") != std::string::npos);
  }
  const md::Split s = md::split_leave_one_out(d, {true});
  CHECK(s.report.skipped_users == 1);
  CHECK(s.test.users == V{0, 2});
  CHECK(s.train[1].empty());
  CHECK(s.train_users == V{0, 2});
}

TEST_CASE("limit_training_users: seeded fraction, eval keeps everyone") {
  std::string text;
  for (int u = 1; u <= 100; ++u) text += std::to_string(u) + " 1 2 3 4\n";
  const md::Split full = md::split_leave_one_out(domain(text));
  const md::Split a = md::limit_training_users(full, 0.25, 7);
  const md::Split b = md::limit_training_users(full, 0.25, 7);
  const md::Split c = md::limit_training_users(full, 0.25, 8);
  CHECK(a.train_users.size() == 25);
  CHECK(a.train_users == b.train_users);
  CHECK(a.train_users != c.train_users);
  CHECK(std::is_sorted(a.train_users.begin(), a.train_users.end()));
  CHECK(a.valid.size() == 100);
  CHECK(a.test.size() == 100);
  CHECK(a.train_fraction == doctest::Approx(0.25));
  std::size_t nonempty = 0;
  for (const auto& t : a.train) nonempty += !t.empty();
  CHECK(nonempty == 25);
  CHECK(md::limit_training_users(full, 1.0, 1).train_users.size() == 100);
  CHECK(md::limit_training_users(full, 0.001, 1).train_users.size() == 1);
  CHECK_THROWS_AS(md::limit_training_users(full, 0.0, 1), metarec::ConfigError);
  CHECK_THROWS_AS(md::limit_training_users(full, 1.5, 1), metarec::ConfigError);
}

TEST_CASE("next-item rows: truncation, left and right padding") {
  const V s = {5, 6, 7, 8, 9};
  V items(4), targets(4);
  U8 mask(4);
  md::fill_next_item_row(s, 4, md::Padding::left, items.data(), targets.data(), mask.data());
  CHECK(items == V{5, 6, 7, 8});
  CHECK(targets == V{6, 7, 8, 9});
  CHECK(mask == U8{1, 1, 1, 1});
  V i3(3), t3(3);
  U8 m3(3);
  md::fill_next_item_row(s, 3, md::Padding::left, i3.data(), t3.data(), m3.data());
  CHECK(i3 == V{6, 7, 8});  // last max_len inputs
  CHECK(t3 == V{7, 8, 9});
  V i6(6), t6(6);
  U8 m6(6);
  md::fill_next_item_row(V{1, 2, 3}, 6, md::Padding::left, i6.data(), t6.data(), m6.data());
  CHECK(i6 == V{0, 0, 0, 0, 1, 2});
  CHECK(t6 == V{0, 0, 0, 0, 2, 3});
  CHECK(m6 == U8{0, 0, 0, 0, 1, 1});
  V r6(6), rt6(6);
  U8 rm6(6);
  md::fill_next_item_row(V{1, 2, 3}, 6, md::Padding::right, r6.data(), rt6.data(), rm6.data());
  CHECK(r6 == V{1, 2, 0, 0, 0, 0});
  CHECK(rt6 == V{2, 3, 0, 0, 0, 0});
  CHECK(rm6 == U8{1, 1, 0, 0, 0, 0});
}

TEST_CASE("BatchIterator: every user once per epoch, seeded, buffers reused") {
  std::string text;
  for (int u = 1; u <= 10; ++u) text += std::to_string(u) + " " + std::to_string(u) + " 20 21 22 23\n";
  text += "11 1 2 3\n";  // training sequence of length 1 -> no next-item target
  const md::Split sp = md::split_leave_one_out(domain(text));
  md::BatchOptions opt;
  opt.batch_size = 4;
  opt.max_len = 3;
  opt.seed = 11;
  md::BatchIterator it(sp, opt);
  CHECK(it.n_users() == 10);
  CHECK(it.skipped_users() == 1);
  CHECK(it.batches_per_epoch() == 3);
  std::vector<std::int32_t> seen, first;
  const std::int32_t* data = nullptr;
  int batches = 0;
  while (it.next()) {
    const auto& b = it.batch();
    if (batches == 0) data = b.items.data();
    CHECK(b.items.data() == data);  // no reallocation after the first batch
    CHECK(b.length == 3);
    for (metarec::index_t r = 0; r < b.batch; ++r) {
      const std::int32_t u = b.user[static_cast<std::size_t>(r)];
      seen.push_back(u);
      // training sequence [u, 20, 21] -> inputs [0, u, 20], targets [0, 20, 21]
      CHECK(row(b.items, 3, r) == V{0, sp.train[static_cast<std::size_t>(u)][0], sp.train[static_cast<std::size_t>(u)][1]});
      CHECK(row(b.targets, 3, r) == V{0, sp.train[static_cast<std::size_t>(u)][1], sp.train[static_cast<std::size_t>(u)][2]});
    }
    ++batches;
  }
  CHECK(batches == 3);
  CHECK(std::set<std::int32_t>(seen.begin(), seen.end()).size() == 10);
  first = seen;
  it.start_epoch(0);  // same epoch -> same order
  seen.clear();
  while (it.next()) seen.insert(seen.end(), it.batch().user.begin(), it.batch().user.end());
  CHECK(seen == first);
  it.start_epoch(1);
  seen.clear();
  while (it.next()) seen.insert(seen.end(), it.batch().user.begin(), it.batch().user.end());
  CHECK(seen != first);
  opt.drop_last = true;
  md::BatchIterator dl(sp, opt);
  int n = 0;
  while (dl.next()) ++n;
  CHECK(n == 2);
  opt.batch_size = 0;
  CHECK_THROWS_AS(md::BatchIterator(sp, opt), metarec::ConfigError);
}

TEST_CASE("cloze masking: at least one mask, targets only at masked positions") {
  std::string text;
  for (int u = 1; u <= 200; ++u) text += std::to_string(u) + " 1 2 3 4 5 6 7 8 9 10 11 12\n";
  text += "201 5 6 7\n";  // training length 1: its only item must be masked
  const md::Split sp = md::split_leave_one_out(domain(text));
  md::BatchOptions opt;
  opt.objective = md::Objective::cloze;
  opt.batch_size = 64;
  opt.max_len = 8;
  opt.mask_prob = 0.2;
  opt.seed = 3;
  md::BatchIterator it(sp, opt);
  CHECK(it.mask_token() == sp.n_items + 1);
  CHECK(it.skipped_users() == 0);
  std::int64_t masked = 0, real = 0;
  while (it.next()) {
    const auto& b = it.batch();
    for (metarec::index_t r = 0; r < b.batch; ++r) {
      const auto u = static_cast<std::size_t>(b.user[static_cast<std::size_t>(r)]);
      const V& s = sp.train[u];
      const V last(s.end() - std::min<std::ptrdiff_t>(8, static_cast<std::ptrdiff_t>(s.size())), s.end());
      int row_masked = 0;
      std::size_t k = 0;
      for (metarec::index_t t = 0; t < b.length; ++t) {
        const auto idx = static_cast<std::size_t>(r * b.length + t);
        if (!b.mask[idx]) {
          CHECK(b.items[idx] == 0);
          CHECK(b.targets[idx] == 0);
          continue;
        }
        const std::int32_t orig = last[k++];
        ++real;
        if (b.items[idx] == it.mask_token()) {
          CHECK(b.targets[idx] == orig);
          ++row_masked;
        } else {
          CHECK(b.items[idx] == orig);
          CHECK(b.targets[idx] == 0);
        }
      }
      CHECK(row_masked >= 1);
      masked += row_masked;
    }
  }
  // 200 users x 8 positions at p = 0.2 (+ forced masks): the rate is near 0.2.
  CHECK(static_cast<double>(masked) / static_cast<double>(real) == doctest::Approx(0.2).epsilon(0.2));
}

TEST_CASE("negative sampling excludes the user's items, uniformly") {
  const std::vector<V> seqs = {{1, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8}, {}};
  md::NegativeSampler ns(seqs, 10, 5);
  std::vector<int> count(11, 0);
  for (int k = 0; k < 7000; ++k) {
    const std::int32_t j = ns.sample(0);
    REQUIRE(j >= 4);
    REQUIRE(j <= 10);
    ++count[static_cast<std::size_t>(j)];
  }
  for (int j = 4; j <= 10; ++j) CHECK(count[static_cast<std::size_t>(j)] == doctest::Approx(1000).epsilon(0.15));
  // Dense user: complement path.
  for (int k = 0; k < 200; ++k) {
    const std::int32_t j = ns.sample(1);
    CHECK((j == 9 || j == 10));
  }
  CHECK(ns.contains(1, 8));
  CHECK_FALSE(ns.contains(1, 9));
  md::NegativeSampler full({{1, 2}}, 2, 1);
  CHECK_THROWS_AS(full.sample(0), metarec::ConfigError);
  CHECK_THROWS_AS(ns.sample(3), metarec::ConfigError);
  // Per-batch negatives: only where there is a target; reproducible for a seed.
  md::SequenceBatch b;
  b.resize(1, 3);
  b.user[0] = 0;
  b.targets = {0, 2, 3};
  std::vector<std::int32_t> neg, neg2;
  md::NegativeSampler a1(seqs, 10, 9), a2(seqs, 10, 9);
  a1.sample_for_batch(b, 2, neg);
  a2.sample_for_batch(b, 2, neg2);
  CHECK(neg == neg2);
  CHECK(neg[0] == 0);
  CHECK(neg[1] == 0);
  for (std::size_t k = 2; k < 6; ++k) CHECK(neg[k] >= 4);
}

TEST_CASE("evaluation inputs") {
  const md::Split sp = md::split_leave_one_out(domain("1 1 2 3 4 5\n2 6 7 8\n"));
  md::SequenceBatch b;
  md::make_eval_batch(sp.test, 0, 2, {3, md::Padding::left, 0}, b);
  CHECK(row(b.items, 3, 0) == V{2, 3, 4});
  CHECK(row(b.targets, 3, 0) == V{0, 0, 5});
  CHECK(row(b.items, 3, 1) == V{0, 6, 7});
  CHECK(row(b.mask, 3, 1) == U8{0, 1, 1});
  CHECK(row(b.targets, 3, 1) == V{0, 0, 8});
  md::make_eval_batch(sp.valid, 0, 2, {4, md::Padding::right, 0}, b);
  CHECK(row(b.items, 4, 1) == V{6, 0, 0, 0});
  CHECK(row(b.targets, 4, 1) == V{7, 0, 0, 0});
  // BERT4Rec: mask appended, history keeps max_len - 1 items.
  const std::int32_t mask = sp.n_items + 1;
  md::make_eval_batch(sp.test, 0, 1, {3, md::Padding::left, mask}, b);
  CHECK(row(b.items, 3, 0) == V{3, 4, mask});
  CHECK(row(b.targets, 3, 0) == V{0, 0, 5});
  const std::vector<std::size_t> rows = {1};
  md::make_eval_batch(sp.test, rows, {3, md::Padding::right, mask}, b);
  CHECK(row(b.items, 3, 0) == V{6, 7, mask});
  CHECK(b.user == V{1});
  const V users = {1, 0};
  md::make_history_batch(sp.train, users, {2, md::Padding::left, 0}, b);
  CHECK(row(b.items, 2, 0) == V{0, 6});
  CHECK(row(b.items, 2, 1) == V{2, 3});
  CHECK(b.n_targets() == 0);
  md::make_history_batch(sp.train, users, {3, md::Padding::left, mask}, b);
  CHECK(row(b.items, 3, 1) == V{2, 3, mask});
  CHECK_THROWS_AS(md::make_eval_batch(sp.test, 1, 3, {}, b), metarec::ConfigError);
}
