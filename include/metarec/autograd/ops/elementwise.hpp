#pragma once
/// @file elementwise.hpp
/// Broadcasting add / sub / mul and scalar scale. Broadcasting rule: the
/// second operand has the same shape as the first, or equals its trailing
/// dimensions (a bias or per-feature scale repeated over leading dims).
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
enum class Binary { add, sub, mul };

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

template <class T, Binary K>
void binary_backward(Tape<T>& t, Node<T>& n) {
  const Tensor<T>& g = n.grad;
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

template <class T, Binary K>
Var<T> binary(const char* name, Var<T> a, Var<T> b) {
  Tape<T>& t = *a.tape;
  const Tensor<T>& av = a.value();
  const Tensor<T>& bv = b.value();
  const index_t period = broadcast_period(name, av.shape(), bv.shape());
  Tensor<T> y = t.alloc(av.shape());
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
  return t.record(name, y, {a, b}, &binary_backward<T, K>);
}

template <class T>
void scale_backward(Tape<T>& t, Node<T>& n) {
  const T s = static_cast<T>(n.real[0]);
  Tensor<T>& ga = t.grad(n.in[0]);
  const index_t total = ga.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) ga[i] += s * n.grad[i];
}
}  // namespace detail

template <class T> Var<T> add(Var<T> a, Var<T> b) { return detail::binary<T, detail::Binary::add>("add", a, b); }
template <class T> Var<T> sub(Var<T> a, Var<T> b) { return detail::binary<T, detail::Binary::sub>("sub", a, b); }
template <class T> Var<T> mul(Var<T> a, Var<T> b) { return detail::binary<T, detail::Binary::mul>("mul", a, b); }

/// y = s * x for a constant s.
template <class T>
Var<T> scale(Var<T> x, double s) {
  Tape<T>& t = *x.tape;
  const Tensor<T>& xv = x.value();
  Tensor<T> y = t.alloc(xv.shape());
  const index_t total = xv.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) y[i] = static_cast<T>(s) * xv[i];
  Var<T> out = t.record("scale", y, {x}, &detail::scale_backward<T>);
  t.node(out).real[0] = s;
  return out;
}

template <class T> Var<T> operator+(Var<T> a, Var<T> b) { return add(a, b); }
template <class T> Var<T> operator-(Var<T> a, Var<T> b) { return sub(a, b); }
template <class T> Var<T> operator*(Var<T> a, Var<T> b) { return mul(a, b); }
template <class T> Var<T> operator*(Var<T> a, double s) { return scale(a, s); }
template <class T> Var<T> operator*(double s, Var<T> a) { return scale(a, s); }

}  // namespace metarec::ops
