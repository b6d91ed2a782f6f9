#pragma once
/// @file optimizer.hpp
/// Common base of the first-order optimizers: parameter groups, learning rate,
/// step counter, per-parameter state tensors (allocated once, at construction,
/// so a step never touches the heap) and the traversal of a gradient that is
/// either dense or limited to the touched rows of an embedding table.
///
/// Sparse tables (`Parameter::sparse_rows` with `!grad_is_dense()`) are
/// updated *lazily*: only the rows in `touched` change, and their optimizer
/// state (momentum, Adam moments) is not decayed on steps where the row is not
/// touched — the semantics of torch.optim.SparseAdam. Weight decay is applied
/// to touched rows only. When every row is touched the lazy and dense paths
/// do the same arithmetic per element, so they give identical results.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "metarec/autograd/parameter.hpp"
#include "metarec/core/error.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::optim {

/// Parameters sharing a learning-rate multiplier and a weight decay (e.g. no
/// decay for biases and LayerNorm; a smaller rate for a pre-trained encoder).
template <class T, class B = backend::Cpu>
struct ParamGroup {
  std::vector<Parameter<T, B>*> params;
  double lr_scale = 1;      ///< this group's lr = optimizer lr() * lr_scale
  double weight_decay = 0;  ///< this group's decay (the config's is used only for a plain parameter list)
};

namespace detail {
/// Elements per work item: large enough to amortise a task, small enough to
/// balance; fixed (not derived from the thread count) so reductions built on
/// it give the same bits for any number of threads.
inline constexpr index_t span_chunk = 8192;

/// Calls f(span_index, offset, length) over the spans of `p.grad` that carry
/// a gradient: all elements in fixed chunks when the gradient is dense, else
/// one span per touched row. Spans are disjoint, so f may run concurrently
/// (OpenMP when the work is large).
template <class T, class B, class F>
void for_each_grad_span(const Parameter<T, B>& p, F&& f) {
  if (p.grad_is_dense()) {
    const index_t n = p.value.size();
    const index_t chunks = (n + span_chunk - 1) / span_chunk;
    METAREC_PARALLEL_FOR(n)
    for (index_t c = 0; c < chunks; ++c) f(c, c * span_chunk, std::min(span_chunk, n - c * span_chunk));
  } else {
    const index_t width = p.value.dim(0) > 0 ? p.value.size() / p.value.dim(0) : 0;
    const auto rows = static_cast<index_t>(p.touched.size());
    METAREC_PARALLEL_FOR(rows * width)
    for (index_t i = 0; i < rows; ++i) f(i, static_cast<index_t>(p.touched[static_cast<std::size_t>(i)]) * width, width);
  }
}
/// Number of spans for_each_grad_span will visit.
template <class T, class B = backend::Cpu>
index_t grad_span_count(const Parameter<T, B>& p) {
  if (!p.grad_is_dense()) return static_cast<index_t>(p.touched.size());
  return (p.value.size() + span_chunk - 1) / span_chunk;
}
/// Whether an optimizer or clipping must look at p this step.
template <class T, class B = backend::Cpu>
bool has_gradient(const Parameter<T, B>& p) {
  return p.trainable && !p.grad.empty() && (p.grad_is_dense() || !p.touched.empty());
}
/// Eigen array views of a span: Eigen vectorizes sqrt and division (a plain
/// loop calling std::sqrt does not, because of errno) with the same IEEE
/// results as scalar code, so every span length gives the same bits.
template <class T, class B = backend::Cpu>
using ArraySpan = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T, class B = backend::Cpu>
using ConstArraySpan = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

inline void check_finite_nonneg(const char* who, const char* what, double v) {
  if (!(std::isfinite(v) && v >= 0))
    throw ConfigError(std::string(who) + ": " + what + " = " + std::to_string(v) + " must be finite and >= 0");
}
}  // namespace detail

