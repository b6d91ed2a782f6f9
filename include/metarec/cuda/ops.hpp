#pragma once
/// @file ops.hpp
/// Device kernels of the autodiff core, one forward and one backward per CPU
/// op of autograd/ops (dlib's cpu_dlib / cuda_dlib split). Each takes the
/// CPU op's inputs in the same order (device tensors instead of Vars, device
/// index arrays instead of host pointers), then the tensors the CPU op saves
/// on its tape node, then the outputs. Outputs are allocated by the caller
/// (the step's arena on a device tape) and are written, not accumulated;
/// gradients are accumulated (+=) like the CPU backward functions, and an
/// empty gradient tensor means "not wanted" (the CPU's wants_grad == false).
/// Everything runs asynchronously on ctx.stream(); instantiated for float
/// and double. The element bodies are in element_ops.hpp.
#include <cstdint>

#include "metarec/cuda/context.hpp"
#include "metarec/cuda/element_ops.hpp"

namespace metarec::cuda {

using elem::Activation;
using elem::Binary;

/// x[i] = value for every element (the tape's gradient seed, constant parameters).
template <class T>
void fill(Context& ctx, const DeviceTensor<T>& x, T value);

/// y += alpha[0] * x, alpha a device scalar (a loss node's upstream gradient).
template <class T>
void axpy_device_scalar(Context& ctx, const DeviceTensor<T>& alpha, const DeviceTensor<T>& x, const DeviceTensor<T>& y);

// ---- dropout.hpp: keep mask from ops::draw_keep_mask's streams (equal to the CPU's for
//      the same base seed), y = scale * keep * x, gx += scale * keep * g
void dropout_keep_mask(Context& ctx, std::uint64_t base, double p, std::uint8_t* keep, index_t n);
template <class T>
void dropout_forward(Context& ctx, const DeviceTensor<T>& x, const std::uint8_t* keep, double scale,
                     const DeviceTensor<T>& y);
template <class T>
void dropout_backward(Context& ctx, const std::uint8_t* keep, double scale, const DeviceTensor<T>& g,
                      const DeviceTensor<T>& gx);

// ---- optim/adam.hpp: one dense Adam(W) update of w with gradient g and moments m, v
template <class T>
void adam_step(Context& ctx, const elem::AdamScalars<T>& a, const DeviceTensor<T>& w, const DeviceTensor<T>& g,
               const DeviceTensor<T>& m, const DeviceTensor<T>& v);

// ---- elementwise.hpp: add / sub / mul (b broadcast over a's leading dims), scale
template <class T>
void binary_forward(Context& ctx, Binary op, const DeviceTensor<T>& a, const DeviceTensor<T>& b,
                    const DeviceTensor<T>& y);
template <class T>
void binary_backward(Context& ctx, Binary op, const DeviceTensor<T>& a, const DeviceTensor<T>& b,
                     const DeviceTensor<T>& g, const DeviceTensor<T>& ga, const DeviceTensor<T>& gb);
template <class T>
void scale_forward(Context& ctx, const DeviceTensor<T>& x, double s, const DeviceTensor<T>& y);
template <class T>
void scale_backward(Context& ctx, const DeviceTensor<T>& g, double s, const DeviceTensor<T>& gx);

// ---- reduce.hpp: y[0] = factor * sum(x) (sum = 1, mean = 1/n), accumulated in double
template <class T>
void sum_forward(Context& ctx, const DeviceTensor<T>& x, double factor, const DeviceTensor<T>& y);
template <class T>
void sum_backward(Context& ctx, const DeviceTensor<T>& g, double factor, const DeviceTensor<T>& gx);

// ---- activation.hpp: relu / gelu (exact erf) / tanh / sigmoid
template <class T>
void activation_forward(Context& ctx, Activation kind, const DeviceTensor<T>& x, const DeviceTensor<T>& y);
template <class T>
void activation_backward(Context& ctx, Activation kind, const DeviceTensor<T>& x, const DeviceTensor<T>& y,
                         const DeviceTensor<T>& g, const DeviceTensor<T>& gx);

// ---- softmax.hpp: softmax / log_softmax over the last dimension
template <class T>
void softmax_forward(Context& ctx, bool log, const DeviceTensor<T>& x, const DeviceTensor<T>& y);
template <class T>
void softmax_backward(Context& ctx, bool log, const DeviceTensor<T>& y, const DeviceTensor<T>& g,
                      const DeviceTensor<T>& gx);

// ---- normalization.hpp: layer_norm (saves mean, rstd [rows]) and l2_normalize (saves norm [rows]);
//      the forwards take them empty when nothing is saved (inference)
template <class T>
void layer_norm_forward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& gamma,
                        const DeviceTensor<T>& beta, double eps, const DeviceTensor<T>& y,
                        const DeviceTensor<T>& mean, const DeviceTensor<T>& rstd);
template <class T>
void layer_norm_backward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& gamma,
                         const DeviceTensor<T>& mean, const DeviceTensor<T>& rstd, const DeviceTensor<T>& g,
                         const DeviceTensor<T>& gx, const DeviceTensor<T>& ggamma, const DeviceTensor<T>& gbeta);
template <class T>
void l2_normalize_forward(Context& ctx, const DeviceTensor<T>& x, double eps, const DeviceTensor<T>& y,
                          const DeviceTensor<T>& norm);
