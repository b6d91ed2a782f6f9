#pragma once
/// @file full_ranking.hpp
/// Full-ranking evaluation: each user's target is ranked against every item
/// of the domain (padding excluded), the protocol of SPEC section 1 and of the
/// S3-Rec `all_rank` table. Per user the rank is counted in O(n_items) (tie
/// rule in ranking.hpp); nothing is sorted.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "metarec/eval/metrics.hpp"
#include "metarec/eval/ranking.hpp"
#include "metarec/eval/score_blocks.hpp"
#include "metarec/eval/scorer.hpp"
#include "metarec/eval/tiled_ranking.hpp"

namespace metarec::eval {

struct FullRankingOptions {
  std::vector<int> ks{5, 10, 20, 50};  ///< cut-offs for HR@K / NDCG@K
  bool mask_history = false;           ///< history items are no candidates (the target stays one); off as in RecBole
  /// Users per scorer call; 0 = automatic: 256 when tiling, else 64 (whole
  /// rows of 64 users of a 12k catalogue already fill a core's L2).
  index_t block_users = 0;
  /// Items per scorer call for scorers with score_items() that are concurrent
  /// (see RangeScorer); 0 = always whole rows.
  index_t item_tile = 1024;
};

namespace detail {
template <class S, class T>
void require_scorer() {
  static_assert(Scorer<std::remove_cvref_t<S>, T>,
                "metarec::eval: the scorer must be callable as scorer(std::span<const std::int32_t> users, T* out, "
                "index_t ld), writing the score of item j for users[i] to out[i * ld + j], j = 0..n_items");
}
}  // namespace detail

/// Evaluates any Scorer (scorer.hpp) over a list of EvalCase. Scores go to
/// buffers owned by the evaluator and reused across calls. Threads: OpenMP over
/// users; a concurrent scorer is called by every thread on its own block, any
/// other scorer from one thread (it may parallelise inside). A concurrent
/// scorer with score_items() (EmbeddingScorer) is evaluated tile by tile
/// (tiled_ranking.hpp). Ranks and metrics do not depend on the thread count,
/// the block size or the tiling.
/// @tparam T score type (float in production, double in tests).
template <class T = float>
class FullRankingEvaluator {
 public:
  explicit FullRankingEvaluator(index_t n_items, FullRankingOptions opt = {})
      : opt_(std::move(opt)),
        blocks_(n_items, opt_.block_users ? opt_.block_users : 64),
        tiles_(n_items, opt_.block_users ? opt_.block_users : 256, opt_.item_tile ? opt_.item_tile : 1) {
    Metrics check(opt_.ks);  // validates the cut-offs now rather than after a whole pass
    check_range<index_t>("FullRankingEvaluator: item_tile", opt_.item_tile, 0, index_t(1) << 24);
  }

  index_t n_items() const { return blocks_.n_items(); }
  const FullRankingOptions& options() const { return opt_; }

  /// Ranks every case's target; metrics are means over cases. `ranks`, if
  /// given, receives the 0-based rank per case (size = cases.size()).
  template <class S>
  Metrics evaluate(std::span<const EvalCase> cases, S&& scorer, std::span<index_t> ranks = {}) {
    detail::require_scorer<S, T>();
    detail::validate_cases("FullRankingEvaluator", cases, n_items());
    if (!ranks.empty() && ranks.size() != cases.size())
      throw ShapeError("FullRankingEvaluator: ranks holds " + std::to_string(ranks.size()) + " entries for " +
                       std::to_string(cases.size()) + " cases");
    ranks_.resize(cases.size());
    using Sc = std::remove_cvref_t<S>;
    if constexpr (RangeScorer<Sc, T> && is_concurrent_scorer<Sc>) {
      if (opt_.item_tile > 0) tiles_.run(cases, scorer, opt_.mask_history, ranks_);
      else rank_rows(cases, scorer);
    } else {
      rank_rows(cases, scorer);
    }
    if (!ranks.empty()) std::copy(ranks_.begin(), ranks_.end(), ranks.begin());
    return Metrics::from_ranks(ranks_, opt_.ks);
  }

  /// Top-k recommendation lists: out[c * k + r] = item at position r for case c
  /// (best first, tie rule of ranking.hpp), 0 where fewer than k items remain.
  /// Targets are not used; `exclude_history` removes each case's history.
  template <class S>
  void recommend(std::span<const EvalCase> cases, S&& scorer, index_t k, std::span<std::int32_t> out,
                 bool exclude_history = true) {
    detail::require_scorer<S, T>();
    check_range<index_t>("FullRankingEvaluator::recommend: k", k, 1, n_items());
    if (static_cast<index_t>(out.size()) != static_cast<index_t>(cases.size()) * k)
      throw ShapeError("FullRankingEvaluator::recommend: out holds " + std::to_string(out.size()) + " ids, expected " +
                       std::to_string(cases.size()) + " cases x k = " + std::to_string(k));
    for (std::size_t c = 0; c < cases.size(); ++c)
      for (std::int32_t h : cases[c].history) detail::check_item("FullRankingEvaluator::recommend", "history item", c, h, 0, n_items());
    topk_.resize(static_cast<std::size_t>(blocks_.slots()));
    const auto row_len = static_cast<std::size_t>(n_items() + 1);
    blocks_.run(cases, scorer, [&](index_t c, T* row, int slot) {
      const EvalCase& e = cases[static_cast<std::size_t>(c)];
      auto dst = out.subspan(static_cast<std::size_t>(c * k), static_cast<std::size_t>(k));
      const index_t got = topk_[static_cast<std::size_t>(slot)].select(
          std::span<const T>(row, row_len), k, exclude_history ? e.history : std::span<const std::int32_t>{}, dst);
      std::fill(dst.begin() + got, dst.end(), 0);
    });
  }

 private:
  template <class S>
  void rank_rows(std::span<const EvalCase> cases, S& scorer) {
    const index_t n = n_items();
    const bool mask = opt_.mask_history;
    blocks_.run(cases, scorer, [&](index_t c, T* row, int) {
      const EvalCase& e = cases[static_cast<std::size_t>(c)];
      if (mask) mask_history(row, e.history, e.target);
      detail::check_target_score("FullRankingEvaluator", row[e.target], e);
      ranks_[static_cast<std::size_t>(c)] = target_rank(row, n, e.target);
    });
  }

  FullRankingOptions opt_;
  detail::ScoreBlocks<T> blocks_;
  detail::TiledRanker<T> tiles_;
  std::vector<index_t> ranks_;
  std::vector<TopK<T>> topk_;
};

}  // namespace metarec::eval
