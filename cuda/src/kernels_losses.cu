/// @file kernels_losses.cu
/// Sampled-loss, ordered-scatter, SGD and sum-of-squares kernels: grid-stride
/// loops over the bodies in element_losses.hpp (which the CPU ops also call).
#include "kernel_common.cuh"
#include "launch_losses.hpp"

namespace metarec::cuda::launch {
namespace {

template <class T>
__global__ void k_pair_loss_rows(elem::PairLoss kind, const T* h, const T* E, const std::int32_t* ids, idx N, idx d,
                                 double invN, T* coef, double* loss_row) {
  METAREC_GRID_STRIDE(i, N) {
    loss_row[i] = elem::pair_loss_row(kind, h + i * d, E + static_cast<idx>(ids[2 * i]) * d,
                                      E + static_cast<idx>(ids[2 * i + 1]) * d, d, invN, coef + 2 * i);
  }
}
template <class T>
__global__ void k_pair_grad_h(const T* g, const T* coef, const T* E, const std::int32_t* ids, idx N, idx d, T* gh) {
  METAREC_GRID_STRIDE(e, N * d) {
    const idx i = e / d, k = e % d;
    gh[e] += elem::pair_grad_h_at(g[0], coef + 2 * i, E + static_cast<idx>(ids[2 * i]) * d,
                                  E + static_cast<idx>(ids[2 * i + 1]) * d, k);
  }
}
template <class T>
__global__ void k_shared_loss_rows(elem::SharedLoss kind, const T* h, const T* E, const std::int32_t* pos,
                                   const std::int32_t* neg, const std::int32_t* row_group, const double* log_q, idx K,
                                   idx N, idx d, double beta, double invN, double invK1, T* G, T* gp, double* loss_row) {
  METAREC_GRID_STRIDE(i, N) {
    const idx at = (row_group ? static_cast<idx>(row_group[i]) : 0) * K;
    loss_row[i] = elem::shared_loss_row(kind, h + i * d, E + static_cast<idx>(pos[i]) * d, d, pos[i], neg + at,
                                        log_q ? log_q + at : nullptr, K, beta, invN, invK1, G + i * K, gp + i);
  }
}
template <class T>
__global__ void k_shared_pos_grad_h(const T* g, const T* gp, const T* E, const std::int32_t* pos, idx N, idx d,
                                    T* gh) {
  METAREC_GRID_STRIDE(e, N * d) {
    const idx i = e / d;
    gh[e] += elem::shared_pos_grad_h_at(g[0], gp[i], E + static_cast<idx>(pos[i]) * d, e % d);
  }
}
template <class T>
__global__ void k_scatter_ordered(const T* g, const T* coef, const T* X, idx per, const std::int32_t* order,
                                  const std::int32_t* seg, const std::int32_t* rows, idx unique, idx d, T* G) {
  METAREC_GRID_STRIDE(e, unique * d) {
    const idx u = e / d;
    elem::scatter_ordered_at(g, coef, X, per, order, seg[u], seg[u + 1], d, e % d, G + static_cast<idx>(rows[u]) * d);
  }
}
template <class T>
__global__ void k_sgd(elem::SgdScalars<T> a, T* w, const T* g, T* buf, idx n) {
  METAREC_GRID_STRIDE(i, n) elem::sgd_update_at(a, w, g, buf, i);
}
/// Cooperative, `blocks` blocks: block b's threads take the elements
/// b * blockDim + tid + j * blocks * blockDim in order, then a fixed tree.
template <class T>
__global__ void k_sum_squares_partials(const T* x, idx n, double* partials) {
  __shared__ double part[kThreads];
  METAREC_BLOCK_THREADS(tid) {
    double acc = 0;
    const idx stride = static_cast<idx>(gridDim.x) * blockDim.x;
    for (idx i = static_cast<idx>(blockIdx.x) * blockDim.x + tid; i < n; i += stride) {
      const double v = static_cast<double>(x[i]);
      acc += v * v;
    }
    part[tid] = acc;
  }
  block_tree<false>(part);
  METAREC_BLOCK_THREADS(tid) {
    if (tid == 0) partials[blockIdx.x] = part[0];
  }
}

}  // namespace

template <class T>
void pair_loss_rows(Stream s, elem::PairLoss kind, const T* h, const T* E, const std::int32_t* ids, idx N, idx d,
                    double invN, T* coef, double* loss_row) {
  METAREC_LAUNCH(k_pair_loss_rows<T>, N, s, kind, h, E, ids, N, d, invN, coef, loss_row);
}
template <class T>
void pair_grad_h(Stream s, const T* g, const T* coef, const T* E, const std::int32_t* ids, idx N, idx d, T* gh) {
  METAREC_LAUNCH(k_pair_grad_h<T>, N * d, s, g, coef, E, ids, N, d, gh);
}
template <class T>
void shared_loss_rows(Stream s, elem::SharedLoss kind, const T* h, const T* E, const std::int32_t* pos,
                      const std::int32_t* neg, const std::int32_t* row_group, const double* log_q, idx K, idx N,
                      idx d, double beta, double invN, double invK1, T* G, T* gp, double* loss_row) {
  METAREC_LAUNCH(k_shared_loss_rows<T>, N, s, kind, h, E, pos, neg, row_group, log_q, K, N, d, beta, invN, invK1, G,
                 gp, loss_row);
}
template <class T>
void shared_pos_grad_h(Stream s, const T* g, const T* gp, const T* E, const std::int32_t* pos, idx N, idx d, T* gh) {
  METAREC_LAUNCH(k_shared_pos_grad_h<T>, N * d, s, g, gp, E, pos, N, d, gh);
}
template <class T>
void scatter_ordered(Stream s, const T* g, const T* coef, const T* X, idx per, const std::int32_t* order,
                     const std::int32_t* seg, const std::int32_t* rows, idx unique, idx d, T* G) {
  METAREC_LAUNCH(k_scatter_ordered<T>, unique * d, s, g, coef, X, per, order, seg, rows, unique, d, G);
}
template <class T>
void sgd(Stream s, const elem::SgdScalars<T>& a, T* w, const T* g, T* buf, idx n) {
  METAREC_LAUNCH(k_sgd<T>, n, s, a, w, g, buf, n);
}
template <class T>
void sum_squares_partials(Stream s, const T* x, idx n, double* partials, int blocks) {
  METAREC_LAUNCH_COOPERATIVE(k_sum_squares_partials<T>, blocks, kThreads, s, x, n, partials);
}

#define METAREC_INSTANTIATE(T)                                                                                     \
  template void pair_loss_rows<T>(Stream, elem::PairLoss, const T*, const T*, const std::int32_t*, idx, idx,     \
                                  double, T*, double*);                                                           \
  template void pair_grad_h<T>(Stream, const T*, const T*, const T*, const std::int32_t*, idx, idx, T*);          \
  template void shared_loss_rows<T>(Stream, elem::SharedLoss, const T*, const T*, const std::int32_t*,            \
                                    const std::int32_t*, const std::int32_t*, const double*, idx, idx, idx,       \
                                    double, double, double, T*, T*, double*);                                     \
  template void shared_pos_grad_h<T>(Stream, const T*, const T*, const T*, const std::int32_t*, idx, idx, T*);    \
  template void scatter_ordered<T>(Stream, const T*, const T*, const T*, idx, const std::int32_t*,                \
                                   const std::int32_t*, const std::int32_t*, idx, idx, T*);                       \
  template void sgd<T>(Stream, const elem::SgdScalars<T>&, T*, const T*, T*, idx);                                \
  template void sum_squares_partials<T>(Stream, const T*, idx, double*, int);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda::launch
