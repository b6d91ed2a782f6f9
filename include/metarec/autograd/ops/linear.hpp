#pragma once
/// @file linear.hpp
/// Dense products: linear (x W^T + b, PyTorch weight layout) and matmul.
#include "metarec/autograd/tape.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T, class B = backend::Cpu>
void add_bias_rows(T* y, const T* b, index_t rows, index_t cols) {
  METAREC_PARALLEL_FOR(rows * cols)
  for (index_t r = 0; r < rows; ++r) {
    T* yr = y + r * cols;
    for (index_t c = 0; c < cols; ++c) yr[c] += b[c];
  }
}
/// g_b += column sums of g (rows x cols).
template <class T, class B = backend::Cpu>
void accumulate_column_sums(T* gb, const T* g, index_t rows, index_t cols) {
  Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> m(g, rows, cols);
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> out(gb, cols);
  out += m.colwise().sum();
}

template <class T, class B = backend::Cpu>
void linear_backward(Tape<T, B>& t, Node<T, B>& n) {
  if constexpr (!B::is_host) {
    const TensorOf<T, B> none;
    const bool bias = n.in[2] >= 0;
    cuda::linear_backward(memory<B>::context(), t.value(n.in[0]), t.value(n.in[1]), n.grad,
                          t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none, t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none,
                          bias && t.wants_grad(n.in[2]) ? t.grad(n.in[2]) : none);
  } else {
  const TensorOf<T, B>& x = t.value(n.in[0]);
  const TensorOf<T, B>& w = t.value(n.in[1]);
  const TensorOf<T, B>& gy = n.grad;
  const index_t rows = x.rows(), in = x.cols(), out = w.dim(0);
  if (t.wants_grad(n.in[0]))  // gx += gy W
    gemm<T>(false, false, rows, in, out, T(1), gy.data(), out, w.data(), in, T(1), t.grad(n.in[0]).data(), in);
  if (t.wants_grad(n.in[1]))  // gW += gy^T x
    gemm<T>(true, false, out, in, rows, T(1), gy.data(), out, x.data(), in, T(1), t.grad(n.in[1]).data(), in);
  if (n.in[2] >= 0 && t.wants_grad(n.in[2])) accumulate_column_sums(t.grad(n.in[2]).data(), gy.data(), rows, out);
  }
}

template <class T, class B = backend::Cpu>
void matmul_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& a = t.value(n.in[0]);
  const TensorOf<T, B>& b = t.value(n.in[1]);
  const bool tb = n.integer[0] != 0;
  const index_t M = a.rows(), K = a.cols(), N = n.value.cols();
  const TensorOf<T, B>& g = n.grad;
  if (t.wants_grad(n.in[0]))  // gA += g op(B)^T
    gemm_on<B, T>(false, !tb, M, K, N, T(1), g.data(), N, b.data(), b.cols(), T(1), t.grad(n.in[0]).data(), K);
  if (t.wants_grad(n.in[1])) {
    if (tb)  // B is N x K: gB += g^T A
      gemm_on<B, T>(true, false, N, K, M, T(1), g.data(), N, a.data(), K, T(1), t.grad(n.in[1]).data(), K);
    else  // B is K x N: gB += A^T g
      gemm_on<B, T>(true, false, K, N, M, T(1), a.data(), K, g.data(), N, T(1), t.grad(n.in[1]).data(), N);
  }
}
}  // namespace detail

/// y = x W^T + b. x: [..., in], W: [out, in], b: [out] (optional). y: [..., out].
template <class T, class B = backend::Cpu>
Var<T, B> linear(Var<T, B> x, Var<T, B> w, Var<T, B> b = {}) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  const TensorOf<T, B>& wv = w.value();
  expect_rank("linear", "weight", wv.shape(), 2);
  if (xv.rank() < 1 || xv.cols() != wv.dim(1))
    throw ShapeError("linear: input " + xv.shape().str() + " does not match weight " + wv.shape().str() +
                     " (last input dim must equal weight dim 1)");
  if (b.valid()) expect_shape("linear", "bias", b.shape(), Shape{wv.dim(0)});
  Shape ys = xv.shape();
  ys[-1] = wv.dim(0);
  TensorOf<T, B> y = t.alloc(ys);
  if constexpr (!B::is_host) {
    cuda::linear_forward(memory<B>::context(), xv, wv, b.valid() ? b.value() : TensorOf<T, B>{}, y);
    if (b.valid()) return t.record("linear", y, {x, w, b}, &detail::linear_backward<T, B>);
    return t.record("linear", y, {x, w}, &detail::linear_backward<T, B>);
  } else {
  const index_t rows = xv.rows(), in = xv.cols(), out = wv.dim(0);
  gemm<T>(false, true, rows, out, in, T(1), xv.data(), in, wv.data(), in, T(0), y.data(), out);
  if (b.valid()) detail::add_bias_rows(y.data(), b.value().data(), rows, out);
  if (b.valid()) return t.record("linear", y, {x, w, b}, &detail::linear_backward<T, B>);
  return t.record("linear", y, {x, w}, &detail::linear_backward<T, B>);
  }
}

/// C = A op(B). A: [..., K] (leading dims flattened to M rows), B: [K, N], or
/// [N, K] with trans_b. C: [..., N].
template <class T, class B = backend::Cpu>
Var<T, B> matmul(Var<T, B> a, Var<T, B> b, bool trans_b = false) {
  Tape<T, B>& t = *a.tape;
  const TensorOf<T, B>& av = a.value();
  const TensorOf<T, B>& bv = b.value();
  expect_rank("matmul", "right operand", bv.shape(), 2);
  const index_t K = trans_b ? bv.dim(1) : bv.dim(0);
  const index_t N = trans_b ? bv.dim(0) : bv.dim(1);
  if (av.rank() < 1 || av.cols() != K)
    throw ShapeError("matmul: " + av.shape().str() + " times " + (trans_b ? "transposed " : "") + bv.shape().str() +
                     ": inner dimensions differ");
  Shape cs = av.shape();
  cs[-1] = N;
  TensorOf<T, B> c = t.alloc(cs);
  gemm_on<B, T>(false, trans_b, av.rows(), N, K, T(1), av.data(), K, bv.data(), bv.cols(), T(0), c.data(), N);
  Var<T, B> out = t.record("matmul", c, {a, b}, &detail::matmul_backward<T, B>);
  t.node(out).integer[0] = trans_b;
  return out;
}

}  // namespace metarec::ops
