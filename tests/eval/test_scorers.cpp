#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "metarec/core/random.hpp"
#include "metarec/eval/full_ranking.hpp"

using namespace metarec;
using namespace metarec::eval;

namespace {

/// Small-integer embeddings: every dot product is exact in float and double,
/// and scores tie often, so both types must give identical ranks.
template <class T>
Tensor<T> int_matrix(index_t rows, index_t cols, Rng& rng) {
  Tensor<T> t({rows, cols});
  for (auto& v : t) v = static_cast<T>(static_cast<int>(rng.below(5)) - 2);
  return t;
}

/// Independent oracle: naive dot products and a direct count of who is ahead.
template <class T>
std::vector<index_t> brute_ranks(const Tensor<T>& U, const Tensor<T>& E, const std::vector<EvalCase>& cases,
                                 bool mask = false) {
  std::vector<index_t> out;
  for (const auto& c : cases) {
    auto dot = [&](index_t j) {
      double s = 0;
      for (index_t k = 0; k < U.dim(1); ++k) s += double(U(c.user, k)) * double(E(j, k));
      return s;
    };
    const double st = dot(c.target);
    index_t ahead = 0;
    for (index_t j = 1; j < E.dim(0); ++j) {
      const bool seen = std::find(c.history.begin(), c.history.end(), j) != c.history.end();
      if (j == c.target || (mask && seen)) continue;
      ahead += dot(j) > st || (dot(j) == st && j < c.target);
    }
    out.push_back(ahead);
  }
  return out;
}

/// A user-written scorer struct that does not declare itself concurrent.
struct SerialDot {
  const Tensor<float>* U;
  const Tensor<float>* E;
  int calls = 0;
  void operator()(std::span<const std::int32_t> users, float* out, index_t ld) {
    ++calls;  // mutable state: only safe because the evaluator calls it from one thread
    for (std::size_t i = 0; i < users.size(); ++i)
      for (index_t j = 0; j < E->dim(0); ++j) {
        float s = 0;
        for (index_t k = 0; k < E->dim(1); ++k) s += (*U)(users[i], k) * (*E)(j, k);
        out[static_cast<index_t>(i) * ld + j] = s;
      }
  }
};

}  // namespace

static_assert(Scorer<EmbeddingScorer<float>, float>);
static_assert(Scorer<SerialDot, float>);
static_assert(!Scorer<SerialDot, double>);
static_assert(!Scorer<int, float>);
static_assert(is_concurrent_scorer<EmbeddingScorer<double>>);
static_assert(!is_concurrent_scorer<SerialDot>);

TEST_CASE("full ranking: ragged blocks, GEMM scorer, lambda and struct scorers agree with brute force") {
  Rng rng(5);
  const index_t n_users = 37, n_items = 29, d = 6;
  auto U = int_matrix<float>(n_users, d, rng), E = int_matrix<float>(n_items + 1, d, rng);
  std::vector<std::int32_t> targets;
  for (index_t u = 0; u < n_users; ++u) targets.push_back(static_cast<std::int32_t>(1 + rng.below(n_items)));
  auto cases = make_cases(targets);
  std::swap(cases[3], cases[20]);  // users out of order: the GEMM scorer must gather rows
  const auto want = brute_ranks(U, E, cases);

  FullRankingOptions opt;
  opt.block_users = 8;  // 4 full blocks and a last one of 5
  std::vector<index_t> ranks(cases.size());
  // item_tile 0: whole rows; 7: tiles of 7, 7, 7, 7, 2 item rows (padding row included); 1024: one tile.
  for (index_t tile : {0, 7, 1024})
    for (int threads : {1, 2}) {
      CAPTURE(tile);
      CAPTURE(threads);
      set_num_threads(threads);
      opt.item_tile = tile;
      FullRankingEvaluator<float> tiled(n_items, opt);
      const Metrics m = tiled.evaluate(cases, EmbeddingScorer<float>(U, E), ranks);
      CHECK(ranks == want);
      CHECK(m.count() == n_users);
      CHECK(m.mrr() == doctest::Approx(Metrics::from_ranks(want).mrr()));
    }
  set_num_threads(2);
  opt.item_tile = 1024;
  FullRankingEvaluator<float> ev(n_items, opt);

  SerialDot dot{&U, &E};
  ev.evaluate(cases, dot, ranks);  // passed by reference: the evaluator must not copy it
  CHECK(ranks == want);
  CHECK(dot.calls == 5);

  EmbeddingScorer<float> gemm_scorer(U, E);
  int lambda_calls = 0;
  auto lambda = [&](std::span<const std::int32_t> users, float* out, index_t ld) {
    ++lambda_calls;
    gemm_scorer(users, out, ld);
  };
  ev.evaluate(cases, lambda, ranks);
  CHECK(ranks == want);
  CHECK(lambda_calls == 5);
}

