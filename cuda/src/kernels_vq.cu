// Kernels of the quantizer ops and the meta-learners' reductions: grid-stride
// loops over the bodies of element_vq.hpp (C++17, no Eigen; also compiled by
// the host compiler for the emulation, emulation/kernels_vq.cpp).
#include "kernel_common.cuh"
#include "launch_vq.hpp"

namespace metarec::cuda::launch {

template <class T>
__global__ void k_vq_assign(const T* z, const T* c, idx R, idx H, idx K, idx dc, idx first, std::int32_t* codes,
                            T* dist, T* q) {
  const idx width = H * dc;
  METAREC_GRID_STRIDE(t, H * R) {
    const idx h = t / R, r = t % R;
    T* qr = q + r * width + h * dc;
    if (r < first) {
      codes[t] = -1;
      dist[t] = T(0);
      for (idx e = 0; e < dc; ++e) qr[e] = T(0);
      continue;
    }
    const T* ch = c + h * K * dc;
    const std::int32_t k = elem::vq_nearest_row(z + r * width + h * dc, ch, K, dc, dist + t);
    codes[t] = k;
    for (idx e = 0; e < dc; ++e) qr[e] = ch[k * dc + e];
  }
}
template <class T>
__global__ void k_vq_commit_grad(T a, const T* z, const T* q, T* gz, idx begin, idx end) {
  METAREC_GRID_STRIDE(i, end - begin) elem::vq_commit_grad_at(begin + i, a, z, q, gz);
}
template <class T>
__global__ void k_vq_codebook_grad(T a, const T* z, const T* q, const std::int32_t* codes, idx first, idx R, idx H,
                                   idx K, idx dc, T* gc) {
  METAREC_GRID_STRIDE(t, H * dc) elem::vq_codebook_grad_column(t / dc, t % dc, a, z, q, codes, first, R, K, dc, H * dc, gc);
}
// EMA: counts per head (one thread per head, rows in order), sums per (head, column) (rows in
// order, ordered and race-free as the codebook gradient), the cluster sizes per head, then
// every codeword element. The CPU's ema_update does the same sums in the same orders.
template <class T>
__global__ void k_vq_ema_counts(const std::int32_t* codes, idx R, idx H, idx K, T* cnt) {
  METAREC_GRID_STRIDE(h, H)
  for (idx r = 1; r < R; ++r) cnt[h * K + codes[h * R + r]] += T(1);
}
template <class T>
__global__ void k_vq_ema_sums(const T* z, const std::int32_t* codes, idx R, idx H, idx K, idx dc, T* s) {
  METAREC_GRID_STRIDE(t, H * dc) {
    const idx h = t / dc, e = t % dc;
    for (idx r = 1; r < R; ++r) s[(h * K + codes[h * R + r]) * dc + e] += z[r * H * dc + h * dc + e];
  }
}
template <class T>
__global__ void k_vq_ema_sizes(const T* cnt, idx H, idx K, double g, T* N, double* total) {
  METAREC_GRID_STRIDE(h, H) total[h] = elem::vq_ema_counts_head(N + h * K, cnt + h * K, K, g);
}
template <class T>
__global__ void k_vq_ema_codewords(const T* N, const double* total, const T* s, idx H, idx K, idx dc, double g,
                                   double eps, T* M, T* c) {
  METAREC_GRID_STRIDE(t, H * K * dc) {
    const idx hj = t / dc, h = hj / K;
    elem::vq_ema_codeword_at(N[hj], total[h], K, g, eps, M + t, s[t], c + t);
  }
}
template <class T>
__global__ void k_add_rows_from(const T* a, const T* b, T* y, idx head, idx total) {
  METAREC_GRID_STRIDE(i, total) elem::add_rows_from_at(i, head, a, b, y);
}
template <class T>
__global__ void k_axpy(T alpha, const T* x, T* y, idx n) {
  METAREC_GRID_STRIDE(i, n) elem::axpy_at(i, alpha, x, y);
}
/// One block (cooperative): strided partial sums in double, then fixed trees.
template <class T>
__global__ void k_dot3(const T* a, const T* b, idx n, double* out) {
  __shared__ double ab[kThreads];
  __shared__ double aa[kThreads];
  __shared__ double bb[kThreads];
  METAREC_BLOCK_THREADS(tid) {
    double sab = 0, saa = 0, sbb = 0;
    for (idx i = tid; i < n; i += blockDim.x) {
      const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
      sab += x * y;
      saa += x * x;
      sbb += y * y;
    }
    ab[tid] = sab;
    aa[tid] = saa;
    bb[tid] = sbb;
  }
  block_tree<false>(ab);
  block_tree<false>(aa);
  block_tree<false>(bb);
  METAREC_BLOCK_THREADS(tid) {
    if (tid == 0) {
      out[0] = ab[0];
      out[1] = aa[0];
      out[2] = bb[0];
    }
  }
}

template <class T>
void vq_assign(Stream s, const T* z, const T* c, idx R, idx H, idx K, idx dc, idx first, std::int32_t* codes, T* dist,
               T* q) {
  METAREC_LAUNCH(k_vq_assign<T>, H * R, s, z, c, R, H, K, dc, first, codes, dist, q);
}
template <class T>
void vq_commit_grad(Stream s, T a, const T* z, const T* q, T* gz, idx begin, idx end) {
  METAREC_LAUNCH(k_vq_commit_grad<T>, end - begin, s, a, z, q, gz, begin, end);
}
template <class T>
void vq_codebook_grad(Stream s, T a, const T* z, const T* q, const std::int32_t* codes, idx first, idx R, idx H, idx K,
                      idx dc, T* gc) {
  METAREC_LAUNCH(k_vq_codebook_grad<T>, H * dc, s, a, z, q, codes, first, R, H, K, dc, gc);
}
template <class T>
void vq_ema(Stream st, const T* z, const std::int32_t* codes, idx R, idx H, idx K, idx dc, double g, double eps, T* cnt,
            T* s, double* total, T* N, T* M, T* c) {
  METAREC_LAUNCH(k_vq_ema_counts<T>, H, st, codes, R, H, K, cnt);
  METAREC_LAUNCH(k_vq_ema_sums<T>, H * dc, st, z, codes, R, H, K, dc, s);
  METAREC_LAUNCH(k_vq_ema_sizes<T>, H, st, cnt, H, K, g, N, total);
  METAREC_LAUNCH(k_vq_ema_codewords<T>, H * K * dc, st, N, total, s, H, K, dc, g, eps, M, c);
}
template <class T>
void add_rows_from(Stream s, const T* a, const T* b, T* y, idx head, idx total) {
  METAREC_LAUNCH(k_add_rows_from<T>, total, s, a, b, y, head, total);
}
template <class T>
void axpy(Stream s, T alpha, const T* x, T* y, idx n) {
  METAREC_LAUNCH(k_axpy<T>, n, s, alpha, x, y, n);
}
template <class T>
void dot3(Stream s, const T* a, const T* b, idx n, double* out) {
  METAREC_LAUNCH_COOPERATIVE(k_dot3<T>, 1, kThreads, s, a, b, n, out);
}

#define METAREC_INSTANTIATE(T)                                                                                      \
  template void vq_assign<T>(Stream, const T*, const T*, idx, idx, idx, idx, idx, std::int32_t*, T*, T*);          \
  template void vq_commit_grad<T>(Stream, T, const T*, const T*, T*, idx, idx);                                    \
  template void vq_codebook_grad<T>(Stream, T, const T*, const T*, const std::int32_t*, idx, idx, idx, idx, idx, T*); \
  template void vq_ema<T>(Stream, const T*, const std::int32_t*, idx, idx, idx, idx, double, double, T*, T*, double*, \
                          T*, T*, T*);                                                                            \
  template void add_rows_from<T>(Stream, const T*, const T*, T*, idx, idx);                                        \
  template void axpy<T>(Stream, T, const T*, T*, idx);                                                             \
  template void dot3<T>(Stream, const T*, const T*, idx, double*);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda::launch
