#pragma once
/// @file fusion.hpp
/// Small ops of MISSRec (Wang et al., ACM MM 2023, arXiv 2308.11175):
/// - dynamic_fusion: per-candidate modality weighting of scores,
///   s = sum_m softmax_m(beta * s_m) * s_m, over the modalities an item has;
/// - mask_rows: zeroes the rows of missing modalities (a missing modality is
///   a zero token, not the adaptor's bias);
/// - segment_mean: mean of each packed segment's rows (the pooled interest
///   memory of the diversity regulariser).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

/// Largest number of modalities dynamic_fusion accepts (weights live on the stack).
inline constexpr index_t max_fused_modalities = 64;

namespace detail {

/// Softmax weights w_m of one (row, candidate) over present modalities; returns
/// the fused score. `s` is strided by C (layout [M, C] of one row).
template <class T, class B = backend::Cpu>
T fuse_one(const T* s, index_t M, index_t C, T beta, const std::uint8_t* present, index_t ldp, T* w) {
  T mx = -std::numeric_limits<T>::infinity();
  for (index_t m = 0; m < M; ++m)
    if (!present || present[m * ldp]) mx = std::max(mx, beta * s[m * C]);
  if (mx == -std::numeric_limits<T>::infinity()) {
    std::fill_n(w, M, T(0));
    return T(0);
  }
  T total = 0;
  for (index_t m = 0; m < M; ++m) total += (w[m] = (!present || present[m * ldp]) ? std::exp(beta * s[m * C] - mx) : T(0));
  T y = 0;
  for (index_t m = 0; m < M; ++m) y += (w[m] /= total) * s[m * C];
  return y;
}

template <class T, class B = backend::Cpu>
void dynamic_fusion_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& sv = t.value(n.in[0]);
  const index_t N = sv.dim(0), M = sv.dim(1), C = sv.dim(2), ldp = n.integer[0];
  const auto* present = static_cast<const std::uint8_t*>(n.ptr[0]);
  const T beta = t.value(n.in[1])[0];
  const T* g = n.grad.data();
  const T* y = n.value.data();
  T* gs = t.wants_grad(n.in[0]) ? t.grad(n.in[0]).data() : nullptr;
  const bool want_beta = t.wants_grad(n.in[1]);
  double* row_beta = want_beta ? t.template alloc_n<double>(N) : nullptr;
  METAREC_PARALLEL_FOR(N * M * C)
  for (index_t i = 0; i < N; ++i) {
    T w[max_fused_modalities];
    double acc = 0;
    for (index_t c = 0; c < C; ++c) {
      const T* s = sv.data() + i * M * C + c;
      fuse_one(s, M, C, beta, present ? present + c : nullptr, ldp, w);
      const T yc = y[i * C + c], gc = g[i * C + c];
      // dy/ds_m = w_m (1 + beta (s_m - y));  dy/dbeta = sum_m w_m (s_m - y)^2
      for (index_t m = 0; m < M; ++m) {
        const T dev = s[m * C] - yc;
        if (gs) gs[i * M * C + m * C + c] += gc * w[m] * (T(1) + beta * dev);
        acc += static_cast<double>(gc * w[m] * dev * dev);
      }
    }
    if (row_beta) row_beta[i] = acc;
  }
  if (want_beta) {
    double total = 0;
    for (index_t i = 0; i < N; ++i) total += row_beta[i];  // fixed order: deterministic
    t.grad(n.in[1])[0] += static_cast<T>(total);
  }
}

template <class T, class B = backend::Cpu>
void mask_rows_backward(Tape<T, B>& t, Node<T, B>& n) {
  const auto* keep = static_cast<const std::uint8_t*>(n.ptr[0]);
  const index_t rows = n.value.rows(), d = n.value.cols();
  T* gx = t.grad(n.in[0]).data();
  const T* g = n.grad.data();
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t r = 0; r < rows; ++r)
    if (keep[r])
      for (index_t j = 0; j < d; ++j) gx[r * d + j] += g[r * d + j];
}

template <class T, class B = backend::Cpu>
void segment_mean_backward(Tape<T, B>& t, Node<T, B>& n) {
  const auto* off = static_cast<const std::int32_t*>(n.ptr[0]);
  const index_t S = n.value.dim(0), d = n.value.dim(1);
  T* gx = t.grad(n.in[0]).data();
  const T* g = n.grad.data();
  METAREC_PARALLEL_FOR(t.value(n.in[0]).size())
  for (index_t s = 0; s < S; ++s) {
    const index_t a = off[s], b = off[s + 1];
    if (a == b) continue;
    const T inv = T(1) / static_cast<T>(b - a);
    for (index_t r = a; r < b; ++r)
      for (index_t j = 0; j < d; ++j) gx[r * d + j] += g[s * d + j] * inv;
  }
}

}  // namespace detail

