#pragma once
/// @file elementwise.hpp
/// Broadcasting add / sub / mul and scalar scale. Broadcasting rule: the
/// second operand has the same shape as the first, or equals its trailing
/// dimensions (a bias or per-feature scale repeated over leading dims).
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/cuda/element_ops.hpp"

namespace metarec::ops {

namespace detail {
using Binary = cuda::elem::Binary;  // the same tags name the device kernels

inline index_t broadcast_period(const char* op, const Shape& a, const Shape& b) {
  if (a == b) return a.size();
  if (b.rank <= a.rank) {
    bool trailing = true;
    for (int i = 1; i <= b.rank; ++i) trailing = trailing && a[-i] == b[-i];
    if (trailing && b.size() > 0) return b.size();
  }
  throw ShapeError(std::string(op) + ": cannot broadcast " + b.str() + " to " + a.str() +
                   " (second operand must match the first or its trailing dimensions)");
}

template <class T, class B, Binary K>
void binary_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& g = n.grad;
  if constexpr (!B::is_host) {
    const TensorOf<T, B> none;
    cuda::binary_backward(memory<B>::context(), K, t.value(n.in[0]), t.value(n.in[1]), g,
                          t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none,
                          t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none);
    return;
  } else {
  const index_t total = g.size(), period = t.value(n.in[1]).size();
  const T* av = t.value(n.in[0]).data();
  const T* bv = t.value(n.in[1]).data();
  if (t.wants_grad(n.in[0])) {
    T* ga = t.grad(n.in[0]).data();
    const index_t reps = total / std::max<index_t>(period, 1);
    METAREC_PARALLEL_FOR(total)
    for (index_t r = 0; r < reps; ++r)
      for (index_t j = 0; j < period; ++j)
        ga[r * period + j] += K == Binary::mul ? g[r * period + j] * bv[j] : g[r * period + j];
  }
  if (t.wants_grad(n.in[1])) {
    T* gb = t.grad(n.in[1]).data();
    const T sign = K == Binary::sub ? T(-1) : T(1);
    for (index_t base = 0; base < total; base += period)
      for (index_t j = 0; j < period; ++j) gb[j] += sign * (K == Binary::mul ? g[base + j] * av[base + j] : g[base + j]);
  }
  }
}

template <class T, class B, Binary K>
Var<T, B> binary(const char* name, Var<T, B> a, Var<T, B> b) {
  Tape<T, B>& t = *a.tape;
  const TensorOf<T, B>& av = a.value();
  const TensorOf<T, B>& bv = b.value();
  const index_t period = broadcast_period(name, av.shape(), bv.shape());
  TensorOf<T, B> y = t.alloc(av.shape());
  if constexpr (!B::is_host) {
    cuda::binary_forward(memory<B>::context(), K, av, bv, y);
    return t.record(name, y, {a, b}, &binary_backward<T, B, K>);
  } else {
  const index_t total = av.size();
  const T* ap = av.data();
  const T* bp = bv.data();
  T* yp = y.data();
  const index_t reps = total / std::max<index_t>(period, 1);
  METAREC_PARALLEL_FOR(total)
  for (index_t r = 0; r < reps; ++r)
    for (index_t j = 0; j < period; ++j) {
      const T x = ap[r * period + j], z = bp[j];
      yp[r * period + j] = K == Binary::add ? x + z : K == Binary::sub ? x - z : x * z;
    }
  return t.record(name, y, {a, b}, &binary_backward<T, B, K>);
  }
}

template <class T, class B = backend::Cpu>
void scale_backward(Tape<T, B>& t, Node<T, B>& n) {
  const T s = static_cast<T>(n.real[0]);
  TensorOf<T, B>& ga = t.grad(n.in[0]);
  if constexpr (!B::is_host) {
    cuda::scale_backward(memory<B>::context(), n.grad, n.real[0], ga);
    return;
  } else {
  const index_t total = ga.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) ga[i] += s * n.grad[i];
  }
}
}  // namespace detail

template <class T, class B = backend::Cpu> Var<T, B> add(Var<T, B> a, Var<T, B> b) { return detail::binary<T, B, detail::Binary::add>("add", a, b); }
template <class T, class B = backend::Cpu> Var<T, B> sub(Var<T, B> a, Var<T, B> b) { return detail::binary<T, B, detail::Binary::sub>("sub", a, b); }
template <class T, class B = backend::Cpu> Var<T, B> mul(Var<T, B> a, Var<T, B> b) { return detail::binary<T, B, detail::Binary::mul>("mul", a, b); }

/// y = s * x for a constant s.
template <class T, class B = backend::Cpu>
Var<T, B> scale(Var<T, B> x, double s) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  TensorOf<T, B> y = t.alloc(xv.shape());
  if constexpr (B::is_host) {
    const index_t total = xv.size();
    METAREC_PARALLEL_FOR(total)
    for (index_t i = 0; i < total; ++i) y[i] = static_cast<T>(s) * xv[i];
  } else {
    cuda::scale_forward(memory<B>::context(), xv, s, y);
  }
  Var<T, B> out = t.record("scale", y, {x}, &detail::scale_backward<T, B>);
  t.node(out).real[0] = s;
  return out;
}

template <class T, class B = backend::Cpu> Var<T, B> operator+(Var<T, B> a, Var<T, B> b) { return add(a, b); }
template <class T, class B = backend::Cpu> Var<T, B> operator-(Var<T, B> a, Var<T, B> b) { return sub(a, b); }
template <class T, class B = backend::Cpu> Var<T, B> operator*(Var<T, B> a, Var<T, B> b) { return mul(a, b); }
template <class T, class B = backend::Cpu> Var<T, B> operator*(Var<T, B> a, double s) { return scale(a, s); }
template <class T, class B = backend::Cpu> Var<T, B> operator*(double s, Var<T, B> a) { return scale(a, s); }

}  // namespace metarec::ops
