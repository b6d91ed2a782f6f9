#pragma once
/// @file launch.hpp
/// Private interface between the host glue (ops.cpp, compiled by the C++
/// compiler) and the kernels (kernels*.cu, compiled by nvcc): raw device
/// pointers and sizes only, so nvcc never parses Eigen. Every launcher queues
/// its kernel on `stream` (a cudaStream_t) and checks the launch.
#include <cstdint>

#include "metarec/cuda/element_ops.hpp"

namespace metarec::cuda::launch {

using elem::idx;
using Stream = void*;

/// Throws CudaError naming `kernel` if the last launch failed (defined in context.cpp).
void check(const char* kernel);

// elementwise / reduce
template <class T> void binary_forward(Stream, elem::Binary, const T* a, const T* b, T* y, idx total, idx period);
template <class T> void binary_grad_a(Stream, elem::Binary, const T* g, const T* b, T* ga, idx total, idx period);
template <class T> void binary_grad_b(Stream, elem::Binary, const T* g, const T* a, T* gb, idx total, idx period);
/// y = s x (accumulate = false) or y += s x.
template <class T> void scale(Stream, const T* x, T s, T* y, idx n, bool accumulate);
/// y[0] = factor * sum(x), summed in double by one block (deterministic).
template <class T> void sum(Stream, const T* x, idx n, double factor, T* y);
/// gx[i] += factor * g[0].
template <class T> void add_scalar_grad(Stream, const T* g, double factor, T* gx, idx n);
void sum_double(Stream, const double* x, idx n, double* out);
void fill_double(Stream, double* x, idx n, double value);
template <class T> void fill(Stream, T* x, idx n, T value);
/// keep[0..n) from elem::keep_mask_chunk, one thread per chunk of `chunk` elements.
void keep_mask(Stream, std::uint64_t base, std::uint64_t threshold, std::uint8_t* keep, idx n, idx chunk);
template <class T> void dropout_apply(Stream, const T* x, const std::uint8_t* keep, T scale, T* y, idx n);
template <class T> void dropout_backward(Stream, const T* g, const std::uint8_t* keep, T scale, T* gx, idx n);
/// y += alpha[0] x with alpha a device scalar (an upstream gradient).
template <class T> void axpy_device_scalar(Stream, const T* alpha, const T* x, T* y, idx n);
template <class T> void adam(Stream, const elem::AdamScalars<T>& a, T* w, const T* g, T* m, T* v, idx n);

// activations, softmax, normalisation
template <class T> void activation_forward(Stream, elem::Activation, const T* x, T* y, idx n);
template <class T> void activation_backward(Stream, elem::Activation, const T* x, const T* y, const T* g, T* gx, idx n);
template <class T> void softmax_forward(Stream, bool log, const T* x, T* y, idx rows, idx d);
template <class T> void softmax_backward(Stream, bool log, const T* y, const T* g, T* gx, idx rows, idx d);
template <class T>
void layer_norm_forward(Stream, const T* x, const T* gamma, const T* beta, T eps, T* y, T* mean, T* rstd, idx rows,
                        idx d);
template <class T>
void layer_norm_backward_x(Stream, const T* x, const T* g, const T* gamma, const T* mean, const T* rstd, T* gx,
                           idx rows, idx d);
template <class T>
void layer_norm_backward_params(Stream, const T* x, const T* g, const T* mean, const T* rstd, T* ggamma, T* gbeta,
                                idx rows, idx d);
template <class T> void l2_normalize_forward(Stream, const T* x, T eps, T* y, T* norm, idx rows, idx d);
template <class T>
void l2_normalize_backward(Stream, const T* y, const T* g, const T* norm, T eps, T* gx, idx rows, idx d);

// linear helpers, embedding
template <class T> void add_bias_rows(Stream, T* y, const T* b, idx rows, idx cols);
/// out[j] += sum_r m[r * cols + j].
template <class T> void column_sums(Stream, const T* m, idx rows, idx cols, T* out);
template <class T> void gather_rows(Stream, const T* table, const std::int32_t* ids, idx n, idx d, T* y);
template <class T>
void scatter_add_rows(Stream, const T* g, const std::int32_t* ids, idx n, idx d, std::int32_t pad, T* G);

// attention: one thread per (row, head); DS is scratch of P's size. packed_rows:
// the N of the packed layout (the geometry's offsets are device pointers).
template <class T>
void attention_forward(Stream, const elem::AttnGeometry& geo, idx packed_rows, bool causal, T scale, const T* q, const T* k,
                       const T* v, T* P, T* Pd, double keep, std::uint64_t seed, T* out);
template <class T>
void attention_backward(Stream, const elem::AttnGeometry& geo, idx packed_rows, T scale, const T* q, const T* k, const T* v,
                        const T* P, const T* Pd, const T* g, T* DS, T* gq, T* gk, T* gv);

// GRU: one step over B x H units
template <class T>
void gru_step_forward(Stream, const T* gi, const T* gh, const T* b_hh, const std::uint8_t* mask, T* y, T* gates,
                      idx B, idx L, idx H, idx step);
template <class T>
void gru_step_backward(Stream, const T* gates, const T* y, const std::uint8_t* mask, const T* gy, T* carry, T* d_hid,
                       T* g_gi, idx B, idx L, idx H, idx step);
/// Zeroes `len` elements at rows b * stride for b < B.
template <class T> void zero_strided(Stream, T* x, idx B, idx stride, idx len);

// full-catalogue CE over one logit chunk z [rows, cols] (leading dimension ldz);
// column c is table row first_col + c.
template <class T>
void ce_chunk_stats(Stream, const T* z, idx rows, idx cols, idx ldz, const std::int32_t* targets, idx first_col,
                    double* m, double* s, double* target_logit);
void ce_finalize(Stream, const double* m, const double* s, const double* target_logit, double* lse, double* loss_row,
                 idx rows);
template <class T>
void ce_chunk_grad(Stream, T* z, idx rows, idx cols, idx ldz, const std::int32_t* targets, idx first_col,
                   const double* lse, double invN);

// top-K: one block of `threads` threads per row; scratch sizes (per row):
// vals/ids 2 * threads * k, counts threads.
template <class T>
void top_k(Stream, const T* scores, idx rows, idx n_items, int k, std::int32_t* ids, T* scratch_vals,
           std::int32_t* scratch_ids, int* scratch_counts, int threads);

// full ranking (kernels_rank.cu)
template <class T>
void mask_history(Stream, T* scores, idx row_len, const std::int32_t* targets, const std::int32_t* offsets,
                  const std::int32_t* items, idx rows);
template <class T>
void target_ranks(Stream, const T* scores, idx row_len, const std::int32_t* targets, std::int64_t* ranks, idx rows);

}  // namespace metarec::cuda::launch
