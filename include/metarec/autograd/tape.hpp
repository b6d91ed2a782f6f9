#pragma once
/// @file tape.hpp
/// Reverse-mode automatic differentiation on a Wengert list.
///
/// Ops append nodes in execution order, so the node array is already a
/// topological order; backward() walks it once in reverse (no recursion).
/// Ops are coarse (linear, attention, layer norm, GRU, full-catalog CE) with
/// fused, hand-written backward functions, so a step records tens of nodes
/// and the tape costs nothing next to the arithmetic. Every value, saved
/// tensor and gradient lives in a per-step Workspace: after the first step a
/// training step makes no heap allocation.
#include <array>
#include <chrono>
#include <map>
#include <string>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "metarec/autograd/backend_memory.hpp"
#include "metarec/autograd/parameter.hpp"
#include "metarec/core/error.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/core/workspace.hpp"

namespace metarec {

template <class T, class B = backend::Cpu>
class Tape;

/// Handle to a value recorded on a tape. Cheap to copy. B is the backend
/// whose memory holds the value (backend::Cpu unless the model runs elsewhere).
template <class T, class B = backend::Cpu>
struct Var {
  Tape<T, B>* tape = nullptr;
  int id = -1;
  const TensorOf<T, B>& value() const { return tape->value(id); }
  const Shape& shape() const { return tape->value(id).shape(); }
  /// The value of a one-element variable (a loss) on the host; on a device
  /// this copies it back, waiting for the work queued before.
  T item() const {
    if constexpr (B::is_host) return value()[0];
    else return memory<B>::to_host(value())[0];
  }
  bool valid() const { return tape != nullptr && id >= 0; }
};

/// One recorded operation. The fixed slots hold what a backward function needs
/// (saved tensors, scalars, borrowed index arrays), so recording allocates nothing.
template <class T, class B = backend::Cpu>
struct Node {
  using Backward = void (*)(Tape<T, B>&, Node<T, B>&);
  TensorOf<T, B> value;
  TensorOf<T, B> grad;  ///< empty until some consumer sends a gradient
  Backward backward = nullptr;
  const char* op = "leaf";
  std::array<int, 4> in{-1, -1, -1, -1};
  std::array<TensorOf<T, B>, 4> saved;
  std::array<double, 4> real{};
  std::array<index_t, 6> integer{};
  std::array<const void*, 3> ptr{};
  Parameter<T, B>* param = nullptr;
  bool requires_grad = false;
};

/// The tape of backend B: its values, saved tensors and gradients live in B's
/// memory (a per-step arena); ops dispatch on B (autograd/kernels.hpp).
template <class T, class B>
class Tape {
 public:
  using Backend = B;
  using Tensor_ = TensorOf<T, B>;  ///< a tensor in this tape's memory
  using Backward = typename Node<T, B>::Backward;
  using Arena = typename memory<B>::Arena;

  explicit Tape(std::uint64_t seed = 0)
      : ws_(memory<B>::make_arena()), host_ws_(memory<B>::make_staging()), rng_(seed) {
    nodes_.reserve(256);
  }
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // ---- modes -------------------------------------------------------------
  /// Training mode (dropout active). Eval mode makes dropout the identity.
  bool training() const { return training_; }
  void set_training(bool on) { training_ = on; }
  /// When off, ops compute values only (no backward bookkeeping).
  bool recording() const { return recording_; }
  void set_recording(bool on) { recording_ = on; }
  /// When on, every op output is checked for NaN/Inf (slow; for debugging).
  void set_check_finite(bool on) { check_finite_ = on; }
  Rng& rng() { return rng_; }

  /// Per-op timing for profiling (off by default). Forward time of an op is
  /// the time since the previous tape call, so it includes any user code
  /// between ops; `bookkeeping` is time spent inside the tape itself.
  struct Profile {
    std::map<std::string, double> forward_seconds, backward_seconds;
    double bookkeeping_seconds = 0;
    void clear() { *this = Profile{}; }
  };
  void set_profiling(bool on) {
    profiling_ = on;
    mark_ = Clock::now();
  }
  Profile& profile() { return profile_; }
  /// The step's arena in B's memory.
  Arena& workspace() { return ws_; }
  /// The step's host arena for index arrays built on the host (the same arena on backend::Cpu).
  Workspace& host_workspace() {
    if constexpr (B::is_host) return ws_;
    else return host_ws_;
  }