TEST_CASE("full ranking: history masking, tiled and whole rows, against brute force") {
  Rng rng(12);
  const index_t n_users = 23, n_items = 41, d = 3;
  auto U = int_matrix<double>(n_users, d, rng), E = int_matrix<double>(n_items + 1, d, rng);
  std::vector<std::vector<std::int32_t>> hist(n_users);
  std::vector<std::span<const std::int32_t>> hspans;
  std::vector<std::int32_t> targets;
  for (auto& h : hist) {
    for (int k = 0; k < 12; ++k) h.push_back(static_cast<std::int32_t>(rng.below(n_items + 1)));
    hspans.emplace_back(h);
    targets.push_back(rng.bernoulli(0.3) ? h[3] + 1 - (h[3] == n_items) : h[5] ? h[5] : 1);  // often seen before
  }
  auto cases = make_cases(targets, hspans);
  const auto want = brute_ranks(U, E, cases, true);
  CHECK(want != brute_ranks(U, E, cases, false));  // masking matters here
  std::vector<index_t> ranks(n_users);
  for (index_t tile : {0, 5, 16}) {
    CAPTURE(tile);
    FullRankingEvaluator<double> ev(n_items, FullRankingOptions{{5, 10}, true, 4, tile});
    ev.evaluate(cases, EmbeddingScorer<double>(U, E), ranks);
    CHECK(ranks == want);
  }
}

TEST_CASE("full ranking: float and double give the same ranks and metrics") {
  Rng rng(9);
  const index_t n_users = 50, n_items = 40, d = 5;
  auto Uf = int_matrix<float>(n_users, d, rng), Ef = int_matrix<float>(n_items + 1, d, rng);
  Tensor<double> Ud({n_users, d}), Ed({n_items + 1, d});
  std::copy(Uf.begin(), Uf.end(), Ud.begin());
  std::copy(Ef.begin(), Ef.end(), Ed.begin());
  std::vector<std::int32_t> targets;
  for (index_t u = 0; u < n_users; ++u) targets.push_back(static_cast<std::int32_t>(1 + rng.below(n_items)));
  auto cases = make_cases(targets);
  std::vector<index_t> rf(n_users), rd(n_users);
  const Metrics mf = FullRankingEvaluator<float>(n_items).evaluate(cases, EmbeddingScorer<float>(Uf, Ef), rf);
  const Metrics md = FullRankingEvaluator<double>(n_items).evaluate(cases, EmbeddingScorer<double>(Ud, Ed), rd);
  CHECK(rf == rd);
  CHECK(rf == brute_ranks(Ud, Ed, cases));
  for (std::size_t i = 0; i < mf.items().size(); ++i) CHECK(mf.items()[i].second == md.items()[i].second);
}

