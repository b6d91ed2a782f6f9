#pragma once
/// @file launch_vq.hpp
/// Private launcher interface of kernels_vq.cu (the quantizer ops and the
/// meta-learners' reductions): raw device pointers and sizes, as launch.hpp.
#include <cstdint>

#include "launch.hpp"
#include "metarec/cuda/element_vq.hpp"

namespace metarec::cuda::launch {

/// One thread per (head, row): elem::vq_nearest_row, writes codes, dist and q's head block.
template <class T>
void vq_assign(Stream, const T* z, const T* c, idx R, idx H, idx K, idx dc, idx first, std::int32_t* codes, T* dist,
               T* q);
/// gz[i] += a (z[i] - q[i]) for i in [begin, end).
template <class T> void vq_commit_grad(Stream, T a, const T* z, const T* q, T* gz, idx begin, idx end);
/// One thread per (head, column): elem::vq_codebook_grad_column.
template <class T>
void vq_codebook_grad(Stream, T a, const T* z, const T* q, const std::int32_t* codes, idx first, idx R, idx H, idx K,
                      idx dc, T* gc);
/// EMA update: cnt [H, K] and s [H, K, dc] zeroed by the caller; total: H doubles of scratch.
template <class T>
void vq_ema(Stream, const T* z, const std::int32_t* codes, idx R, idx H, idx K, idx dc, double g, double eps, T* cnt,
            T* s, double* total, T* N, T* M, T* c);
template <class T> void add_rows_from(Stream, const T* a, const T* b, T* y, idx head, idx total);
template <class T> void axpy(Stream, T alpha, const T* x, T* y, idx n);
/// out[0..3) = (a.b, a.a, b.b) summed in double by one block (fixed tree).
template <class T> void dot3(Stream, const T* a, const T* b, idx n, double* out);

}  // namespace metarec::cuda::launch
