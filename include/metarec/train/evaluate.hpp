#pragma once
/// @file evaluate.hpp
/// Full-ranking evaluation of a Recommender on an EvalSet: user
/// representations in batches (inference mode), then the evaluator ranks each
/// target against all items of the domain with one GEMM per block of users.
#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "metarec/autograd/tape.hpp"
#include "metarec/data/split.hpp"
#include "metarec/eval/full_ranking.hpp"
#include "metarec/eval/scorer.hpp"
#include "metarec/model/contract.hpp"

namespace metarec::train {

struct EvalOptions {
  std::vector<int> ks{5, 10, 20, 50};
  bool mask_history = false;  ///< off by default (RecBole, S3-Rec)
  index_t batch_users = 512;  ///< sequences per backbone forward pass
};

/// Sequence representations of every case of `set` -> [set.size(), d].
/// Cases are batched in order of history length: a padded backbone (GRU4Rec)
/// runs every step of its batch's longest history, so grouping similar lengths
/// skips most of the padding (Beauty: 8.9 items on average, windows of 50).
/// Each representation depends on its own history only, so the order changes
/// nothing but the cost; rows come back in the set's order.
template <class Model>
Tensor<typename Model::Scalar> user_matrix(Model& model, Tape<typename Model::Scalar>& tape, int k,
                                           const data::EvalSet& set, index_t batch_users) {
  using T = typename Model::Scalar;
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
eval::Metrics evaluate(Model& model, Tape<typename Model::Scalar>& tape, int k, const data::EvalSet& set,
                       const EvalOptions& opt = {}, std::span<index_t> ranks = {}) {
  static_assert(check_sequence_model<Model>(), "train::evaluate needs a SequenceModel (model/contract.hpp)");
  using T = typename Model::Scalar;
  Tensor<T> U = user_matrix(model, tape, k, set, opt.batch_users);
  std::vector<std::span<const std::int32_t>> hs(set.histories.begin(), set.histories.end());
  std::vector<eval::EvalCase> cases = eval::make_cases(set.targets, hs);
  eval::FullRankingOptions fo;
  fo.ks = opt.ks;
  fo.mask_history = opt.mask_history;
  eval::FullRankingEvaluator<T> evaluator(model.domain(k).n_items, fo);
  if constexpr (contract::HasCustomScorer<Model>) {
    return evaluator.evaluate(cases, model.make_scorer(tape, k, U), ranks);
  } else {
    Tensor<T> E = model.item_matrix(tape, k);
    return evaluator.evaluate(cases, eval::EmbeddingScorer<T>(U, E), ranks);
  }
}

}  // namespace metarec::train
