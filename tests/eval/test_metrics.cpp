#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "metarec/eval/full_ranking.hpp"
#include "metarec/eval/sampled.hpp"

using namespace metarec;
using namespace metarec::eval;

namespace {

/// Scorer whose scores are -item_id for every user: item 1 is best, so the
/// rank of target t among all items is t - 1.
template <class T>
struct DescendingIds {
  index_t n_items;
  void operator()(std::span<const std::int32_t> users, T* out, index_t ld) const {
    for (std::size_t i = 0; i < users.size(); ++i)
      for (index_t j = 0; j <= n_items; ++j) out[static_cast<index_t>(i) * ld + j] = -static_cast<T>(j);
  }
};

}  // namespace

TEST_CASE_TEMPLATE("full ranking: hand-computed HR, NDCG, MRR at several K", T, float, double) {
  const std::vector<std::int32_t> targets{1, 4, 13, 61};  // ranks 0, 3, 12, 60 among 100 items
  auto cases = make_cases(targets);
  FullRankingEvaluator<T> ev(100);
  std::vector<index_t> ranks(4);
  const Metrics m = ev.evaluate(cases, DescendingIds<T>{100}, ranks);
  CHECK(ranks == std::vector<index_t>{0, 3, 12, 60});
  CHECK(m.count() == 4);
  CHECK(m.hr(5) == doctest::Approx(0.5));
  CHECK(m.hr(10) == doctest::Approx(0.5));
  CHECK(m.hr(20) == doctest::Approx(0.75));
  CHECK(m.hr(50) == doctest::Approx(0.75));
  // 1/log2(5) = 0.4306765581, 1/log2(14) = 0.2626495350
  CHECK(m.ndcg(5) == doctest::Approx((1.0 + 0.4306765581) / 4));
  CHECK(m.ndcg(10) == doctest::Approx((1.0 + 0.4306765581) / 4));
  CHECK(m.ndcg(20) == doctest::Approx((1.0 + 0.4306765581 + 0.2626495350) / 4));
  CHECK(m.ndcg(50) == doctest::Approx((1.0 + 0.4306765581 + 0.2626495350) / 4));
  CHECK(m.mrr() == doctest::Approx((1.0 + 1.0 / 4 + 1.0 / 13 + 1.0 / 61) / 4));  // full MRR, rank 60 included
  CHECK(m["HR@20"] == m.hr(20));
  CHECK(m["Recall@20"] == m.hr(20));
  CHECK(m["NDCG@5"] == m.ndcg(5));
  CHECK(m["MRR"] == m.mrr());
}

TEST_CASE("metrics: names, order, merge, bad requests") {
  Metrics a({1, 10});
  a.add(0);
  a.add(9);
  Metrics b({1, 10});
  b.add(10);
  a.merge(b);
  CHECK(a.count() == 3);
  CHECK(a.hr(1) == doctest::Approx(1.0 / 3));
  CHECK(a.hr(10) == doctest::Approx(2.0 / 3));
  const auto items = a.items();
  REQUIRE(items.size() == 5);
  CHECK(items[0].first == "HR@1");
  CHECK(items[1].first == "HR@10");
  CHECK(items[2].first == "NDCG@1");
  CHECK(items[3].first == "NDCG@10");
  CHECK(items[4].first == "MRR");
  CHECK(items[3].second == doctest::Approx((1.0 + 1.0 / std::log2(11.0)) / 3));
  CHECK(Metrics().hr(10) == 0.0);  // empty accumulator
  CHECK_THROWS_AS(a.hr(5), ConfigError);
  CHECK_THROWS_AS(a["NDCG@"], ConfigError);
  CHECK_THROWS_AS(a["MAP@10"], ConfigError);
  CHECK_THROWS_AS(Metrics({0}), ConfigError);
  CHECK_THROWS_AS(Metrics({5, 5}), ConfigError);
  CHECK_THROWS_AS(a.merge(Metrics()), ConfigError);
  CHECK_THROWS_AS(a.add(-1), ConfigError);
}

