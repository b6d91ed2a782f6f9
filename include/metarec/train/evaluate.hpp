#pragma once
/// @file evaluate.hpp
/// Evaluation of a model on an EvalSet: user representations in batches
/// (inference mode), then each target is ranked against all items of the
/// domain (full ranking, the default; one GEMM per block of users) or against
/// N sampled negatives (the sampled protocol of older papers, eval/sampled.hpp).
#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "metarec/autograd/tape.hpp"
#include "metarec/data/split.hpp"
#include "metarec/data/item_sampler.hpp"
#include "metarec/eval/device_ranking.hpp"
#include "metarec/eval/full_ranking.hpp"
#include "metarec/eval/sampled.hpp"
#include "metarec/eval/scorer.hpp"
#include "metarec/model/contract.hpp"

namespace metarec::train {

enum class EvalProtocol { full, sampled };

struct EvalOptions {
  std::vector<int> ks{5, 10, 20, 50};
  /// Full ranking: leave the user's history items out of the ranking, as the
  /// S3-Rec and RecTools evaluations do. Off: every item is ranked.
  bool mask_history = false;
  index_t batch_users = 512;  ///< sequences per backbone forward pass
  EvalProtocol protocol = EvalProtocol::full;
  /// Sampled protocol: each target against `negatives` distinct items outside its history, drawn from
  /// `sampling` with a fixed seed (the same negatives at every evaluation).
  index_t negatives = 100;
  data::Sampling sampling = data::Sampling::uniform;
  std::vector<std::uint64_t> item_counts;  ///< popularity: [n_items + 1] training counts (train::fit fills them)

  void validate() const {
    check_range<index_t>("eval_negatives", negatives, 1, index_t{1} << 20);
    check_range<index_t>("batch_users", batch_users, 1, index_t{1} << 20);
    eval::Metrics probe(ks);  // throws for a bad cut-off
  }
};

/// `opt` with what its protocol reads from the split: the training counts for popularity-sampled negatives.
inline EvalOptions for_split(EvalOptions opt, const data::Split& split) {
  if (opt.protocol == EvalProtocol::sampled && opt.sampling == data::Sampling::popularity && opt.item_counts.empty())
    opt.item_counts = data::item_counts(split.train, split.n_items);
  return opt;
}

inline const char* protocol_name(EvalProtocol p) { return p == EvalProtocol::full ? "full" : "sampled"; }

/// Sequence representations of every case of `set` -> [set.size(), d].
/// Cases are batched in order of history length: a padded backbone (GRU4Rec)
/// runs every step of its batch's longest history, so grouping similar lengths
/// skips most of the padding (Beauty: 8.9 items on average, windows of 50).
/// Each representation depends on its own history only, so the order changes
/// nothing but the cost; rows come back in the set's order.
template <class Model>
Tensor<typename Model::Scalar> user_matrix(Model& model, tape_of<Model>& tape, int k,
                                           const data::EvalSet& set, index_t batch_users) {
  using T = typename Model::Scalar;
  using B = backend_of<Model>;
  const auto n = static_cast<index_t>(set.size());
  const index_t d = model.config().d;
  Tensor<T> U({n, d});
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_t(0));
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
    return set.histories[static_cast<std::size_t>(a)].size() < set.histories[static_cast<std::size_t>(b)].size();
  });
  Tensor<T> block({std::min(n, batch_users), d});
  std::vector<std::span<const std::int32_t>> hs;
  for (index_t lo = 0; lo < n; lo += batch_users) {
    const index_t hi = std::min(n, lo + batch_users);
    hs.clear();
    for (index_t i = lo; i < hi; ++i) hs.emplace_back(set.histories[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
    model.user_representations(tape, k, hs, block.slice(0, hi - lo));
    for (index_t i = lo; i < hi; ++i)
      std::copy_n(block.data() + (i - lo) * d, d, U.data() + order[static_cast<std::size_t>(i)] * d);
  }
  return U;
}

/// Optional model hook: `make_scorer(tape, k, U)` returns the scorer the
/// evaluator ranks with (MISSRec: fused multi-modal scores); without it the
/// score is the dot product of U and `item_matrix(tape, k)`.

/// `ranks`, when given (set.size() entries), receives each case's 0-based
/// rank (distributed evaluation gathers them).
template <class Model>
eval::Metrics evaluate(Model& model, tape_of<Model>& tape, int k, const data::EvalSet& set,
                       const EvalOptions& opt = {}, std::span<index_t> ranks = {}) {
  static_assert(check_sequence_model<Model>(), "train::evaluate needs a SequenceModel (model/contract.hpp)");
  using T = typename Model::Scalar;
  using B = backend_of<Model>;
  Tensor<T> U = user_matrix(model, tape, k, set, opt.batch_users);
  std::vector<std::span<const std::int32_t>> hs(set.histories.begin(), set.histories.end());
  std::vector<eval::EvalCase> cases = eval::make_cases(set.targets, hs);
  const index_t n_items = model.domain(k).n_items;
  auto rank = [&](auto&& evaluator, auto... per_case_ranks) {
    if constexpr (contract::HasCustomScorer<Model>) {
      return evaluator.evaluate(cases, model.make_scorer(tape, k, U), per_case_ranks...);
    } else {
      Tensor<T> E = model.item_matrix(tape, k);
      return evaluator.evaluate(cases, eval::EmbeddingScorer<T>(U, E), per_case_ranks...);
    }
  };
  if (opt.protocol == EvalProtocol::sampled) {
    if (!ranks.empty())
      throw ConfigError("evaluate: per-case ranks (distributed evaluation) come from the full-ranking protocol only");
    eval::SampledOptions so;
    so.ks = opt.ks;
    so.n_negatives = opt.negatives;
    if (opt.sampling == data::Sampling::popularity) {
      if (static_cast<index_t>(opt.item_counts.size()) != n_items + 1)
        throw ConfigError("evaluate: popularity sampling needs EvalOptions::item_counts for the " +
                          std::to_string(n_items) + " items");
      so.item_counts = opt.item_counts;
    }
    return rank(eval::SampledEvaluator<T>(n_items, so));
  }
  eval::FullRankingOptions fo;
  fo.ks = opt.ks;
  fo.mask_history = opt.mask_history;
  if constexpr (!B::is_host && !contract::HasCustomScorer<Model>)  // scores and ranks on the device
    return eval::device_full_ranking(memory<B>::context(), cases, U, model.item_matrix(tape, k), n_items, fo, ranks);
  else
    return rank(eval::FullRankingEvaluator<T>(n_items, fo), ranks);
}

}  // namespace metarec::train