  // ---- inputs ------------------------------------------------------------
  /// A constant or input tensor (no gradient unless requires_grad).
  Var<T, B> leaf(const Tensor_& value, bool requires_grad = false) {
    Node<T, B>& n = push("leaf", value);
    n.requires_grad = requires_grad && recording_;
    return {this, static_cast<int>(nodes_.size() - 1)};
  }
  /// A trainable parameter; its gradient accumulates straight into p.grad.
  Var<T, B> param(Parameter<T, B>& p) {
    if (p.tape_step == step_id_ && p.tape_node >= 0) return {this, p.tape_node};
    Node<T, B>& n = push("param", p.value);
    n.param = &p;
    n.requires_grad = recording_ && p.trainable;
    if (n.requires_grad) n.grad = p.grad;
    p.tape_step = step_id_;
    p.tape_node = static_cast<int>(nodes_.size() - 1);
    return {this, p.tape_node};
  }

  // ---- for op implementations -------------------------------------------
  Tensor_ alloc(Shape s) { return ws_.template tensor<T>(s); }
  Tensor_ zeros(Shape s) { return ws_.template zeros<T>(s); }
  /// n elements of B's memory for the step (device index arrays on backend::Cuda).
  template <class U>
  U* alloc_n(index_t n) { return ws_.template allocate_n<U>(n); }
  /// n host elements for the step (index arrays prepared on the host).
  template <class U>
  U* host_n(index_t n) { return host_workspace().template allocate_n<U>(n); }
  /// The n host elements at `host` in B's memory for the step: the same
  /// pointer on the host backend, a copy in the arena on a device.
  template <class U>
  const U* upload_n(const U* host, index_t n) { return memory<B>::upload_n(ws_, host_ws_, host, n); }

  /// Appends an op's output. Backward bookkeeping is kept only when recording
  /// and some input needs a gradient.
  Var<T, B> record(const char* op, const Tensor_& value, std::initializer_list<Var<T, B>> inputs, Backward bw) {
    Clock::time_point start;
    if (profiling_) {
      start = Clock::now();
      profile_.forward_seconds[op] += seconds(mark_, start);
    }
    if (check_finite_) assert_finite(op, value);
    bool needs = false;
    if (recording_)
      for (const Var<T, B>& v : inputs) needs = needs || nodes_[static_cast<std::size_t>(v.id)].requires_grad;
    Node<T, B>& n = push(op, value);
    if (needs) {
      int k = 0;
      for (const Var<T, B>& v : inputs) n.in[static_cast<std::size_t>(k++)] = v.id;
      n.backward = bw;
      n.requires_grad = true;
    }
    if (profiling_) {
      mark_ = Clock::now();
      profile_.bookkeeping_seconds += seconds(start, mark_);
    }
    return {this, static_cast<int>(nodes_.size() - 1)};
  }
  Node<T, B>& node(int id) { return nodes_[static_cast<std::size_t>(id)]; }
  Node<T, B>& node(Var<T, B> v) { return node(v.id); }
  const Tensor_& value(int id) const { return nodes_[static_cast<std::size_t>(id)].value; }
  /// Whether input `id` wants a gradient (ops skip work for those that don't).
  bool wants_grad(int id) const { return id >= 0 && nodes_[static_cast<std::size_t>(id)].requires_grad; }
  /// Gradient buffer of node `id`, created zero-filled on first use.
  Tensor_& grad(int id) {
    Node<T, B>& n = nodes_[static_cast<std::size_t>(id)];
    if (n.grad.empty()) n.grad = zeros(n.value.shape());
    if (n.param) n.param->dense_grad = true;
    return n.grad;
  }
  /// Gradient of a parameter node without marking it dense (sparse scatter).
  Tensor_& raw_grad(int id) { return nodes_[static_cast<std::size_t>(id)].grad; }
  /// Gradient of a variable after backward(); empty if none reached it.
  const Tensor_& grad_of(Var<T, B> v) const { return nodes_[static_cast<std::size_t>(v.id)].grad; }