TEST_CASE("full ranking: ties are broken by item id, all-equal scores do not score HR = 1") {
  const index_t n = 100;
  std::vector<std::int32_t> targets(n);
  std::iota(targets.begin(), targets.end(), 1);
  auto cases = make_cases(targets);
  auto constant = [](std::span<const std::int32_t> users, float* out, index_t ld) {
    for (std::size_t i = 0; i < users.size(); ++i) std::fill_n(out + static_cast<index_t>(i) * ld, 101, 0.5f);
  };
  FullRankingEvaluator<float> ev(n);
  std::vector<index_t> ranks(n);
  const Metrics m = ev.evaluate(cases, constant, ranks);
  for (index_t u = 0; u < n; ++u) CHECK(ranks[static_cast<std::size_t>(u)] == u);  // target t -> rank t - 1
  CHECK(m.hr(10) == doctest::Approx(0.10));
  CHECK(m.hr(50) == doctest::Approx(0.50));
  double harmonic = 0;
  for (int r = 1; r <= 100; ++r) harmonic += 1.0 / r;
  CHECK(m.mrr() == doctest::Approx(harmonic / 100));
}

TEST_CASE("ranking kernels agree with a stable descending sort (many ties)") {
  Rng rng(7);
  TopK<double> sel;
  for (int trial = 0; trial < 50; ++trial) {
    const index_t n = 1 + static_cast<index_t>(rng.below(60));
    std::vector<double> s(static_cast<std::size_t>(n + 1));
    for (auto& v : s) v = static_cast<double>(rng.below(5));  // few distinct values -> many ties
    s[0] = 1e9;                                                // padding must never count
    std::vector<std::int32_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 1);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return s[a] > s[b]; });
    for (index_t pos = 0; pos < n; ++pos)
      CHECK(target_rank(s.data(), n, order[static_cast<std::size_t>(pos)]) == pos);
    const index_t k = 1 + static_cast<index_t>(rng.below(static_cast<std::uint64_t>(n)));
    std::vector<std::int32_t> top(static_cast<std::size_t>(k));
    REQUIRE(sel.select(s, k, {}, top) == k);
    CHECK(std::equal(top.begin(), top.end(), order.begin()));
  }
}

TEST_CASE("full ranking: history masking keeps the target, padding is never a candidate") {
  const std::vector<std::int32_t> history{0, 1, 2, 3, 10, 3};  // padding, duplicates and the target itself
  EvalCase c;
  c.target = 10;
  c.history = history;
  // Padding gets the best score of all: it must not count as ahead.
  auto scorer = [](std::span<const std::int32_t> users, double* out, index_t ld) {
    DescendingIds<double>{20}(users, out, ld);
    for (std::size_t i = 0; i < users.size(); ++i) out[static_cast<index_t>(i) * ld] = 1e30;
  };
  std::vector<index_t> rank(1);
  FullRankingEvaluator<double> plain(20);
  plain.evaluate(std::span<const EvalCase>(&c, 1), scorer, rank);
  CHECK(rank[0] == 9);  // items 1..9 ahead
  FullRankingOptions opt;
  opt.mask_history = true;
  FullRankingEvaluator<double> masked(20, opt);
  masked.evaluate(std::span<const EvalCase>(&c, 1), scorer, rank);
  CHECK(rank[0] == 6);  // items 4..9 ahead; 1, 2, 3 masked, 10 still ranked

  c.target = 1;  // best real item -> rank 0 although padding scores higher
  plain.evaluate(std::span<const EvalCase>(&c, 1), scorer, rank);
  CHECK(rank[0] == 0);
  std::vector<double> row(21);
  scorer(std::vector<std::int32_t>{0}, row.data(), 21);
  CHECK(top_k<double>(row, 3) == std::vector<std::int32_t>{1, 2, 3});
  CHECK(top_k<double>(row, 3, history) == std::vector<std::int32_t>{4, 5, 6});
  CHECK(top_k<double>(row, 40).size() == 20);  // never more than the catalogue, never item 0
}