TEST_CASE("recommend: top-k lists exclude the history, pad with 0, match the ranks") {
  Rng rng(4);
  const index_t n_users = 12, n_items = 9, d = 4;
  auto U = int_matrix<double>(n_users, d, rng), E = int_matrix<double>(n_items + 1, d, rng);
  std::vector<std::vector<std::int32_t>> hist(n_users);
  std::vector<std::span<const std::int32_t>> hspans;
  std::vector<std::int32_t> targets;
  for (auto& h : hist) {
    for (int k = 0; k < 4; ++k) h.push_back(static_cast<std::int32_t>(rng.below(n_items + 1)));  // may hold padding
    hspans.emplace_back(h);
    targets.push_back(static_cast<std::int32_t>(1 + rng.below(n_items)));
  }
  auto cases = make_cases(targets, hspans);
  FullRankingOptions opt;
  opt.block_users = 5;
  FullRankingEvaluator<double> ev(n_items, opt);
  const index_t k = 7;
  std::vector<std::int32_t> top(static_cast<std::size_t>(n_users * k)), all(static_cast<std::size_t>(n_users * k));
  EmbeddingScorer<double> scorer(U, E);
  ev.recommend(cases, scorer, k, top);
  ev.recommend(cases, scorer, k, all, /*exclude_history=*/false);
  std::vector<index_t> ranks(n_users);
  ev.evaluate(cases, scorer, ranks);
  for (index_t u = 0; u < n_users; ++u) {
    const auto* row = top.data() + u * k;
    const auto* full = all.data() + u * k;
    // HR@K == "target in the top-K list" (same tie rule), without masking.
    for (index_t kk = 1; kk <= k; ++kk)
      CHECK((ranks[static_cast<std::size_t>(u)] < kk) == (std::find(full, full + kk, targets[static_cast<std::size_t>(u)]) != full + kk));
    const auto& h = hist[static_cast<std::size_t>(u)];
    index_t unseen = 0;
    for (std::int32_t j = 1; j <= n_items; ++j) unseen += std::find(h.begin(), h.end(), j) == h.end();
    for (index_t r = 0; r < k; ++r) {
      if (r < unseen) {
        CHECK(row[r] >= 1);
        CHECK(std::find(h.begin(), h.end(), row[r]) == h.end());
      } else {
        CHECK(row[r] == 0);
      }
    }
  }
}

TEST_CASE("evaluators reject bad input with a message naming it") {
  Tensor<float> U({3, 4}), E({11, 4}), E5({11, 5});
  auto targets = std::vector<std::int32_t>{1, 2, 11};
  auto cases = make_cases(targets);
  FullRankingEvaluator<float> ev(10);
  EmbeddingScorer<float> scorer(U, E);
  try {
    ev.evaluate(cases, scorer);
    FAIL("no exception");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("case 2: target 11 is out of range [1, 10]") != std::string::npos);
  }
  cases[2].target = 0;  // padding is never a target
  CHECK_THROWS_AS(ev.evaluate(cases, scorer), ConfigError);
  cases[2].target = 3;
  const std::vector<std::int32_t> h{4, -1};
  cases[1].history = h;
  CHECK_THROWS_AS(ev.evaluate(cases, scorer), ConfigError);
  cases[1].history = {};
  std::vector<index_t> short_ranks(2);
  CHECK_THROWS_AS(ev.evaluate(cases, scorer, short_ranks), ShapeError);
  CHECK_THROWS_AS(EmbeddingScorer<float>(U, E5), ShapeError);
  CHECK_THROWS_AS(FullRankingEvaluator<float>(0), ConfigError);
  CHECK_THROWS_AS(FullRankingEvaluator<float>(10, FullRankingOptions{{5, 0}, false, 64}), ConfigError);
  CHECK_THROWS_AS(FullRankingEvaluator<float>(10, FullRankingOptions{{5}, false, -1}), ConfigError);
  CHECK_THROWS_AS(FullRankingEvaluator<float>(10, FullRankingOptions{{5}, false, 0, -3}), ConfigError);

  cases[1].user = 3;  // no such row in U: thrown inside the parallel region, rethrown here
  CHECK_THROWS_AS(ev.evaluate(cases, scorer), ConfigError);
  CHECK_THROWS_AS(FullRankingEvaluator<float>(10, FullRankingOptions{{5}, false, 0, 0}).evaluate(cases, scorer),
                  ConfigError);  // same through whole rows
  cases[1].user = 1;
  auto nan_scorer = [](std::span<const std::int32_t> users, float* out, index_t ld) {
    for (std::size_t i = 0; i < users.size(); ++i)
      std::fill_n(out + static_cast<index_t>(i) * ld, 11, std::numeric_limits<float>::quiet_NaN());
  };
  CHECK_THROWS_AS(ev.evaluate(cases, nan_scorer), NumericError);  // all-NaN must not score HR = 1
  auto throwing = [](std::span<const std::int32_t>, float*, index_t) { throw std::runtime_error("model failed"); };
  CHECK_THROWS_WITH(ev.evaluate(cases, throwing), "model failed");

  // top_k: NaN ranks below every number; k larger than the catalogue is clipped.
  const std::vector<float> row{0.f, 1.f, std::numeric_limits<float>::quiet_NaN(), 3.f, -1.f};
  CHECK(top_k<float>(row, 10) == std::vector<std::int32_t>{3, 1, 4, 2});
  CHECK_THROWS_AS(top_k<float>(row, -1), ConfigError);
}
