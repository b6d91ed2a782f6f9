#pragma once
/// @file mixture.hpp
/// Ops for mixtures of experts: gated_sum (the gate-weighted sum of E expert
/// outputs per row, a batched [1, E] x [E, d] product with no broadcasting
/// rule in elementwise.hpp to express it) and softplus (the noisy gate's
/// noise scale, Shazeer et al. 2017).
#include <string>

#include "metarec/autograd/ops/activation.hpp"
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
/// softplus(x) = log(1 + e^x), written as max(x, 0) + log1p(e^-|x|) so large |x| neither overflows nor loses bits.
struct Softplus {
  static constexpr const char* name = "softplus";
  template <class X>
  static auto forward(const X& x) {
    using S = typename X::Scalar;
    return x.max(S(0)) + (-x.abs()).exp().log1p();
  }
  template <class X, class Y, class G>
  static auto grad(const X& x, const Y&, const G& g) { return g * x.logistic(); }
};

template <class T, class B = backend::Cpu>
void gated_sum_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& y = t.value(n.in[0]);
  const TensorOf<T, B>& g = t.value(n.in[1]);
  const index_t R = g.dim(0), E = g.dim(1), d = n.value.cols();
  const T* go = n.grad.data();
  T* gy = t.wants_grad(n.in[0]) ? t.grad(n.in[0]).data() : nullptr;
  T* gg = t.wants_grad(n.in[1]) ? t.grad(n.in[1]).data() : nullptr;
  METAREC_PARALLEL_FOR(R * E * d)
  for (index_t r = 0; r < R; ++r) {
    const T* gor = go + r * d;
    for (index_t k = 0; k < E; ++k) {
      const T* yk = y.data() + (r * E + k) * d;
      if (gy) {  // d out / d y[r, k, :] = g[r, k]
        const T gk = g[r * E + k];
        T* gyk = gy + (r * E + k) * d;
        for (index_t j = 0; j < d; ++j) gyk[j] += gk * gor[j];
      }
      if (gg) {  // d out / d g[r, k] = y[r, k, :]
        T s = 0;
        for (index_t j = 0; j < d; ++j) s += yk[j] * gor[j];
        gg[r * E + k] += s;
      }
    }
  }
}
}  // namespace detail

/// softplus(x) = log(1 + exp(x)), elementwise; gradient sigmoid(x).
template <class T, class B = backend::Cpu>
Var<T, B> softplus(Var<T, B> x) { return detail::activation<T, B, detail::Softplus>(x); }

/// out[r, :] = sum_k gates[r, k] * experts[r, k, :].
/// experts: [R, E, d] (or [R, E * d]: the row of E stacked outputs of one
/// GEMM), gates: [R, E]. out: [R, d].
template <class T, class B = backend::Cpu>
Var<T, B> gated_sum(Var<T, B> experts, Var<T, B> gates) {
  Tape<T, B>& t = *experts.tape;
  const TensorOf<T, B>& yv = experts.value();
  const TensorOf<T, B>& gv = gates.value();
  expect_rank("gated_sum", "gates", gv.shape(), 2);
  const index_t R = gv.dim(0), E = gv.dim(1);
  const bool ok = (yv.rank() == 3 && yv.dim(0) == R && yv.dim(1) == E) ||
                  (yv.rank() == 2 && yv.dim(0) == R && E > 0 && yv.dim(1) % E == 0);
  if (!ok || E < 1)
    throw ShapeError("gated_sum: experts " + yv.shape().str() + " do not match gates " + gv.shape().str() +
                     " (expected [R, E, d] or [R, E * d] for gates [R, E], E >= 1)");
  const index_t d = yv.rank() == 3 ? yv.dim(2) : yv.dim(1) / E;
  TensorOf<T, B> out = t.zeros(Shape{R, d});
  const T* y = yv.data();
  const T* g = gv.data();
  T* o = out.data();
  METAREC_PARALLEL_FOR(R * E * d)
  for (index_t r = 0; r < R; ++r)
    for (index_t k = 0; k < E; ++k) {
      const T gk = g[r * E + k];
      const T* yk = y + (r * E + k) * d;
      T* orow = o + r * d;
      for (index_t j = 0; j < d; ++j) orow[j] += gk * yk[j];
    }
  return t.record("gated_sum", out, {experts, gates}, &detail::gated_sum_backward<T, B>);
}

}  // namespace metarec::ops
