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
  template void add_rows_from<T>(Stream, const T*, const T*, T*, idx, idx);                                        \
  template void axpy<T>(Stream, T, const T*, T*, idx);                                                             \
  template void dot3<T>(Stream, const T*, const T*, idx, double*);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda::launch
