#pragma once
/// @file activation.hpp
/// Pointwise activations relu, gelu (exact erf form), tanh and sigmoid.
/// Each is one functor with a vectorised forward and a fused backward written
/// as Eigen array expressions (Eigen's float erf/tanh/exp/logistic are SIMD
/// kernels), run over fixed-size chunks so large tensors use every thread.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <unsupported/Eigen/SpecialFunctions>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/cuda/element_ops.hpp"

namespace metarec::cuda::elem {
/// The element bodies' math on Eigen array expressions: Eigen's SIMD erf and exp.
template <class X>
struct Math<X, std::enable_if_t<std::is_base_of_v<Eigen::ArrayBase<X>, X>>> {
  static auto erf(const X& x) { return x.erf(); }
  static auto exp(const X& x) { return x.exp(); }
};
}  // namespace metarec::cuda::elem

namespace metarec::ops {

namespace detail {
template <class T, class B = backend::Cpu>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T, class B = backend::Cpu>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

/// Calls fn(begin, length) on consecutive chunks of [0, n), in parallel when n is large.
template <class F>
void for_each_chunk(index_t n, F&& fn) {
  constexpr index_t chunk = 8192;
  const index_t chunks = (n + chunk - 1) / chunk;
  METAREC_PARALLEL_FOR(n)
  for (index_t c = 0; c < chunks; ++c) fn(c * chunk, std::min(chunk, n - c * chunk));
}

// Each activation: forward(x) -> y, and grad(x, y, g) = g * dy/dx.
struct Relu {
  static constexpr const char* name = "relu";
  static constexpr cuda::elem::Activation device = cuda::elem::Activation::relu;
  template <class X>
  static auto forward(const X& x) { return x.max(typename X::Scalar(0)); }
  template <class X, class Y, class G>
  static auto grad(const X& x, const Y&, const G& g) {
    using S = typename X::Scalar;
    return (x > S(0)).select(g, S(0));
  }
};

/// GELU(x) = x Phi(x), exact erf form: the body shared with the CUDA kernels
/// (cuda/element_ops.hpp), evaluated here as an Eigen array expression.
struct Gelu {
  static constexpr const char* name = "gelu";
  static constexpr cuda::elem::Activation device = cuda::elem::Activation::gelu;
  template <class X>
  static auto forward(const X& x) { return cuda::elem::gelu_forward<typename X::Scalar>(x); }
  template <class X, class Y, class G>
  static auto grad(const X& x, const Y&, const G& g) { return cuda::elem::gelu_grad<typename X::Scalar>(x, g); }
};

struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr cuda::elem::Activation device = cuda::elem::Activation::tanh;
  template <class X>
  static auto forward(const X& x) { return x.tanh(); }
  template <class X, class Y, class G>
  static auto grad(const X&, const Y& y, const G& g) {
    using S = typename X::Scalar;
    return g * (S(1) - y.square());
  }
};

struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  static constexpr cuda::elem::Activation device = cuda::elem::Activation::sigmoid;
  template <class X>
  static auto forward(const X& x) { return x.logistic(); }
  template <class X, class Y, class G>
  static auto grad(const X&, const Y& y, const G& g) {
    using S = typename X::Scalar;
    return g * y * (S(1) - y);
  }
};

template <class T, class B, class A>
void activation_backward(Tape<T, B>& t, Node<T, B>& n) {
  if constexpr (!B::is_host) {
    cuda::activation_backward(memory<B>::context(), A::device, t.value(n.in[0]), n.value, n.grad, t.grad(n.in[0]));
    return;
  } else {
  const T* x = t.value(n.in[0]).data();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  T* gx = t.grad(n.in[0]).data();
  for_each_chunk(n.value.size(), [&](index_t b, index_t len) {
    ArrayMap<T>(gx + b, len) +=
        A::grad(ConstArrayMap<T>(x + b, len), ConstArrayMap<T>(y + b, len), ConstArrayMap<T>(g + b, len));
  });
  }
}

template <class T, class B, class A>
Var<T, B> activation(Var<T, B> x) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  TensorOf<T, B> y = t.alloc(xv.shape());
  if constexpr (!B::is_host) {
    static_assert(requires { A::device; }, "this activation has no device kernel (cuda::elem::Activation)");
    cuda::activation_forward(memory<B>::context(), A::device, xv, y);
    return t.record(A::name, y, {x}, &activation_backward<T, B, A>);
  } else {
  const T* xp = xv.data();
  T* yp = y.data();
  for_each_chunk(xv.size(), [&](index_t b, index_t len) {
    ArrayMap<T>(yp + b, len) = A::forward(ConstArrayMap<T>(xp + b, len));
  });
  return t.record(A::name, y, {x}, &activation_backward<T, B, A>);
  }
}
}  // namespace detail

/// max(x, 0); the gradient at exactly 0 is 0 (as PyTorch).
template <class T, class B = backend::Cpu>
Var<T, B> relu(Var<T, B> x) { return detail::activation<T, B, detail::Relu>(x); }
/// x * Phi(x) with the exact erf-based normal CDF.
template <class T, class B = backend::Cpu>
Var<T, B> gelu(Var<T, B> x) { return detail::activation<T, B, detail::Gelu>(x); }
template <class T, class B = backend::Cpu>
Var<T, B> tanh(Var<T, B> x) { return detail::activation<T, B, detail::Tanh>(x); }
/// 1 / (1 + exp(-x)).
template <class T, class B = backend::Cpu>
Var<T, B> sigmoid(Var<T, B> x) { return detail::activation<T, B, detail::Sigmoid>(x); }

}  // namespace metarec::ops
