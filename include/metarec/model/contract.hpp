#pragma once
/// @file contract.hpp
/// The model contract: everything train::fit, train::evaluate and
/// meta::MetaTransfer use of a model, and the types they exchange with it.
/// Recommender and multimodal::MISSRec satisfy it (static_assert beside
/// each); a user's own model only has to satisfy SequenceModel to be trained,
/// evaluated and meta-transferred by the library.
///
/// Each requirement is a small named concept so that a type that does not fit
/// fails with the name of the missing member (as ensmallen's
/// static_checks.hpp does): `check_sequence_model<M>()` static_asserts them
/// one by one with a sentence, and every consumer calls it.
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/sequence_view.hpp"
#include "metarec/nn/parameter_store.hpp"

namespace metarec {

/// How a model is trained and queried.
enum class Objective {
  next_item,  ///< causal: predict item t+1 at every position t (SASRec, GRU4Rec)
  cloze       ///< bidirectional: predict masked items; a [MASK] is appended at inference (BERT4Rec)
};

/// The training loss over a batch's target positions.
enum class LossKind {
  ce,               ///< full-catalogue softmax cross-entropy
  bce,              ///< binary cross-entropy against one sampled negative per position
  bpr,              ///< Bayesian personalised ranking against one sampled negative per position
  sampled_softmax,  ///< softmax over the positive and K negatives shared by the batch (logQ-corrected)
  gbce              ///< gSASRec's generalised BCE against K negatives shared by the batch
};

/// The loss's name as the CLI spells it.
inline const char* loss_kind_name(LossKind k) {
  switch (k) {
    case LossKind::ce: return "ce";
    case LossKind::bce: return "bce";
    case LossKind::bpr: return "bpr";
    case LossKind::sampled_softmax: return "sampled-softmax";
    case LossKind::gbce: return "gbce";
  }
  return "?";
}

/// Whether a loss reads TrainInputs::shared_negatives.
constexpr bool uses_shared_negatives(LossKind k) { return k == LossKind::sampled_softmax || k == LossKind::gbce; }

/// Which positions share a draw of K negatives (sampled_softmax / gbce): all
/// of a batch's (one GEMM, K distinct negatives per step), or those of one
/// sequence (a GEMM per sequence, B K negatives per step, closer to drawing
/// per position as RecTools and gSASRec do).
enum class NegativeScope { batch, sequence };

constexpr const char* negative_scope_name(NegativeScope s) { return s == NegativeScope::batch ? "batch" : "sequence"; }

/// Training inputs of one batch, row-major [B, L].
struct TrainInputs {
  SequenceView seq;
  const std::int32_t* targets = nullptr;    ///< 0 = no loss at this position
  const std::int32_t* negatives = nullptr;  ///< one sampled negative per position (bce / bpr)
  /// K items drawn for the whole batch, or for each sequence: row r's at r K (sampled_softmax / gbce).
  const std::int32_t* shared_negatives = nullptr;
  index_t n_shared = 0;  ///< K
  NegativeScope shared_scope = NegativeScope::batch;
  const double* log_q = nullptr;  ///< log(K Q(j)) of each draw (sampled_softmax), null = none
  double gbce_t = 0.75;           ///< gSASRec's calibration t (gbce)
};

/// A domain attached to a model: item ids 1..n_items are local to it.
struct DomainInfo {
  std::string name;
  index_t n_items = 0;
  std::string table;  ///< parameter name of its item table
  index_t mask_row() const { return n_items + 1; }
};

/// Representations of a domain's item table after a quantizer.
template <class T, class B = backend::Cpu>
struct QuantizedItems {
  Var<T, B> items;     ///< [rows, d], row 0 = padding
  Var<T, B> aux_loss;  ///< scalar added to the training loss, or invalid
  /// [rows, d] representations the hidden states are scored against, when they differ from `items`
  /// (invalid = `items`: input and output tied).
  Var<T, B> scoring{};
  /// What the hidden states are scored against.
  const Var<T, B>& scored() const { return scoring.valid() ? scoring : items; }
};

namespace detail {
template <class M>
struct backend_of_impl {
  using type = backend::Cpu;
};
template <class M>
  requires requires { typename M::Backend; }
struct backend_of_impl<M> {
  using type = typename M::Backend;
};
}  // namespace detail
/// Where model M runs: M::Backend, or backend::Cpu for a model that names none.
template <class M>
using backend_of = typename detail::backend_of_impl<M>::type;
/// The tape, variables and parameters of model M (its scalar on its backend).
template <class M>
using tape_of = Tape<typename M::Scalar, backend_of<M>>;
template <class M>
using var_of = Var<typename M::Scalar, backend_of<M>>;
template <class M>
using parameter_of = Parameter<typename M::Scalar, backend_of<M>>;

namespace contract {
template <class M>
concept HasScalar = requires { typename M::Scalar; };
template <class M>
concept HasObjective = requires { { M::objective } -> std::convertible_to<Objective>; };
template <class M>
concept HasParameters = requires(M& m) {
  { m.parameters() } -> std::same_as<nn::ParameterStore<typename M::Scalar, backend_of<M>>&>;
};
template <class M>
concept HasDomains = requires(const M& m, int k) {
  { m.domain(k).name } -> std::convertible_to<std::string>;
  { m.domain(k).n_items } -> std::convertible_to<index_t>;
};
template <class M>
concept HasSizes = requires(const M& m) {
  { m.config().d } -> std::convertible_to<index_t>;
  { m.config().max_len } -> std::convertible_to<index_t>;
};
/// A cloze model says how often a training position is masked.
template <class M>
concept HasClozeRate = M::objective != Objective::cloze || requires(const M& m) {
  { m.mask_prob() } -> std::convertible_to<double>;
};
template <class M>
concept HasLoss = requires(M& m, tape_of<M>& t, int k, const TrainInputs& in, LossKind kind) {
  { m.loss(t, k, in, kind) } -> std::same_as<var_of<M>>;
};
template <class M>
concept HasUserRepresentations = requires(M& m, tape_of<M>& t, int k,
                                          std::span<const std::span<const std::int32_t>> histories,
                                          const Tensor<typename M::Scalar>& out) {
  m.user_representations(t, k, histories, out);
};
/// Full-ranking scores: either a plain item matrix (scores = U E^T) ...
template <class M>
concept HasItemMatrix = requires(M& m, tape_of<M>& t, int k) {
  { m.item_matrix(t, k) } -> std::convertible_to<Tensor<typename M::Scalar>>;
};
/// ... or a scorer of its own (MISSRec's fused ID + modality scores).
template <class M>
concept HasCustomScorer = requires(M& m, tape_of<M>& t, int k, const Tensor<typename M::Scalar>& U) {
  m.make_scorer(t, k, U);
};
template <class M>
concept HasScoring = HasItemMatrix<M> || HasCustomScorer<M>;
/// Meta-learning splits the parameters into the shared part and each domain's own.
template <class M>
concept HasParameterGroups = requires(M& m, int k) {
  { m.shared_parameters() } -> std::convertible_to<std::vector<parameter_of<M>*>>;
  { m.domain_parameters(k) } -> std::convertible_to<std::vector<parameter_of<M>*>>;
};
}  // namespace contract

/// What the trainer and the evaluator need of a model.
template <class M>
concept SequenceModel = contract::HasScalar<M> && contract::HasObjective<M> && contract::HasParameters<M> &&
                        contract::HasDomains<M> && contract::HasSizes<M> && contract::HasClozeRate<M> && contract::HasLoss<M> &&
                        contract::HasUserRepresentations<M> && contract::HasScoring<M>;

/// What the meta-learners need besides: shared and per-domain parameter groups.
template <class M>
concept TransferableModel = SequenceModel<M> && contract::HasParameterGroups<M>;

/// static_asserts SequenceModel one member at a time, so the first error names what is missing.
/// Returns true so that it can sit inside another static_assert.
template <class M>
consteval bool check_sequence_model() {
  static_assert(contract::HasScalar<M>, "the model must define `using Scalar = T` (float or double)");
  if constexpr (contract::HasScalar<M>) {
    static_assert(contract::HasObjective<M>,
                  "the model must define `static constexpr Objective objective` (next_item or cloze)");
    static_assert(contract::HasParameters<M>, "the model must define `nn::ParameterStore<Scalar>& parameters()`");
    static_assert(contract::HasDomains<M>,
                  "the model must define `domain(int k)` returning a DomainInfo-like value (name, n_items)");
    static_assert(contract::HasSizes<M>, "the model must define `config()` with `d` and `max_len`");
    if constexpr (contract::HasObjective<M>)
      static_assert(contract::HasClozeRate<M>, "a cloze model must define `double mask_prob() const`");
    static_assert(contract::HasLoss<M>,
                  "the model must define `Var<Scalar> loss(Tape<Scalar>&, int domain, const TrainInputs&, LossKind)`");
    static_assert(contract::HasUserRepresentations<M>,
                  "the model must define `user_representations(Tape<Scalar>&, int domain, "
                  "std::span<const std::span<const std::int32_t>> histories, const Tensor<Scalar>& out)`");
    static_assert(contract::HasScoring<M>,
                  "the model must define `Tensor<Scalar> item_matrix(Tape<Scalar>&, int domain)` or "
                  "`make_scorer(Tape<Scalar>&, int domain, const Tensor<Scalar>& users)`");
  }
  return SequenceModel<M>;
}

/// check_sequence_model, then the parameter groups the meta-learners need.
template <class M>
consteval bool check_transferable_model() {
  static_assert(check_sequence_model<M>());
  static_assert(contract::HasParameterGroups<M>,
                "a meta-learned model must define `std::vector<Parameter<Scalar>*> shared_parameters()` and "
                "`domain_parameters(int domain)`");
  return TransferableModel<M>;
}

}  // namespace metarec
