#pragma once
/// @file element_vq.hpp
/// Per-element / per-row bodies of the vector-quantizer ops
/// (quantizers/vq_ops.hpp) and of the meta-learners' parameter arithmetic,
/// written once as METAREC_HD inline functions on raw pointers: the kernels
/// of cuda/src/kernels_vq.cu loop over them, and the CPU ops call the same
/// bodies where one serves both sides (same expression, same bits).
/// No Eigen, no CUDA headers (nvcc reads this file as C++17).
#include <cstdint>

#include "metarec/cuda/element_ops.hpp"

namespace metarec::cuda::elem {

/// Nearest codeword of one head row z[0, dc) among c [K, dc] (row stride dc),
/// the first one on ties, by the CPU's criterion ||c_j||^2 - 2 <z, c_j>
/// (numeric::nearest_centroids; its GEMM sums in another order, so a near tie
/// may resolve differently), then the exact squared distance of the winner.
template <class T>
METAREC_HD inline std::int32_t vq_nearest_row(const T* z, const T* c, idx K, idx dc, T* dist) {
  idx best = 0;
  T bv = T(0);
  for (idx j = 0; j < K; ++j) {
    const T* cj = c + j * dc;
    T norm = 0, dot = 0;
    for (idx e = 0; e < dc; ++e) {
      norm += cj[e] * cj[e];
      dot += z[e] * cj[e];
    }
    const T v = T(-2) * dot + norm;
    if (j == 0 || v < bv) {
      bv = v;
      best = j;
    }
  }
  const T* cb = c + best * dc;
  T acc = 0;
  for (idx e = 0; e < dc; ++e) acc += (z[e] - cb[e]) * (z[e] - cb[e]);
  *dist = acc;
  return static_cast<std::int32_t>(best);
}

/// Commitment gradient at element i (vq_loss_backward, z part): gz[i] += a (z[i] - q[i]).
template <class T>
METAREC_HD inline void vq_commit_grad_at(idx i, T a, const T* z, const T* q, T* gz) {
  gz[i] += a * (z[i] - q[i]);
}

/// Codebook gradient of column e of head h (vq_loss_backward, codebook part):
/// for every row r in [first, R) in order, gc[(h K + code) dc + e] += a (q - z).
/// One caller per (h, e) owns that column of every codeword of head h: race-free and ordered.
template <class T>
METAREC_HD inline void vq_codebook_grad_column(idx h, idx e, T a, const T* z, const T* q, const std::int32_t* codes,
                                               idx first, idx R, idx K, idx dc, idx width, T* gc) {
  for (idx r = first; r < R; ++r) {
    const idx j = codes[h * R + r];
    const idx at = r * width + h * dc + e;
    gc[(h * K + j) * dc + e] += a * (q[at] - z[at]);
  }
}

/// add_rows_from forward at element i: y = a + b from element `head` on, y = a before it.
template <class T>
METAREC_HD inline void add_rows_from_at(idx i, idx head, const T* a, const T* b, T* y) {
  y[i] = i < head ? a[i] : a[i] + b[i];
}

/// EMA cluster sizes of head h (MultiHeadVQ::ema_update): N_j <- g N_j + (1-g) n_j
/// for every code j in order; returns sum_j N_j (in double, in that order).
template <class T>
METAREC_HD inline double vq_ema_counts_head(T* N, const T* cnt, idx K, double g) {
  double total = 0;
  for (idx j = 0; j < K; ++j) {
    N[j] = static_cast<T>(g * N[j] + (1 - g) * cnt[j]);
    total += static_cast<double>(N[j]);
  }
  return total;
}

/// EMA sum and codeword element (j, e) given head total: M <- g M + (1-g) s, c = M / smoothed N_j.
template <class T>
METAREC_HD inline void vq_ema_codeword_at(T N_j, double total, idx K, double g, double eps, T* M, T s, T* c) {
  const double smoothed = (static_cast<double>(N_j) + eps) / (total + static_cast<double>(K) * eps) * total;
  *M = static_cast<T>(g * *M + (1 - g) * s);
  *c = static_cast<T>(*M / smoothed);
}

/// y[i] += alpha x[i] (the meta-learners' parameter arithmetic).
template <class T>
METAREC_HD inline void axpy_at(idx i, T alpha, const T* x, T* y) {
  y[i] += alpha * x[i];
}

}  // namespace metarec::cuda::elem