/// Interface shared by SGD and Adam(W), so trainers and checkpoints can hold
/// any optimizer chosen at run time.
template <class T, class B = backend::Cpu>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Applies one update from the current gradients (frozen parameters skipped).
  virtual void step() = 0;
  /// "sgd" or "adam": names the state layout in checkpoints.
  virtual const char* kind() const = 0;

  /// Clears every gradient (touched rows only for sparse tables).
  void zero_grad() {
    for (auto& s : slots_) s.p->zero_grad();
  }
  double lr() const { return lr_; }
  void set_lr(double lr) {
    detail::check_finite_nonneg(kind(), "lr", lr);
    lr_ = lr;
  }
  /// Updates applied so far (Adam's bias correction uses it).
  std::uint64_t steps() const { return steps_; }
  /// For restoring a checkpoint.
  void set_steps(std::uint64_t n) { steps_ = n; }
  const std::vector<ParamGroup<T, B>>& groups() const { return groups_; }

  /// Named state tensors, e.g. "adam.m.<param name>"; write into them to
  /// restore (the step counter is separate: steps()/set_steps()).
  std::vector<std::pair<std::string, TensorOf<T, B>*>> state() {
    std::vector<std::pair<std::string, TensorOf<T, B>*>> out;
    for (std::size_t k = 0; k < state_names_.size(); ++k)
      for (auto& s : slots_) out.emplace_back(state_names_[k] + "." + s.p->name, &s.state[k]);
    return out;
  }

 protected:
  struct Slot {
    Parameter<T, B>* p = nullptr;
    const ParamGroup<T, B>* group = nullptr;
    std::vector<TensorOf<T, B>> state;  ///< in the parameter's memory
  };

  /// Validates the groups; `state_names` lists one zero-filled state tensor
  /// per parameter and name (same shape as the parameter).
  Optimizer(std::vector<ParamGroup<T, B>> groups, double lr, std::vector<std::string> state_names)
      : groups_(std::move(groups)), state_names_(std::move(state_names)) {
    const char* who = "optimizer";
    detail::check_finite_nonneg(who, "lr", lr);
    lr_ = lr;
    std::set<const Parameter<T, B>*> seen;
    std::set<std::string> names;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const ParamGroup<T, B>& group = groups_[g];
      detail::check_finite_nonneg(who, "ParamGroup::lr_scale", group.lr_scale);
      detail::check_finite_nonneg(who, "ParamGroup::weight_decay", group.weight_decay);
      for (Parameter<T, B>* p : group.params) {
        if (!p) throw ConfigError("optimizer: null parameter in group " + std::to_string(g));
        if (!seen.insert(p).second)
          throw ConfigError("optimizer: parameter '" + p->name + "' appears twice (group " + std::to_string(g) + ")");
        if (!names.insert(p->name).second)
          throw ConfigError("optimizer: two parameters are named '" + p->name +
                            "'; state and checkpoints need unique names");
        if (p->value.shape() != p->grad.shape())
          throw ShapeError("optimizer: parameter '" + p->name + "' has value " + p->value.shape().str() +
                           " but gradient " + p->grad.shape().str());
        Slot s{p, &group, {}};
        for (std::size_t k = 0; k < state_names_.size(); ++k)
          s.state.push_back(memory<B>::template zeros<T>(p->value.shape()));
        slots_.push_back(std::move(s));
      }
    }
  }
  static std::vector<ParamGroup<T, B>> one_group(std::vector<Parameter<T, B>*> params, double weight_decay) {
    std::vector<ParamGroup<T, B>> g(1);
    g[0].params = std::move(params);
    g[0].weight_decay = weight_decay;
    return g;
  }
  /// With explicit groups the decay is per group; a config decay as well would be ambiguous.
  static std::vector<ParamGroup<T, B>> check_groups(std::vector<ParamGroup<T, B>> groups, double config_decay,
                                                 const char* who) {
    if (config_decay != 0)
      throw ConfigError(std::string(who) + ": weight_decay = " + std::to_string(config_decay) +
                        " in the config together with ParamGroups; set ParamGroup::weight_decay instead");
    return groups;
  }

  std::vector<ParamGroup<T, B>> groups_;
  std::vector<std::string> state_names_;
  std::vector<Slot> slots_;
  double lr_ = 0;
  std::uint64_t steps_ = 0;
};

}  // namespace metarec::optim
