#pragma once
/// @file sampled.hpp
/// Sampled ranking: the target is ranked among itself and N negatives only
/// (the "1 + 99 negatives" protocol of S3-Rec's LastFM_sample.txt and of
/// earlier papers). Offered for comparison with such papers; full ranking is
/// the default protocol (SPEC section 1), sampled metrics are known to be
/// inconsistent with it (Krichene & Rendle, KDD 2020).
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "metarec/core/random.hpp"
#include "metarec/data/item_sampler.hpp"
#include "metarec/eval/full_ranking.hpp"

namespace metarec::eval {

struct SampledOptions {
  std::vector<int> ks{1, 5, 10};  ///< cut-offs (the sampled literature reports HR@1/5/10)
  index_t n_negatives = 99;       ///< drawn for every case that has no given negatives; 0 = all must be given
  std::uint64_t seed = 0;         ///< negatives of case c depend on (seed, c) only, not on threads
  index_t block_users = 64;       ///< users per scorer call
  /// Empty: negatives drawn uniformly. Else [n_items + 1] counts (entry 0 unused): drawn in proportion
  /// to them (popularity sampling, as BERT4Rec's evaluation); items with count 0 are never drawn.
  std::vector<std::uint64_t> item_counts;
};

template <class T = float>
class SampledEvaluator {
 public:
  explicit SampledEvaluator(index_t n_items, SampledOptions opt = {})
      : opt_(std::move(opt)),
        blocks_(n_items, opt_.block_users),
        sampler_(opt_.item_counts.empty() ? data::ItemSampler(n_items) : data::ItemSampler(opt_.item_counts)) {
    Metrics check(opt_.ks);
    check_range<index_t>("SampledEvaluator: n_negatives", opt_.n_negatives, 0, n_items - 1);
    if (sampler_.n_items() != n_items)
      throw ShapeError("SampledEvaluator: item_counts has " + std::to_string(opt_.item_counts.size()) +
                       " entries for " + std::to_string(n_items) + " items (+1 for id 0)");
    drawable_ = opt_.item_counts.empty() ? n_items
                                         : static_cast<index_t>(std::count_if(opt_.item_counts.begin() + 1, opt_.item_counts.end(),
                                                                              [](std::uint64_t c) { return c > 0; }));
  }

  index_t n_items() const { return blocks_.n_items(); }
  const SampledOptions& options() const { return opt_; }

  /// Each case is ranked against its `negatives` when it has any (every
  /// listed id counts, duplicates included), otherwise against n_negatives
  /// distinct items drawn (uniformly or by popularity) from those outside its
  /// history and target.
  template <class S>
  Metrics evaluate(std::span<const EvalCase> cases, S&& scorer, std::span<index_t> ranks = {}) {
    detail::require_scorer<S, T>();
    detail::validate_cases("SampledEvaluator", cases, n_items());
    if (!ranks.empty() && ranks.size() != cases.size())
      throw ShapeError("SampledEvaluator: ranks holds " + std::to_string(ranks.size()) + " entries for " +
                       std::to_string(cases.size()) + " cases");
    for (std::size_t c = 0; c < cases.size(); ++c)
      if (cases[c].negatives.empty() && opt_.n_negatives == 0)
        throw ConfigError("SampledEvaluator: case " + std::to_string(c) +
                          " has no given negatives and SampledOptions::n_negatives = 0");
    ranks_.resize(cases.size());
    state_.resize(static_cast<std::size_t>(blocks_.slots()));
    blocks_.run(cases, scorer, [&](index_t c, T* row, int slot) {
      const EvalCase& e = cases[static_cast<std::size_t>(c)];
      detail::check_target_score("SampledEvaluator", row[e.target], e);
      std::span<const std::int32_t> neg = e.negatives;
      if (neg.empty()) neg = draw_negatives(e, static_cast<std::size_t>(c), state_[static_cast<std::size_t>(slot)]);
      ranks_[static_cast<std::size_t>(c)] = sampled_rank(row, e.target, neg);
    });
    if (!ranks.empty()) std::copy(ranks_.begin(), ranks_.end(), ranks.begin());
    return Metrics::from_ranks(ranks_, opt_.ks);
  }

  /// The negatives case `case_index` gets when it has none given (for
  /// inspection and reproducibility; evaluate() draws exactly these).
  std::vector<std::int32_t> negatives_for(const EvalCase& e, std::size_t case_index) const {
    detail::validate_cases("SampledEvaluator::negatives_for", std::span<const EvalCase>(&e, 1), n_items());
    Scratch s;
    auto neg = draw_negatives(e, case_index, s);
    return {neg.begin(), neg.end()};
  }

 private:
  struct Scratch {
    std::vector<std::uint8_t> seen;  // reset after each case, so allocated once per thread
    std::vector<std::int32_t> negatives;
  };

  std::span<const std::int32_t> draw_negatives(const EvalCase& e, std::size_t c, Scratch& s) const {
    const index_t n = n_items();
    s.seen.resize(static_cast<std::size_t>(n + 1));
    index_t excluded = 0;  // drawable items (Q > 0) in the history or the target
    auto mark = [&](std::int32_t j) {
      if (j != 0 && !s.seen[static_cast<std::size_t>(j)]) {
        s.seen[static_cast<std::size_t>(j)] = 1;
        excluded += sampler_.probability(j) > 0;
      }
    };
    mark(e.target);
    for (std::int32_t h : e.history) mark(h);
    if (drawable_ - excluded < opt_.n_negatives) {
      for (std::int32_t h : e.history) s.seen[static_cast<std::size_t>(h)] = 0;
      s.seen[static_cast<std::size_t>(e.target)] = 0;
      throw ConfigError("SampledEvaluator: case " + std::to_string(c) + " leaves " + std::to_string(drawable_ - excluded) +
                        " drawable items outside its history for n_negatives = " + std::to_string(opt_.n_negatives));
    }
    Rng rng(opt_.seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(c) + 1)));
    s.negatives.clear();
    while (static_cast<index_t>(s.negatives.size()) < opt_.n_negatives) {
      const std::int32_t j = sampler_.draw(rng);
      if (s.seen[static_cast<std::size_t>(j)]) continue;  // rejection: history, target, already drawn
      s.seen[static_cast<std::size_t>(j)] = 1;
      s.negatives.push_back(j);
    }
    for (std::int32_t j : s.negatives) s.seen[static_cast<std::size_t>(j)] = 0;
    for (std::int32_t h : e.history) s.seen[static_cast<std::size_t>(h)] = 0;
    s.seen[static_cast<std::size_t>(e.target)] = 0;
    return s.negatives;
  }

  SampledOptions opt_;
  detail::ScoreBlocks<T> blocks_;
  data::ItemSampler sampler_;
  index_t drawable_ = 0;  ///< items the sampler can draw (Q > 0)
  std::vector<index_t> ranks_;
  std::vector<Scratch> state_;
};

}  // namespace metarec::eval