template <class T>
void l2_normalize_backward(Context& ctx, const DeviceTensor<T>& y, const DeviceTensor<T>& norm, double eps,
                           const DeviceTensor<T>& g, const DeviceTensor<T>& gx);

// ---- linear.hpp: y = x W^T + b (b may be empty)
template <class T>
void linear_forward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& w, const DeviceTensor<T>& b,
                    const DeviceTensor<T>& y);
template <class T>
void linear_backward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& w, const DeviceTensor<T>& g,
                     const DeviceTensor<T>& gx, const DeviceTensor<T>& gw, const DeviceTensor<T>& gb);

// ---- embedding.hpp: y = table[ids]; backward scatter-adds rows != padding_idx.
/// The scatter uses atomicAdd: rows hit several times sum in an unspecified
/// order (the CPU op is deterministic; results agree to rounding).
template <class T>
void embedding_forward(Context& ctx, const DeviceTensor<T>& table, const DeviceTensor<std::int32_t>& ids,
                       const DeviceTensor<T>& y);
template <class T>
void embedding_backward(Context& ctx, const DeviceTensor<T>& g, const DeviceTensor<std::int32_t>& ids,
                        std::int32_t padding_idx, const DeviceTensor<T>& gtable);

// ---- attention.hpp: padded (q [B, Lq, d], k/v [B, Lk, d], key_mask [B, Lk] or empty)
//      and packed (q/k/v [N, d], offsets [B + 1]) layouts. P, Pd: [planes] saved
//      probabilities (Pd = P after dropout; pass the same tensor when dropout = 0
//      or not training). `seed` replaces the CPU's tape.rng() draw: with the same
//      seed the dropout mask equals the CPU's bit for bit.
struct AttentionArgs {
  int heads = 1;
  bool causal = false;
  double dropout = 0.0;       ///< applied when Pd differs from P
  std::uint64_t seed = 0;
  const std::uint8_t* key_mask = nullptr;       ///< device [B, Lk] (padded layout)
  const std::int32_t* offsets = nullptr;        ///< device [B + 1] (packed layout)
  const std::int64_t* plane_offsets = nullptr;  ///< device [B + 1] (packed; see attention_planes)
  index_t sequences = 0;                        ///< B of the packed layout
};
/// Host helper for the packed layout: plane_offsets[b+1] = plane_offsets[b] + n_b^2
/// from host offsets; returns the total P size (planes * heads).
index_t attention_planes(const std::int32_t* host_offsets, index_t sequences, int heads,
                         std::int64_t* host_plane_offsets);
template <class T>
void attention_forward(Context& ctx, const DeviceTensor<T>& q, const DeviceTensor<T>& k, const DeviceTensor<T>& v,
                       const AttentionArgs& args, const DeviceTensor<T>& P, const DeviceTensor<T>& Pd,
                       const DeviceTensor<T>& out);
template <class T>
void attention_backward(Context& ctx, const DeviceTensor<T>& q, const DeviceTensor<T>& k, const DeviceTensor<T>& v,
                        const AttentionArgs& args, const DeviceTensor<T>& P, const DeviceTensor<T>& Pd,
                        const DeviceTensor<T>& g, const DeviceTensor<T>& gq, const DeviceTensor<T>& gk,
                        const DeviceTensor<T>& gv);

// ---- gru.hpp: the recurrence given gi = x W_ih^T + b_ih [B, L, 3h] (linear_* does the rest).
//      y [B, L, h]; gates [B, L, 4h] saved (r, z, n, W_hn h + b_hn); mask [B, L] or null.
template <class T>
void gru_recurrence_forward(Context& ctx, const DeviceTensor<T>& gi, const DeviceTensor<T>& w_hh,
                            const DeviceTensor<T>& b_hh, const std::uint8_t* mask, const DeviceTensor<T>& y,
                            const DeviceTensor<T>& gates);
template <class T>
void gru_recurrence_backward(Context& ctx, const DeviceTensor<T>& w_hh, const std::uint8_t* mask,
                             const DeviceTensor<T>& y, const DeviceTensor<T>& gates, const DeviceTensor<T>& g,
                             const DeviceTensor<T>& g_gi, const DeviceTensor<T>& g_whh, const DeviceTensor<T>& g_bhh);

// ---- cross_entropy.hpp: mean over rows of -log softmax(scale h E^T)[target] over the
//      candidate rows [first, end) of the item table, computed over chunks of
//      `item_chunk` items (0 = automatic) with an online log-sum-exp, never the
//      whole [N, n] logit matrix. dh [N, d] and de [end - first, d] are
//      written (not accumulated) when non-empty, as FullCEProblem. Returns the
//      mean loss (synchronises: the loss is copied to the host).
template <class T>
double full_softmax_ce(Context& ctx, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                       const DeviceTensor<std::int32_t>& targets, index_t first, index_t end, T scale,
                       index_t item_chunk, const DeviceTensor<T>& dh, const DeviceTensor<T>& de);

// ---- eval/ranking.hpp: per row of scores [R, n_items + 1] (column 0 = padding,
//      never a candidate), the best k ids (best first; ties by lower id; NaN
//      lowest) into ids [R, k]; rows with fewer than k candidates end in -1.
template <class T>
void top_k(Context& ctx, const DeviceTensor<T>& scores, int k, const DeviceTensor<std::int32_t>& ids);

}  // namespace metarec::cuda
