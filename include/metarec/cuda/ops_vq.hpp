#pragma once
/// @file ops_vq.hpp
/// Device forward/backward of the quantizer ops (quantizers/vq_ops.hpp) and
/// the reductions the meta-learners need (meta/). Conventions as ops.hpp:
/// outputs written, gradients accumulated (+=), everything on ctx.stream();
/// instantiated for float and double (cuda/src/ops_vq.cpp). Element bodies:
/// element_vq.hpp.
#include <cstdint>

#include "metarec/cuda/context.hpp"
#include "metarec/cuda/element_vq.hpp"

namespace metarec::cuda {

/// Nearest-codeword assignment of z [R, H*dc] against codebook [H, K, dc]:
/// for rows r >= first, codes[h R + r] = nearest codeword of head h,
/// dist[h R + r] = its squared distance, q's head block = the codeword; rows
/// r < first: codes -1, dist 0, q 0. codes and dist: H*R device elements.
template <class T>
void vq_assign_forward(Context& ctx, const DeviceTensor<T>& z, const DeviceTensor<T>& codebook, index_t first,
                       std::int32_t* codes, T* dist, const DeviceTensor<T>& q);

/// vq_loss backward: gz[r >= first] += a_z (z - q) (skipped when gz is empty or a_z == 0);
/// gc[h, codes[h R + r]] += a_c (q - z) (skipped when gc is empty or a_c == 0).
template <class T>
void vq_loss_backward(Context& ctx, const DeviceTensor<T>& z, const DeviceTensor<T>& q, const std::int32_t* codes,
                      index_t first, index_t H, index_t K, double a_z, double a_c, const DeviceTensor<T>& gz,
                      const DeviceTensor<T>& gc);

/// EMA codebook update (MultiHeadVQ::ema_update, VQ-VAE appendix with Laplace
/// smoothing) from z [R, H*dc] and the codes of rows 1..R-1 (device [H, R]):
/// count [H, K], sum [H, K, dc] and codebook [H, K, dc] updated in place.
template <class T>
void vq_ema_update(Context& ctx, const DeviceTensor<T>& z, const std::int32_t* codes, double decay, double eps,
                   const DeviceTensor<T>& count, const DeviceTensor<T>& sum, const DeviceTensor<T>& codebook);

/// y = a + b on rows >= first, y = a before (a, b, y: same shape).
template <class T>
void add_rows_from_forward(Context& ctx, const DeviceTensor<T>& a, const DeviceTensor<T>& b, index_t first,
                           const DeviceTensor<T>& y);

/// y += alpha x (same number of elements).
template <class T>
void axpy(Context& ctx, double alpha, const DeviceTensor<T>& x, const DeviceTensor<T>& y);

/// Sums in double of a.b, a.a and b.b (out[0..2]), by one block in a fixed
/// order (deterministic); copied to the host (waits for the stream).
template <class T>
void dot3(Context& ctx, const DeviceTensor<T>& a, const DeviceTensor<T>& b, double out[3]);

}  // namespace metarec::cuda