  // ---- backward -----------------------------------------------------------
  /// Back-propagates from a scalar loss (seed 1).
  void backward(Var<T, B> loss) {
    if (loss.value().size() != 1)
      throw ShapeError("backward: loss must have one element, got shape " + loss.shape().str());
    Tensor_ seed = alloc(loss.shape());
    memory<B>::fill(seed, T(1));
    backward(loss, seed);
  }
  /// Back-propagates from `out` with the given output gradient.
  void backward(Var<T, B> out, const Tensor_& seed) {
    expect_shape("backward", "seed gradient", seed.shape(), out.shape());
    memory<B>::add_into(seed, grad(out.id));
    if (!profiling_) {
      for (int i = out.id; i >= 0; --i) {
        Node<T, B>& n = nodes_[static_cast<std::size_t>(i)];
        if (n.backward && !n.grad.empty()) n.backward(*this, n);
      }
      return;
    }
    const auto start = Clock::now();
    double in_ops = 0;
    for (int i = out.id; i >= 0; --i) {
      Node<T, B>& n = nodes_[static_cast<std::size_t>(i)];
      if (n.backward && !n.grad.empty()) {
        const auto a = Clock::now();
        n.backward(*this, n);
        const double dt = seconds(a, Clock::now());
        profile_.backward_seconds[n.op] += dt;
        in_ops += dt;
      }
    }
    mark_ = Clock::now();
    profile_.bookkeeping_seconds += seconds(start, mark_) - in_ops;
  }

  /// Forgets all nodes and rewinds the arena (call at the start of each step).
  void reset() {
    nodes_.clear();
    ws_.reset();
    if constexpr (!B::is_host) {
      memory<B>::synchronize();  // the last step's uploads have left the staging arena before it is reused
      host_ws_.reset();
    }
    ++step_id_;
    if (step_id_ == 0) step_id_ = 1;
  }
  std::size_t size() const { return nodes_.size(); }

  static void assert_finite(const char* op, const Tensor_& device_value) {
    const Tensor<T> t = memory<B>::to_host(device_value);
    for (index_t i = 0; i < t.size(); ++i)
      if (!std::isfinite(static_cast<double>(t[i])))
        throw NumericError(std::string("non-finite value (") + std::to_string(static_cast<double>(t[i])) +
                           ") produced by op '" + op + "' at element " + std::to_string(i) + " of shape " +
                           t.shape().str());
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }
  Node<T, B>& push(const char* op, const Tensor_& value) {
    nodes_.emplace_back();
    Node<T, B>& n = nodes_.back();
    n.op = op;
    n.value = value;
    return n;
  }
  static inline std::uint64_t next_tape_id_ = 1;
  std::vector<Node<T, B>> nodes_;
  Arena ws_;
  Workspace host_ws_;  ///< device tape: page-locked host index arrays and upload staging (unused on the host backend)
  Rng rng_;
  std::uint64_t step_id_ = (next_tape_id_++) << 32;
  bool training_ = true, recording_ = true, check_finite_ = false, profiling_ = false;
  Profile profile_;
  Clock::time_point mark_{};
};

/// Disables recording for a scope (inference, evaluation).
template <class T, class B = backend::Cpu>
class NoGradGuard {
 public:
  explicit NoGradGuard(Tape<T, B>& t) : t_(t), was_(t.recording()) { t.set_recording(false); }
  ~NoGradGuard() { t_.set_recording(was_); }
 private:
  Tape<T, B>& t_;
  bool was_;
};

/// Eval mode for a scope (dropout off).
template <class T, class B = backend::Cpu>
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Tape<T, B>& t) : t_(t), was_(t.training()) { t.set_training(false); }
  ~EvalModeGuard() { t_.set_training(was_); }
 private:
  Tape<T, B>& t_;
  bool was_;
};

}  // namespace metarec
