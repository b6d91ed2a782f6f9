#pragma once
/// @file normalization.hpp
/// layer_norm (Ba, Kiros & Hinton 2016) and l2_normalize over the last dim.
/// layer_norm is fused: the forward saves only the per-row mean and 1/std,
/// the backward recomputes x-hat on the fly and produces dx, dgamma and dbeta
/// in one pass. dgamma/dbeta are summed over fixed blocks of rows and the
/// block sums added in order, so the result does not depend on thread count.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <string>

#include "metarec/autograd/ops/softmax.hpp"  // RowMap, expect_last_dim
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T, class B = backend::Cpu>
void layer_norm_backward(Tape<T, B>& t, Node<T, B>& n) {
  if constexpr (!B::is_host) {
    const TensorOf<T, B> none;
    cuda::layer_norm_backward(memory<B>::context(), t.value(n.in[0]), t.value(n.in[1]), n.saved[0], n.saved[1],
                              n.grad, t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none,
                              t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none,
                              t.wants_grad(n.in[2]) ? t.grad(n.in[2]) : none);
  } else {
  const TensorOf<T, B>& xv = t.value(n.in[0]);
  const index_t rows = xv.rows(), d = xv.cols();
  const T* x = xv.data();
  const T* g = n.grad.data();
  const T* gamma = t.value(n.in[1]).data();
  const T* mean = n.saved[0].data();
  const T* rstd = n.saved[1].data();
  const bool want_x = t.wants_grad(n.in[0]);
  const bool want_affine = t.wants_grad(n.in[1]) || t.wants_grad(n.in[2]);
  T* gx = want_x ? t.grad(n.in[0]).data() : nullptr;

  constexpr index_t block = 32;  // rows per partial dgamma/dbeta sum
  const index_t blocks = (rows + block - 1) / block;
  // partial[b] = [sum g*xhat (d), sum g (d)] over the rows of block b
  T* partial = want_affine ? t.template alloc_n<T>(blocks * 2 * d) : nullptr;
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t b = 0; b < blocks; ++b) {
    RowMap<T> pg(partial ? partial + b * 2 * d : nullptr, partial ? d : 0);
    RowMap<T> pb(partial ? partial + b * 2 * d + d : nullptr, partial ? d : 0);
    if (partial) {
      pg.setZero();
      pb.setZero();
    }
    for (index_t r = b * block; r < std::min(rows, (b + 1) * block); ++r) {
      ConstRowMap<T> xr(x + r * d, d), gr(g + r * d, d), gm(gamma, d);
      const T mu = mean[r], rs = rstd[r];
      if (partial) {
        pg += gr * (xr - mu) * rs;
        pb += gr;
      }
      if (gx) {
        // dx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = g * gamma
        const T a = (gr * gm).sum() / T(d);
        const T c = (gr * gm * (xr - mu)).sum() * rs / T(d);
        RowMap<T>(gx + r * d, d) += rs * (gr * gm - a - (xr - mu) * rs * c);
      }
    }
  }
  if (!partial) return;
  for (int k = 1; k <= 2; ++k) {
    if (!t.wants_grad(n.in[static_cast<std::size_t>(k)])) continue;
    RowMap<T> out(t.grad(n.in[static_cast<std::size_t>(k)]).data(), d);
    for (index_t b = 0; b < blocks; ++b) out += ConstRowMap<T>(partial + b * 2 * d + (k - 1) * d, d);
  }
  }
}

template <class T, class B = backend::Cpu>
void l2_normalize_backward(Tape<T, B>& t, Node<T, B>& n) {
  // norm > eps: gx = (g - y <g, y>) / norm; otherwise the clamp is constant: gx = g / eps
  const index_t rows = n.value.rows(), d = n.value.cols();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  const T* norm = n.saved[0].data();
  const T eps = static_cast<T>(n.real[0]);
  T* gx = t.grad(n.in[0]).data();
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t r = 0; r < rows; ++r) {
    ConstRowMap<T> yr(y + r * d, d), gr(g + r * d, d);
    RowMap<T> out(gx + r * d, d);
    if (norm[r] > eps) out += (gr - yr * (gr * yr).sum()) / norm[r];
    else out += gr / eps;
  }
}
}  // namespace detail

/// y = (x - mean) / sqrt(var + eps) * gamma + beta over the last dimension
/// (biased variance, as PyTorch). x: [..., d]; gamma, beta: [d].
template <class T, class B = backend::Cpu>
Var<T, B> layer_norm(Var<T, B> x, Var<T, B> gamma, Var<T, B> beta, double eps = 1e-5) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  detail::expect_last_dim("layer_norm", xv.shape());
  const index_t rows = xv.rows(), d = xv.cols();
  expect_shape("layer_norm", "gamma", gamma.shape(), Shape{d});
  expect_shape("layer_norm", "beta", beta.shape(), Shape{d});
  if (!(eps > 0)) throw ConfigError("layer_norm: eps = " + std::to_string(eps) + " must be > 0");
  TensorOf<T, B> y = t.alloc(xv.shape());
  TensorOf<T, B> mean = t.alloc(Shape{rows}), rstd = t.alloc(Shape{rows});
  if constexpr (!B::is_host) {
    cuda::layer_norm_forward(memory<B>::context(), xv, gamma.value(), beta.value(), eps, y, mean, rstd);
  } else {
    const T* xp = xv.data();
    const T* gp = gamma.value().data();
    const T* bp = beta.value().data();
    T* yp = y.data();
    METAREC_PARALLEL_FOR(rows * d)
    for (index_t r = 0; r < rows; ++r) {
      detail::ConstRowMap<T> xr(xp + r * d, d), gm(gp, d), bt(bp, d);
      const T mu = xr.sum() / T(d);
      const T var = (xr - mu).square().sum() / T(d);  // two-pass: no cancellation
      const T rs = T(1) / std::sqrt(var + static_cast<T>(eps));
      detail::RowMap<T>(yp + r * d, d) = (xr - mu) * rs * gm + bt;
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
  Var<T, B> out = t.record("layer_norm", y, {x, gamma, beta}, &detail::layer_norm_backward<T, B>);
  Node<T, B>& n = t.node(out);
  n.saved[0] = mean;
  n.saved[1] = rstd;
  n.real[0] = eps;
  return out;
}

/// y = x / max(||x||_2, eps) over the last dimension (torch.nn.functional.normalize).
template <class T, class B = backend::Cpu>
Var<T, B> l2_normalize(Var<T, B> x, double eps = 1e-12) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  detail::expect_last_dim("l2_normalize", xv.shape());
  if (!(eps > 0)) throw ConfigError("l2_normalize: eps = " + std::to_string(eps) + " must be > 0");
  const index_t rows = xv.rows(), d = xv.cols();
  TensorOf<T, B> y = t.alloc(xv.shape()), norm = t.alloc(Shape{rows});
  const T* xp = xv.data();
  T* yp = y.data();
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t r = 0; r < rows; ++r) {
    detail::ConstRowMap<T> xr(xp + r * d, d);
    const T nr = std::sqrt(xr.square().sum());
    norm[r] = nr;
    detail::RowMap<T>(yp + r * d, d) = xr / std::max(nr, static_cast<T>(eps));
  }
  Var<T, B> out = t.record("l2_normalize", y, {x}, &detail::l2_normalize_backward<T, B>);
  t.node(out).saved[0] = norm;
  t.node(out).real[0] = eps;
  return out;
}

}  // namespace metarec::ops