/// MISSRec dynamic fusion. scores [N, M, C] (modality m's score of candidate c
/// for row i), beta: one-element learnable factor. present (optional, [M, C]
/// with row stride ldp): modality m of candidate c exists; absent modalities
/// get weight 0 and a candidate with none scores 0. Returns [N, C].
template <class T, class B = backend::Cpu>
Var<T, B> dynamic_fusion(Var<T, B> scores, Var<T, B> beta, const std::uint8_t* present = nullptr, index_t ldp = 0) {
  Tape<T, B>& t = *scores.tape;
  const TensorOf<T, B>& sv = scores.value();
  expect_rank("dynamic_fusion", "scores", sv.shape(), 3);
  if (beta.value().size() != 1)
    throw ShapeError("dynamic_fusion: beta must have one element, got shape " + beta.shape().str());
  const index_t N = sv.dim(0), M = sv.dim(1), C = sv.dim(2);
  if (M < 1 || M > max_fused_modalities)
    throw ShapeError("dynamic_fusion: " + std::to_string(M) + " modalities, expected 1.." +
                     std::to_string(max_fused_modalities) + " (scores " + sv.shape().str() + ")");
  if (present && ldp < C)
    throw ShapeError("dynamic_fusion: presence row stride " + std::to_string(ldp) + " < " + std::to_string(C) +
                     " candidates");
  const T b = beta.value()[0];
  TensorOf<T, B> y = t.alloc(Shape{N, C});
  METAREC_PARALLEL_FOR(N * M * C)
  for (index_t i = 0; i < N; ++i) {
    T w[max_fused_modalities];
    for (index_t c = 0; c < C; ++c)
      y[i * C + c] = detail::fuse_one(sv.data() + i * M * C + c, M, C, b, present ? present + c : nullptr, ldp, w);
  }
  Var<T, B> out = t.record("dynamic_fusion", y, {scores, beta}, &detail::dynamic_fusion_backward<T, B>);
  t.node(out).ptr[0] = present;
  t.node(out).integer[0] = ldp;
  return out;
}

/// y = x with the rows r where keep[r] == 0 set to zero. x: [..., d]; keep: one flag per row (borrowed).
template <class T, class B = backend::Cpu>
Var<T, B> mask_rows(Var<T, B> x, const std::uint8_t* keep) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  if (xv.rank() < 1) throw ShapeError("mask_rows: input must have rank >= 1, got a scalar");
  if (!keep && xv.rows() > 0) throw ShapeError("mask_rows: keep flags are null");
  const index_t rows = xv.rows(), d = xv.cols();
  TensorOf<T, B> y = t.alloc(xv.shape());
  METAREC_PARALLEL_FOR(rows * d)
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < d; ++j) y[r * d + j] = keep[r] ? xv[r * d + j] : T(0);
  Var<T, B> out = t.record("mask_rows", y, {x}, &detail::mask_rows_backward<T, B>);
  t.node(out).ptr[0] = keep;
  return out;
}

/// Mean of the rows of each segment: x [N, d], offsets [S + 1] (0 .. N,
/// non-decreasing, borrowed) -> [S, d]; an empty segment gives a zero row.
template <class T, class B = backend::Cpu>
Var<T, B> segment_mean(Var<T, B> x, const std::int32_t* offsets, index_t segments) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  expect_rank("segment_mean", "input", xv.shape(), 2);
  if (segments < 0 || !offsets || offsets[0] != 0 || offsets[segments] != xv.dim(0))
    throw ShapeError("segment_mean: offsets must run from 0 to the " + std::to_string(xv.dim(0)) + " rows");
  const index_t d = xv.dim(1);
  TensorOf<T, B> y = t.zeros(Shape{segments, d});
  for (index_t s = 0; s < segments; ++s) {
    const index_t a = offsets[s], b = offsets[s + 1];
    if (b < a) throw ShapeError("segment_mean: offsets decrease at segment " + std::to_string(s));
    if (a == b) continue;
    const T inv = T(1) / static_cast<T>(b - a);
    for (index_t r = a; r < b; ++r)
      for (index_t j = 0; j < d; ++j) y[s * d + j] += xv[r * d + j] * inv;
  }
  Var<T, B> out = t.record("segment_mean", y, {x}, &detail::segment_mean_backward<T, B>);
  t.node(out).ptr[0] = offsets;
  return out;
}

}  // namespace metarec::ops
