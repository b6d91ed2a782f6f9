#pragma once
/// @file step_sync.hpp
/// The seam between train::fit and data-parallel training: a StepSync policy
/// says which rows of each global batch this process computes, combines the
/// gradients of all processes after backward, and evaluates. `LocalSync` (one
/// process) computes every row and changes nothing, so `fit` is
/// `fit_synced(..., LocalSync)` and pays nothing for the seam. The MPI policy
/// is `distributed::MpiSync` (distributed/data_parallel.hpp), one layer up, so
/// this layer never needs MPI.
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

#include "metarec/autograd/parameter.hpp"
#include "metarec/autograd/tape.hpp"
#include "metarec/data/batching.hpp"
#include "metarec/data/split.hpp"
#include "metarec/eval/metrics.hpp"
#include "metarec/train/evaluate.hpp"

namespace metarec::train {

/// One process: every row of the global batch, gradients left as computed.
struct LocalSync {
  int rank() const { return 0; }
  int size() const { return 1; }
  /// Seed of a per-process random stream (dropout, negative sampling):
  /// unchanged here, so fit() draws exactly what it did before the seam.
  std::uint64_t stream_seed(std::uint64_t seed) const { return seed; }
  /// The rows of `global` this process computes (may be empty).
  const data::SequenceBatch& shard(const data::SequenceBatch& global) { return global; }
  /// Called after backward (also when the shard was empty: zero gradients);
  /// leaves in every parameter's gradient the gradient of the global batch's
  /// loss and returns that loss.
  template <class T, class B = backend::Cpu>
  double reduce(const std::vector<Parameter<T, B>*>&, const data::SequenceBatch& /*mine*/,
                const data::SequenceBatch& /*global*/, double local_loss) {
    return local_loss;
  }
  template <class Model>
  eval::Metrics evaluate(Model& model, tape_of<Model>& tape, int k, const data::EvalSet& set,
                         const EvalOptions& opt) {
    return train::evaluate(model, tape, k, set, opt);
  }
};

/// What fit_synced needs of a policy (LocalSync is the reference).
template <class S, class Model>
concept StepSync = requires(S s, Model& m, tape_of<Model>& t, const data::SequenceBatch& b,
                            const std::vector<parameter_of<Model>*>& ps, const data::EvalSet& set,
                            const EvalOptions& o) {
  { s.rank() } -> std::convertible_to<int>;
  { s.size() } -> std::convertible_to<int>;
  { s.stream_seed(std::uint64_t{1}) } -> std::convertible_to<std::uint64_t>;
  { s.shard(b) } -> std::convertible_to<const data::SequenceBatch&>;
  { s.reduce(ps, b, b, 1.0) } -> std::convertible_to<double>;
  { s.evaluate(m, t, 0, set, o) } -> std::convertible_to<eval::Metrics>;
};

}  // namespace metarec::train
