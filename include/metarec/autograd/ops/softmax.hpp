#pragma once
/// @file softmax.hpp
/// softmax and log_softmax over the last dimension. Both subtract the row
/// maximum before exponentiating, so rows of large logits do not overflow.
/// A row that is entirely -inf (fully masked) gets softmax 0 instead of NaN.
#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T, class B = backend::Cpu>
using RowMap = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;
template <class T, class B = backend::Cpu>
using ConstRowMap = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>;

inline void expect_last_dim(const char* op, const Shape& s) {
  if (s.rank < 1 || s.cols() < 1)
    throw ShapeError(std::string(op) + ": input " + s.str() + " needs rank >= 1 and a non-empty last dimension");
}

/// Below this, exp underflows; Eigen's SIMD exp clamps its argument and
/// would return a tiny denormal (even for -inf), so such entries are set to 0.
template <class T, class B = backend::Cpu>
T underflow_log() { return std::log(std::numeric_limits<T>::min()); }

template <class T, class B = backend::Cpu>
void softmax_backward(Tape<T, B>& t, Node<T, B>& n) {  // gx = y * (g - <g, y>)
  const index_t rows = n.value.rows(), d = n.value.cols();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  T* gx = t.grad(n.in[0]).data();
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t r = 0; r < rows; ++r) {
    ConstRowMap<T> yr(y + r * d, d), gr(g + r * d, d);
    RowMap<T>(gx + r * d, d) += yr * (gr - (gr * yr).sum());
  }
}

template <class T, class B = backend::Cpu>
void log_softmax_backward(Tape<T, B>& t, Node<T, B>& n) {  // gx = g - softmax * sum(g)
  const index_t rows = n.value.rows(), d = n.value.cols();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  T* gx = t.grad(n.in[0]).data();
  const T lo = underflow_log<T>();
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t r = 0; r < rows; ++r) {
    ConstRowMap<T> yr(y + r * d, d), gr(g + r * d, d);
    RowMap<T>(gx + r * d, d) += gr - (yr < lo).select(T(0), yr.exp()) * gr.sum();
  }
}

template <class T, class B, bool Log>
Var<T, B> softmax_impl(const char* op, Var<T, B> x) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  expect_last_dim(op, xv.shape());
  TensorOf<T, B> y = t.alloc(xv.shape());
  const index_t rows = xv.rows(), d = xv.cols();
  const T* xp = xv.data();
  T* yp = y.data();
  const T lo = underflow_log<T>();
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t r = 0; r < rows; ++r) {
    ConstRowMap<T> xr(xp + r * d, d);
    RowMap<T> yr(yp + r * d, d);
    const T m = xr.maxCoeff();
    if (!(m > -std::numeric_limits<T>::infinity())) {  // fully masked row
      yr.setConstant(Log ? -std::numeric_limits<T>::infinity() : T(0));
      continue;
    }
    // masked (-inf) entries become exactly 0
    yr = (xr - m < lo).select(T(0), (xr - m).exp());
    const T s = yr.sum();
    if constexpr (Log) yr = (xr - m) - std::log(s);  // (x - m) first: exact for large x
    else yr *= T(1) / s;
  }
  return t.record(op, y, {x}, Log ? &log_softmax_backward<T, B> : &softmax_backward<T, B>);
}
}  // namespace detail

/// exp(x_i) / sum_j exp(x_j) over the last dimension.
template <class T, class B = backend::Cpu>
Var<T, B> softmax(Var<T, B> x) { return detail::softmax_impl<T, B, false>("softmax", x); }
/// x_i - log sum_j exp(x_j) over the last dimension.
template <class T, class B = backend::Cpu>
Var<T, B> log_softmax(Var<T, B> x) { return detail::softmax_impl<T, B, true>("log_softmax", x); }

}  // namespace metarec::ops
