#pragma once
/// @file linear.hpp
/// Dense products: linear (x W^T + b, PyTorch weight layout) and matmul.
#include "metarec/autograd/tape.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T>
void add_bias_rows(T* y, const T* b, index_t rows, index_t cols) {
  METAREC_PARALLEL_FOR(rows * cols)
  for (index_t r = 0; r < rows; ++r) {
    T* yr = y + r * cols;
    for (index_t c = 0; c < cols; ++c) yr[c] += b[c];
  }
}
/// g_b += column sums of g (rows x cols).
template <class T>
void accumulate_column_sums(T* gb, const T* g, index_t rows, index_t cols) {
  Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> m(g, rows, cols);
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> out(gb, cols);
  out += m.colwise().sum();
}

template <class T>
void linear_backward(Tape<T>& t, Node<T>& n) {
  const Tensor<T>& x = t.value(n.in[0]);
  const Tensor<T>& w = t.value(n.in[1]);
  const Tensor<T>& gy = n.grad;
  const index_t rows = x.rows(), in = x.cols(), out = w.dim(0);
  if (t.wants_grad(n.in[0]))  // gx += gy W
    gemm<T>(false, false, rows, in, out, T(1), gy.data(), out, w.data(), in, T(1), t.grad(n.in[0]).data(), in);
  if (t.wants_grad(n.in[1]))  // gW += gy^T x
    gemm<T>(true, false, out, in, rows, T(1), gy.data(), out, x.data(), in, T(1), t.grad(n.in[1]).data(), in);
  if (n.in[2] >= 0 && t.wants_grad(n.in[2])) accumulate_column_sums(t.grad(n.in[2]).data(), gy.data(), rows, out);
}

template <class T>
void matmul_backward(Tape<T>& t, Node<T>& n) {
  const Tensor<T>& a = t.value(n.in[0]);
  const Tensor<T>& b = t.value(n.in[1]);
  const bool tb = n.integer[0] != 0;
  const index_t M = a.rows(), K = a.cols(), N = n.value.cols();
  const Tensor<T>& g = n.grad;
  if (t.wants_grad(n.in[0]))  // gA += g op(B)^T
    gemm<T>(false, !tb, M, K, N, T(1), g.data(), N, b.data(), b.cols(), T(1), t.grad(n.in[0]).data(), K);
  if (t.wants_grad(n.in[1])) {
    if (tb)  // B is N x K: gB += g^T A
      gemm<T>(true, false, N, K, M, T(1), g.data(), N, a.data(), K, T(1), t.grad(n.in[1]).data(), K);
    else  // B is K x N: gB += A^T g
      gemm<T>(true, false, K, N, M, T(1), a.data(), K, g.data(), N, T(1), t.grad(n.in[1]).data(), N);
  }
}
}  // namespace detail

/// y = x W^T + b. x: [..., in], W: [out, in], b: [out] (optional). y: [..., out].
template <class T>
Var<T> linear(Var<T> x, Var<T> w, Var<T> b = {}) {
  Tape<T>& t = *x.tape;
  const Tensor<T>& xv = x.value();
  const Tensor<T>& wv = w.value();
  expect_rank("linear", "weight", wv.shape(), 2);
  if (xv.rank() < 1 || xv.cols() != wv.dim(1))
    throw ShapeError("linear: input " + xv.shape().str() + " does not match weight " + wv.shape().str() +
                     " (last input dim must equal weight dim 1)");
  if (b.valid()) expect_shape("linear", "bias", b.shape(), Shape{wv.dim(0)});
  Shape ys = xv.shape();
  ys[-1] = wv.dim(0);
  Tensor<T> y = t.alloc(ys);
  const index_t rows = xv.rows(), in = xv.cols(), out = wv.dim(0);
  gemm<T>(false, true, rows, out, in, T(1), xv.data(), in, wv.data(), in, T(0), y.data(), out);
  if (b.valid()) detail::add_bias_rows(y.data(), b.value().data(), rows, out);
  if (b.valid()) return t.record("linear", y, {x, w, b}, &detail::linear_backward<T>);
  return t.record("linear", y, {x, w}, &detail::linear_backward<T>);
}

/// C = A op(B). A: [..., K] (leading dims flattened to M rows), B: [K, N], or
/// [N, K] with trans_b. C: [..., N].
template <class T>
Var<T> matmul(Var<T> a, Var<T> b, bool trans_b = false) {
  Tape<T>& t = *a.tape;
  const Tensor<T>& av = a.value();
  const Tensor<T>& bv = b.value();
  expect_rank("matmul", "right operand", bv.shape(), 2);
  const index_t K = trans_b ? bv.dim(1) : bv.dim(0);
  const index_t N = trans_b ? bv.dim(0) : bv.dim(1);
  if (av.rank() < 1 || av.cols() != K)
    throw ShapeError("matmul: " + av.shape().str() + " times " + (trans_b ? "transposed " : "") + bv.shape().str() +
                     ": inner dimensions differ");
  Shape cs = av.shape();
  cs[-1] = N;
  Tensor<T> c = t.alloc(cs);
  gemm<T>(false, trans_b, av.rows(), N, K, T(1), av.data(), K, bv.data(), bv.cols(), T(0), c.data(), N);
  Var<T> out = t.record("matmul", c, {a, b}, &detail::matmul_backward<T>);
  t.node(out).integer[0] = trans_b;
  return out;
}

}  // namespace metarec::ops