TEST_CASE("sampled protocol: given negatives, ties by id, duplicates counted") {
  const std::vector<std::int32_t> neg{1, 5, 20, 30, 5};
  EvalCase c;
  c.target = 10;
  c.negatives = neg;
  SampledEvaluator<double> ev(40, SampledOptions{{1, 5}, 0, 0, 64});
  std::vector<index_t> rank(1);
  Metrics m = ev.evaluate(std::span<const EvalCase>(&c, 1), DescendingIds<double>{40}, rank);
  CHECK(rank[0] == 3);  // 1, 5, 5 score higher
  CHECK(m.hr(1) == 0.0);
  CHECK(m.hr(5) == 1.0);
  CHECK(m.ndcg(5) == doctest::Approx(1.0 / std::log2(5.0)));
  // Equal scores: negatives with a lower id are ahead, higher ids are not.
  auto flat = [](std::span<const std::int32_t> users, double* out, index_t ld) {
    for (std::size_t i = 0; i < users.size(); ++i) std::fill_n(out + static_cast<index_t>(i) * ld, 41, 0.0);
  };
  ev.evaluate(std::span<const EvalCase>(&c, 1), flat, rank);
  CHECK(rank[0] == 3);
  const std::vector<std::int32_t> bad{3, 10};
  c.negatives = bad;
  CHECK_THROWS_AS(ev.evaluate(std::span<const EvalCase>(&c, 1), flat), ConfigError);
  c.negatives = {};
  CHECK_THROWS_AS(ev.evaluate(std::span<const EvalCase>(&c, 1), flat), ConfigError);  // none given, none to draw
}

TEST_CASE("sampled protocol: drawn negatives avoid the history, are seeded and thread-independent") {
  const index_t n = 50;
  std::vector<std::vector<std::int32_t>> hist(30);
  std::vector<std::span<const std::int32_t>> hspans;
  std::vector<std::int32_t> targets;
  Rng rng(3);
  for (auto& h : hist) {
    for (int k = 0; k < 20; ++k) h.push_back(static_cast<std::int32_t>(1 + rng.below(n)));
    hspans.emplace_back(h);
    targets.push_back(h.back());  // the target was also seen before: must still not be drawn
  }
  auto cases = make_cases(targets, hspans);
  SampledOptions opt{{1, 5, 10}, 25, 11, 7};
  SampledEvaluator<double> ev(n, opt);
  for (std::size_t c = 0; c < cases.size(); ++c) {
    auto neg = ev.negatives_for(cases[c], c);
    REQUIRE(neg.size() == 25);
    std::vector<std::int32_t> sorted = neg;
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    for (std::int32_t j : neg) {
      CHECK(j >= 1);
      CHECK(j <= n);
      CHECK(std::find(hist[c].begin(), hist[c].end(), j) == hist[c].end());
    }
  }
  std::vector<index_t> r1(cases.size()), r2(cases.size()), r3(cases.size());
  auto m1 = ev.evaluate(cases, DescendingIds<double>{n}, r1);
  for (std::size_t c = 0; c < cases.size(); ++c) {  // rank among the drawn negatives, by hand
    index_t ahead = 0;
    for (std::int32_t j : ev.negatives_for(cases[c], c)) ahead += j < cases[c].target;
    CHECK(r1[c] == ahead);
  }
  opt.block_users = 64;  // other blocking, one thread: same negatives, same ranks
  SampledEvaluator<double> ev2(n, opt);
  set_num_threads(1);
  auto m2 = ev2.evaluate(cases, DescendingIds<double>{n}, r2);
  set_num_threads(2);
  CHECK(r1 == r2);
  CHECK(m1.mrr() == m2.mrr());
  opt.seed = 12;
  SampledEvaluator<double>(n, opt).evaluate(cases, DescendingIds<double>{n}, r3);
  CHECK(r1 != r3);
  opt.n_negatives = 45;  // more than the unseen items of some users
  CHECK_THROWS_AS(SampledEvaluator<double>(n, opt).evaluate(cases, DescendingIds<double>{n}), ConfigError);
}
