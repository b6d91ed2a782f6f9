/// @file kernels_pointwise.cu
/// Elementwise, reduction, activation, softmax, normalisation, bias and
/// embedding kernels: grid-stride loops over the bodies in element_ops.hpp.
#include "kernel_common.cuh"

namespace metarec::cuda::launch {
namespace {

template <class T>
__global__ void k_binary_forward(elem::Binary op, const T* a, const T* b, T* y, idx total, idx period) {
  METAREC_GRID_STRIDE(i, total) y[i] = elem::binary_apply(op, a[i], b[i % period]);
}
template <class T>
__global__ void k_binary_grad_a(elem::Binary op, const T* g, const T* b, T* ga, idx total, idx period) {
  METAREC_GRID_STRIDE(i, total) ga[i] += elem::binary_grad_a(op, g, b, i, period);
}
template <class T>
__global__ void k_binary_grad_b(elem::Binary op, const T* g, const T* a, T* gb, idx total, idx period) {
  METAREC_GRID_STRIDE(j, period) gb[j] += elem::binary_grad_b(op, g, a, j, period, total);
}
template <class T>
__global__ void k_scale(const T* x, T s, T* y, idx n, bool accumulate) {
  METAREC_GRID_STRIDE(i, n) y[i] = accumulate ? y[i] + s * x[i] : s * x[i];
}
template <class T>
__global__ void k_add_scalar_grad(const T* g, double factor, T* gx, idx n) {
  const T v = static_cast<T>(static_cast<double>(g[0]) * factor);
  METAREC_GRID_STRIDE(i, n) gx[i] += v;
}
/// One block (cooperative): strided partial sums in double, then a fixed tree.
template <class T>
__global__ void k_sum(const T* x, idx n, double factor, T* y) {
  __shared__ double part[kThreads];
  METAREC_BLOCK_THREADS(tid) {
    double acc = 0;
    for (idx i = tid; i < n; i += blockDim.x) acc += static_cast<double>(x[i]);
    part[tid] = acc;
  }
  block_tree<false>(part);
  METAREC_BLOCK_THREADS(tid) {
    if (tid == 0) y[0] = static_cast<T>(part[0] * factor);
  }
}
__global__ void k_fill_double(double* x, idx n, double v) { METAREC_GRID_STRIDE(i, n) x[i] = v; }
template <class T>
__global__ void k_fill(T* x, idx n, T v) { METAREC_GRID_STRIDE(i, n) x[i] = v; }
__global__ void k_keep_mask(std::uint64_t base, std::uint64_t threshold, std::uint8_t* keep, idx n, idx chunk) {
  const idx chunks = (n + chunk - 1) / chunk;
  METAREC_GRID_STRIDE(c, chunks) {
    const idx end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
    elem::keep_mask_chunk(base + static_cast<std::uint64_t>(c), threshold, keep, c * chunk, end);
  }
}
template <class T>
__global__ void k_dropout_apply(const T* x, const std::uint8_t* keep, T scale, T* y, idx n) {
  METAREC_GRID_STRIDE(i, n) y[i] = scale * static_cast<T>(keep[i]) * x[i];
}
template <class T>
__global__ void k_dropout_backward(const T* g, const std::uint8_t* keep, T scale, T* gx, idx n) {
  METAREC_GRID_STRIDE(i, n) gx[i] += scale * static_cast<T>(keep[i]) * g[i];
}
template <class T>
__global__ void k_axpy_device_scalar(const T* alpha, const T* x, T* y, idx n) {
  METAREC_GRID_STRIDE(i, n) y[i] += alpha[0] * x[i];
}
template <class T>
__global__ void k_adam(elem::AdamScalars<T> a, T* w, const T* g, T* m, T* v, idx n) {
  METAREC_GRID_STRIDE(i, n) elem::adam_update_at(a, w, g, m, v, i);
}

template <class T>
__global__ void k_activation_forward(elem::Activation kind, const T* x, T* y, idx n) {
  METAREC_GRID_STRIDE(i, n) y[i] = elem::activation_forward(kind, x[i]);
}
template <class T>
__global__ void k_activation_backward(elem::Activation kind, const T* x, const T* y, const T* g, T* gx, idx n) {
  METAREC_GRID_STRIDE(i, n) gx[i] += elem::activation_grad(kind, x[i], y[i], g[i]);
}
template <class T>
__global__ void k_softmax_forward(bool log, const T* x, T* y, idx rows, idx d) {
  METAREC_GRID_STRIDE(r, rows) {
    if (log) elem::softmax_row<T, true>(x + r * d, y + r * d, d);
    else elem::softmax_row<T, false>(x + r * d, y + r * d, d);
  }
}
template <class T>
__global__ void k_softmax_backward(bool log, const T* y, const T* g, T* gx, idx rows, idx d) {
  METAREC_GRID_STRIDE(r, rows) {
    if (log) elem::softmax_backward_row<T, true>(y + r * d, g + r * d, gx + r * d, d);
    else elem::softmax_backward_row<T, false>(y + r * d, g + r * d, gx + r * d, d);
  }
}
template <class T>
__global__ void k_layer_norm_forward(const T* x, const T* gamma, const T* beta, T eps, T* y, T* mean, T* rstd,
                                     idx rows, idx d) {
  METAREC_GRID_STRIDE(r, rows) {
    T mu, rs;  // mean and rstd are optional (inference saves nothing)
    elem::layer_norm_row_forward(x + r * d, gamma, beta, d, eps, y + r * d, mean ? mean + r : &mu,
                                 rstd ? rstd + r : &rs);
  }
}
template <class T>
__global__ void k_layer_norm_backward_x(const T* x, const T* g, const T* gamma, const T* mean, const T* rstd, T* gx,
                                        idx rows, idx d) {
  METAREC_GRID_STRIDE(r, rows)
  elem::layer_norm_row_backward(x + r * d, g + r * d, gamma, mean[r], rstd[r], d, gx + r * d);
}
template <class T>
__global__ void k_layer_norm_backward_params(const T* x, const T* g, const T* mean, const T* rstd, T* ggamma,
                                             T* gbeta, idx rows, idx d) {
  METAREC_GRID_STRIDE(j, d) elem::layer_norm_param_grad(x, g, mean, rstd, rows, d, j, ggamma, gbeta);
}
template <class T>
__global__ void k_l2_forward(const T* x, T eps, T* y, T* norm, idx rows, idx d) {
  METAREC_GRID_STRIDE(r, rows) {
    T nr;  // norm is optional
    elem::l2_normalize_row_forward(x + r * d, d, eps, y + r * d, norm ? norm + r : &nr);
  }
}
template <class T>
__global__ void k_l2_backward(const T* y, const T* g, const T* norm, T eps, T* gx, idx rows, idx d) {
  METAREC_GRID_STRIDE(r, rows) elem::l2_normalize_row_backward(y + r * d, g + r * d, norm[r], eps, d, gx + r * d);
}
template <class T>
__global__ void k_add_bias_rows(T* y, const T* b, idx rows, idx cols) {
  METAREC_GRID_STRIDE(i, rows * cols) y[i] += b[i % cols];
}
template <class T>
__global__ void k_column_sums(const T* m, idx rows, idx cols, T* out) {
  METAREC_GRID_STRIDE(j, cols) elem::column_sum(m, rows, cols, j, out);
}
template <class T>
__global__ void k_gather_rows(const T* table, const std::int32_t* ids, idx n, idx d, T* y) {
  METAREC_GRID_STRIDE(i, n * d) y[i] = table[static_cast<idx>(ids[i / d]) * d + i % d];
}
template <class T>
__global__ void k_scatter_add_rows(const T* g, const std::int32_t* ids, idx n, idx d, std::int32_t pad, T* G) {
  METAREC_GRID_STRIDE(i, n * d) {
    const std::int32_t r = ids[i / d];
    if (r != pad) atomicAdd(G + static_cast<idx>(r) * d + i % d, g[i]);
  }
}

}  // namespace

template <class T>
void binary_forward(Stream s, elem::Binary op, const T* a, const T* b, T* y, idx total, idx period) {
  METAREC_LAUNCH(k_binary_forward<T>, total, s, op, a, b, y, total, period);
}
template <class T>
void binary_grad_a(Stream s, elem::Binary op, const T* g, const T* b, T* ga, idx total, idx period) {
  METAREC_LAUNCH(k_binary_grad_a<T>, total, s, op, g, b, ga, total, period);
}
template <class T>
void binary_grad_b(Stream s, elem::Binary op, const T* g, const T* a, T* gb, idx total, idx period) {
  METAREC_LAUNCH(k_binary_grad_b<T>, period, s, op, g, a, gb, total, period);
}
template <class T>
void scale(Stream s, const T* x, T f, T* y, idx n, bool accumulate) {
  METAREC_LAUNCH(k_scale<T>, n, s, x, f, y, n, accumulate);
}
template <class T>
void sum(Stream s, const T* x, idx n, double factor, T* y) {
  METAREC_LAUNCH_COOPERATIVE(k_sum<T>, 1, kThreads, s, x, n, factor, y);
}
void sum_double(Stream s, const double* x, idx n, double* out) {
  METAREC_LAUNCH_COOPERATIVE(k_sum<double>, 1, kThreads, s, x, n, 1.0, out);
}
void fill_double(Stream s, double* x, idx n, double v) { METAREC_LAUNCH(k_fill_double, n, s, x, n, v); }
template <class T>
void fill(Stream s, T* x, idx n, T v) { METAREC_LAUNCH(k_fill<T>, n, s, x, n, v); }
void keep_mask(Stream s, std::uint64_t base, std::uint64_t threshold, std::uint8_t* keep, idx n, idx chunk) {
  METAREC_LAUNCH(k_keep_mask, (n + chunk - 1) / chunk, s, base, threshold, keep, n, chunk);
}
template <class T>
void dropout_apply(Stream s, const T* x, const std::uint8_t* keep, T scale, T* y, idx n) {
  METAREC_LAUNCH(k_dropout_apply<T>, n, s, x, keep, scale, y, n);
}
template <class T>
void dropout_backward(Stream s, const T* g, const std::uint8_t* keep, T scale, T* gx, idx n) {
  METAREC_LAUNCH(k_dropout_backward<T>, n, s, g, keep, scale, gx, n);
}
template <class T>
void axpy_device_scalar(Stream s, const T* alpha, const T* x, T* y, idx n) {
  METAREC_LAUNCH(k_axpy_device_scalar<T>, n, s, alpha, x, y, n);
}
template <class T>
void adam(Stream s, const elem::AdamScalars<T>& a, T* w, const T* g, T* m, T* v, idx n) {
  METAREC_LAUNCH(k_adam<T>, n, s, a, w, g, m, v, n);
}
template <class T>
void add_scalar_grad(Stream s, const T* g, double factor, T* gx, idx n) {
  METAREC_LAUNCH(k_add_scalar_grad<T>, n, s, g, factor, gx, n);
}
template <class T>
void activation_forward(Stream s, elem::Activation kind, const T* x, T* y, idx n) {
  METAREC_LAUNCH(k_activation_forward<T>, n, s, kind, x, y, n);
}
template <class T>
void activation_backward(Stream s, elem::Activation kind, const T* x, const T* y, const T* g, T* gx, idx n) {
  METAREC_LAUNCH(k_activation_backward<T>, n, s, kind, x, y, g, gx, n);
}
template <class T>
void softmax_forward(Stream s, bool log, const T* x, T* y, idx rows, idx d) {
  METAREC_LAUNCH(k_softmax_forward<T>, rows, s, log, x, y, rows, d);
}
template <class T>
void softmax_backward(Stream s, bool log, const T* y, const T* g, T* gx, idx rows, idx d) {
  METAREC_LAUNCH(k_softmax_backward<T>, rows, s, log, y, g, gx, rows, d);
}
template <class T>
void layer_norm_forward(Stream s, const T* x, const T* gamma, const T* beta, T eps, T* y, T* mean, T* rstd, idx rows,
                        idx d) {
  METAREC_LAUNCH(k_layer_norm_forward<T>, rows, s, x, gamma, beta, eps, y, mean, rstd, rows, d);
}
template <class T>
void layer_norm_backward_x(Stream s, const T* x, const T* g, const T* gamma, const T* mean, const T* rstd, T* gx,
                           idx rows, idx d) {
  METAREC_LAUNCH(k_layer_norm_backward_x<T>, rows, s, x, g, gamma, mean, rstd, gx, rows, d);
}
template <class T>
void layer_norm_backward_params(Stream s, const T* x, const T* g, const T* mean, const T* rstd, T* ggamma, T* gbeta,
                                idx rows, idx d) {
  METAREC_LAUNCH(k_layer_norm_backward_params<T>, d, s, x, g, mean, rstd, ggamma, gbeta, rows, d);
}
template <class T>
void l2_normalize_forward(Stream s, const T* x, T eps, T* y, T* norm, idx rows, idx d) {
  METAREC_LAUNCH(k_l2_forward<T>, rows, s, x, eps, y, norm, rows, d);
}
template <class T>
void l2_normalize_backward(Stream s, const T* y, const T* g, const T* norm, T eps, T* gx, idx rows, idx d) {
  METAREC_LAUNCH(k_l2_backward<T>, rows, s, y, g, norm, eps, gx, rows, d);
}
template <class T>
void add_bias_rows(Stream s, T* y, const T* b, idx rows, idx cols) {
  METAREC_LAUNCH(k_add_bias_rows<T>, rows * cols, s, y, b, rows, cols);
}
template <class T>
void column_sums(Stream s, const T* m, idx rows, idx cols, T* out) {
  METAREC_LAUNCH(k_column_sums<T>, cols, s, m, rows, cols, out);
}
template <class T>
void gather_rows(Stream s, const T* table, const std::int32_t* ids, idx n, idx d, T* y) {
  METAREC_LAUNCH(k_gather_rows<T>, n * d, s, table, ids, n, d, y);
}
template <class T>
void scatter_add_rows(Stream s, const T* g, const std::int32_t* ids, idx n, idx d, std::int32_t pad, T* G) {
  METAREC_LAUNCH(k_scatter_add_rows<T>, n * d, s, g, ids, n, d, pad, G);
}

#define METAREC_INSTANTIATE(T)                                                                                   \
  template void binary_forward<T>(Stream, elem::Binary, const T*, const T*, T*, idx, idx);                      \
  template void binary_grad_a<T>(Stream, elem::Binary, const T*, const T*, T*, idx, idx);                       \
  template void binary_grad_b<T>(Stream, elem::Binary, const T*, const T*, T*, idx, idx);                       \
  template void scale<T>(Stream, const T*, T, T*, idx, bool);                                                    \
  template void fill<T>(Stream, T*, idx, T);                                                                     \
  template void dropout_apply<T>(Stream, const T*, const std::uint8_t*, T, T*, idx);                            \
  template void dropout_backward<T>(Stream, const T*, const std::uint8_t*, T, T*, idx);                         \
  template void axpy_device_scalar<T>(Stream, const T*, const T*, T*, idx);                                      \
  template void adam<T>(Stream, const elem::AdamScalars<T>&, T*, const T*, T*, T*, idx);                         \
  template void sum<T>(Stream, const T*, idx, double, T*);                                                       \
  template void add_scalar_grad<T>(Stream, const T*, double, T*, idx);                                           \
  template void activation_forward<T>(Stream, elem::Activation, const T*, T*, idx);                             \
  template void activation_backward<T>(Stream, elem::Activation, const T*, const T*, const T*, T*, idx);         \
  template void softmax_forward<T>(Stream, bool, const T*, T*, idx, idx);                                        \
  template void softmax_backward<T>(Stream, bool, const T*, const T*, T*, idx, idx);                             \
  template void layer_norm_forward<T>(Stream, const T*, const T*, const T*, T, T*, T*, T*, idx, idx);            \
  template void layer_norm_backward_x<T>(Stream, const T*, const T*, const T*, const T*, const T*, T*, idx, idx); \
  template void layer_norm_backward_params<T>(Stream, const T*, const T*, const T*, const T*, T*, T*, idx, idx);  \
  template void l2_normalize_forward<T>(Stream, const T*, T, T*, T*, idx, idx);                                  \
  template void l2_normalize_backward<T>(Stream, const T*, const T*, const T*, T, T*, idx, idx);                 \
  template void add_bias_rows<T>(Stream, T*, const T*, idx, idx);                                                \
  template void column_sums<T>(Stream, const T*, idx, idx, T*);                                                  \
  template void gather_rows<T>(Stream, const T*, const std::int32_t*, idx, idx, T*);                             \
  template void scatter_add_rows<T>(Stream, const T*, const std::int32_t*, idx, idx, std::int32_t, T*);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda::launch
