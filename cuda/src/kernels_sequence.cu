/// @file kernels_sequence.cu
/// Attention, GRU step, full-catalogue CE chunk and top-K kernels. Attention
/// is the simple first version: one thread per (query row, head) runs the
/// whole row (scores, masked softmax, dropout, P V), and the backward splits
/// into a query pass (dS, dQ) and a key pass (dK, dV) so that no two threads
/// write the same output: no atomics, deterministic.
#include <cfloat>

#include "kernel_common.cuh"

namespace metarec::cuda::launch {
namespace {

template <class T>
__global__ void k_attention_forward(elem::AttnGeometry geo, bool causal, T scale, const T* q, const T* k, const T* v,
                                    T* P, T* Pd, double keep, std::uint64_t seed, T* out) {
  METAREC_GRID_STRIDE(x, geo.query_rows() * geo.H) {
    idx task, i;
    geo.locate(x / geo.H, x % geo.H, false, task, i);
    const std::uint64_t key = seed ^ (static_cast<std::uint64_t>(task) << 32);
    elem::attention_row_forward(geo.task(task), i, geo.d, geo.dh(), causal, scale, q, k, v, P, Pd, keep, key, out);
  }
}
template <class T>
__global__ void k_attention_backward_query(elem::AttnGeometry geo, T scale, const T* k, const T* v, const T* P,
                                           const T* Pd, const T* g, T* DS, T* gq) {
  METAREC_GRID_STRIDE(x, geo.query_rows() * geo.H) {
    idx task, i;
    geo.locate(x / geo.H, x % geo.H, false, task, i);
    elem::attention_row_backward_query(geo.task(task), i, geo.d, geo.dh(), scale, k, v, P, Pd, g, DS, gq);
  }
}
template <class T>
__global__ void k_attention_backward_key(elem::AttnGeometry geo, T scale, const T* q, const T* Pd, const T* DS,
                                         const T* g, T* gk, T* gv) {
  METAREC_GRID_STRIDE(x, geo.key_rows() * geo.H) {
    idx task, j;
    geo.locate(x / geo.H, x % geo.H, true, task, j);
    elem::attention_row_backward_key(geo.task(task), j, geo.d, geo.dh(), scale, q, Pd, DS, g, gk, gv);
  }
}

template <class T>
__global__ void k_gru_step_forward(const T* gi, const T* gh, const T* b_hh, const std::uint8_t* mask, T* y, T* gates,
                                   idx B, idx L, idx H, idx step) {
  METAREC_GRID_STRIDE(x, B * H) {
    const idx b = x / H, j = x % H, rs = b * L + step;
    const T* hp = step > 0 ? y + (rs - 1) * H : nullptr;
    if (mask && !mask[rs]) {  // padding carries the state
      y[rs * H + j] = hp ? hp[j] : T(0);
      continue;
    }
    y[rs * H + j] = elem::gru_gate_forward(gi + rs * 3 * H, step > 0 ? gh + b * 3 * H : nullptr, b_hh, hp, H, j,
                                           gates + rs * 4 * H);
  }
}
template <class T>
__global__ void k_gru_step_backward(const T* gates, const T* y, const std::uint8_t* mask, const T* gy, T* carry,
                                    T* d_hid, T* g_gi, idx B, idx L, idx H, idx step) {
  METAREC_GRID_STRIDE(x, B * H) {
    const idx b = x / H, j = x % H, rs = b * L + step;
    T* dg = d_hid + rs * 3 * H;
    if (mask && !mask[rs]) {  // h_t = h_{t-1}: the gradient passes through
      carry[b * H + j] += gy[rs * H + j];
      dg[j] = dg[H + j] = dg[2 * H + j] = T(0);
      continue;
    }
    elem::gru_gate_backward(gates + rs * 4 * H, step > 0 ? y + (rs - 1) * H : nullptr, gy[rs * H + j], H, j,
                            carry + b * H, dg, g_gi ? g_gi + rs * 3 * H : nullptr);
  }
}
template <class T>
__global__ void k_zero_strided(T* x, idx B, idx stride, idx len) {
  METAREC_GRID_STRIDE(e, B * len) x[(e / len) * stride + e % len] = T(0);
}

/// One block per row (cooperative): chunk max and sum of exp(z - max) by fixed
/// trees, then thread 0 folds them into the row's running (m, s).
template <class T>
__global__ void k_ce_chunk_stats(const T* z, idx cols, idx ldz, const std::int32_t* targets, idx first_col, double* m,
                                 double* s, double* target_logit) {
  __shared__ double part[kThreads];
  __shared__ double row_max;
  const idx r = blockIdx.x;
  const T* zr = z + r * ldz;
  METAREC_BLOCK_THREADS(tid) {
    double mx = -DBL_MAX;
    for (idx c = tid; c < cols; c += blockDim.x) mx = elem::max_(mx, static_cast<double>(zr[c]));
    part[tid] = mx;
  }
  block_tree<true>(part);
  METAREC_BLOCK_THREADS(tid) {
    if (tid == 0) row_max = part[0];
  }
  METAREC_BLOCK_THREADS(tid) {
    double acc = 0;
    for (idx c = tid; c < cols; c += blockDim.x) acc += elem::m_exp(static_cast<double>(zr[c]) - row_max);
    part[tid] = acc;
  }
  block_tree<false>(part);
  METAREC_BLOCK_THREADS(tid) {
    if (tid == 0) {
      elem::lse_combine(m[r], s[r], row_max, part[0]);
      const idx t = targets[r] - first_col;
      if (t >= 0 && t < cols) target_logit[r] = static_cast<double>(zr[t]);
    }
  }
}
__global__ void k_ce_finalize(const double* m, const double* s, const double* tl, double* lse, double* loss, idx rows) {
  METAREC_GRID_STRIDE(r, rows) {
    lse[r] = m[r] + elem::m_log(s[r]);
    loss[r] = lse[r] - tl[r];
  }
}
template <class T>
__global__ void k_ce_chunk_grad(T* z, idx rows, idx cols, idx ldz, const std::int32_t* targets, idx first_col,
                                const double* lse, double invN) {
  METAREC_GRID_STRIDE(e, rows * cols) {
    const idx r = e / cols, c = e % cols;
    T& v = z[r * ldz + c];
    v = elem::ce_grad(v, lse[r], targets[r] - first_col == c, invN);
  }
}

/// One block per row (cooperative): strided per-thread lists, then a merge
/// tree in global scratch (thread t's list at t * k, its merge buffer at (nt + t) * k).
template <class T>
__global__ void k_top_k(const T* scores, idx n_items, int k, std::int32_t* ids, T* sv, std::int32_t* si, int* sc) {
  const idx r = blockIdx.x;
  const int nt = static_cast<int>(blockDim.x);
  T* vals = sv + r * 2 * nt * k;
  std::int32_t* lid = si + r * 2 * nt * k;
  int* counts = sc + r * nt;
  METAREC_BLOCK_THREADS(tid) {
    counts[tid] = elem::topk_scan(scores + r * (n_items + 1), n_items, tid, nt, k, vals + static_cast<idx>(tid) * k,
                                  lid + static_cast<idx>(tid) * k);
  }
  for (int stride = 1; stride < nt; stride *= 2)
    METAREC_BLOCK_THREADS(tid) {
      elem::topk_tree_step(tid, stride, nt, k, vals, lid, counts, vals + static_cast<idx>(nt + tid) * k,
                           lid + static_cast<idx>(nt + tid) * k);
    }
  METAREC_BLOCK_THREADS(tid) {
    for (int m = tid; m < k; m += nt) ids[r * k + m] = m < counts[0] ? lid[m] : -1;
  }
}

}  // namespace

template <class T>
void attention_forward(Stream s, const elem::AttnGeometry& geo, idx packed_rows, bool causal, T scale, const T* q,
                       const T* k, const T* v, T* P, T* Pd, double keep, std::uint64_t seed, T* out) {
  METAREC_LAUNCH(k_attention_forward<T>, (geo.offsets ? packed_rows : geo.B * geo.Lq) * geo.H, s, geo, causal, scale, q, k, v, P, Pd, keep, seed,
                 out);
}
template <class T>
void attention_backward(Stream s, const elem::AttnGeometry& geo, idx packed_rows, T scale, const T* q, const T* k,
                        const T* v, const T* P, const T* Pd, const T* g, T* DS, T* gq, T* gk, T* gv) {
  const idx qn = (geo.offsets ? packed_rows : geo.B * geo.Lq) * geo.H;
  const idx kn = (geo.offsets ? packed_rows : geo.B * geo.Lk) * geo.H;
  if (gq || gk) METAREC_LAUNCH(k_attention_backward_query<T>, qn, s, geo, scale, k, v, P, Pd, g, DS, gq);
  if (gk || gv) METAREC_LAUNCH(k_attention_backward_key<T>, kn, s, geo, scale, q, Pd, DS, g, gk, gv);
}
template <class T>
void gru_step_forward(Stream s, const T* gi, const T* gh, const T* b_hh, const std::uint8_t* mask, T* y, T* gates,
                      idx B, idx L, idx H, idx step) {
  METAREC_LAUNCH(k_gru_step_forward<T>, B * H, s, gi, gh, b_hh, mask, y, gates, B, L, H, step);
}
template <class T>
void gru_step_backward(Stream s, const T* gates, const T* y, const std::uint8_t* mask, const T* gy, T* carry, T* d_hid,
                       T* g_gi, idx B, idx L, idx H, idx step) {
  METAREC_LAUNCH(k_gru_step_backward<T>, B * H, s, gates, y, mask, gy, carry, d_hid, g_gi, B, L, H, step);
}
template <class T>
void zero_strided(Stream s, T* x, idx B, idx stride, idx len) {
  METAREC_LAUNCH(k_zero_strided<T>, B * len, s, x, B, stride, len);
}
template <class T>
void ce_chunk_stats(Stream s, const T* z, idx rows, idx cols, idx ldz, const std::int32_t* targets, idx first_col,
                    double* m, double* sum, double* target_logit) {
  if (rows == 0) return;
  METAREC_LAUNCH_COOPERATIVE(k_ce_chunk_stats<T>, rows, kThreads, s, z, cols, ldz, targets, first_col, m, sum,
                             target_logit);
}
void ce_finalize(Stream s, const double* m, const double* sum, const double* tl, double* lse, double* loss, idx rows) {
  METAREC_LAUNCH(k_ce_finalize, rows, s, m, sum, tl, lse, loss, rows);
}
template <class T>
void ce_chunk_grad(Stream s, T* z, idx rows, idx cols, idx ldz, const std::int32_t* targets, idx first_col,
                   const double* lse, double invN) {
  METAREC_LAUNCH(k_ce_chunk_grad<T>, rows * cols, s, z, rows, cols, ldz, targets, first_col, lse, invN);
}
template <class T>
void top_k(Stream s, const T* scores, idx rows, idx n_items, int k, std::int32_t* ids, T* sv, std::int32_t* si,
           int* sc, int threads) {
  if (rows == 0 || k == 0) return;
  METAREC_LAUNCH_COOPERATIVE(k_top_k<T>, rows, threads, s, scores, n_items, k, ids, sv, si, sc);
}

#define METAREC_INSTANTIATE(T)                                                                                        \
  template void attention_forward<T>(Stream, const elem::AttnGeometry&, idx, bool, T, const T*, const T*, const T*, T*, T*, \
                                     double, std::uint64_t, T*);                                                       \
  template void attention_backward<T>(Stream, const elem::AttnGeometry&, idx, T, const T*, const T*, const T*, const T*,    \
                                      const T*, const T*, T*, T*, T*, T*);                                             \
  template void gru_step_forward<T>(Stream, const T*, const T*, const T*, const std::uint8_t*, T*, T*, idx, idx, idx,  \
                                    idx);                                                                              \
  template void gru_step_backward<T>(Stream, const T*, const T*, const std::uint8_t*, const T*, T*, T*, T*, idx, idx,  \
                                     idx, idx);                                                                        \
  template void zero_strided<T>(Stream, T*, idx, idx, idx);                                                            \
  template void ce_chunk_stats<T>(Stream, const T*, idx, idx, idx, const std::int32_t*, idx, double*, double*,         \
                                  double*);                                                                            \
  template void ce_chunk_grad<T>(Stream, T*, idx, idx, idx, const std::int32_t*, idx, const double*, double);          \
  template void top_k<T>(Stream, const T*, idx, idx, int, std::int32_t*, T*, std::int32_t*, int*, int);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda::launch
