#pragma once
/// @file ops_losses.hpp
/// Device kernels of the sampled losses (ops/sampled_losses.hpp,
/// ops/shared_negative_losses.hpp), SGD (optim/sgd.hpp) and gradient clipping
/// (optim/clip.hpp), with ops.hpp's conventions: device tensors and device
/// index arrays, outputs written, gradients accumulated (+=), an empty
/// gradient tensor means "not wanted", everything queued on ctx.stream();
/// instantiated for float and double. The element bodies are in
/// element_losses.hpp (the CPU ops call the same ones).
///
/// Item-table gradients are scattered without atomics: row_scatter_plan
/// groups the contributions by table row on the host (where the index arrays
/// are checked anyway), and one thread per (row, column) adds that row's
/// contributions in the CPU's order, so the result does not depend on timing.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "metarec/cuda/context.hpp"
#include "metarec/cuda/element_losses.hpp"

namespace metarec::cuda {

/// Contributions grouped by table row (device arrays): the contributions of
/// rows[u] are order[seg[u] .. seg[u + 1]), ascending.
struct RowScatter {
  const std::int32_t* order = nullptr;  ///< [contributions]
  const std::int32_t* seg = nullptr;    ///< [unique + 1]
  const std::int32_t* rows = nullptr;   ///< [unique]
  index_t unique = 0;
};

/// Host: groups the contributions q in [0, Q) by table row ids[q], each row's
/// in ascending q (a stable sort). Writes order[Q], seg[U + 1], rows[U] (room
/// for Q + 1 and Q elements) and returns U, the number of distinct rows.
inline index_t row_scatter_plan(const std::int32_t* ids, index_t Q, std::int32_t* order, std::int32_t* seg,
                                std::int32_t* rows) {
  std::iota(order, order + Q, 0);
  std::stable_sort(order, order + Q, [ids](std::int32_t a, std::int32_t b) { return ids[a] < ids[b]; });
  index_t U = 0;
  for (index_t j = 0; j < Q; ++j)
    if (j == 0 || ids[order[j]] != ids[order[j - 1]]) {
      seg[U] = static_cast<std::int32_t>(j);
      rows[U++] = ids[order[j]];
    }
  seg[U] = static_cast<std::int32_t>(Q);
  return U;
}

// ---- sampled_losses.hpp: pair_ids [N, 2] = (positive, negative) table rows per
//      row of h; coef [N, 2] written (dloss/dscore / N). Returns the mean loss
//      (synchronises: the loss is copied to the host).
template <class T>
double pair_loss(Context& ctx, elem::PairLoss kind, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                 const std::int32_t* pair_ids, const DeviceTensor<T>& coef);
/// g: the loss's upstream gradient (a device scalar); plan: pair_ids grouped by
/// row (contribution q = 2 i + slot, as coef).
template <class T>
void pair_loss_backward(Context& ctx, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                        const std::int32_t* pair_ids, const RowScatter& plan, const DeviceTensor<T>& coef,
                        const DeviceTensor<T>& g, const DeviceTensor<T>& gh, const DeviceTensor<T>& gitems);

// ---- shared_negative_losses.hpp: pos [N] table rows; neg [groups K] table rows,
//      group g's at g K; row_group [N] (device, consecutive from 0) or null for
//      one group; bounds [groups + 1] the groups' row offsets (host); log_q
//      [groups K] or null (device). Writes en [groups K, d] (gathered negative
//      rows), G [N, K] (dloss/dscore of the row's group's negatives / N) and
//      gp [N] (of the positive). Returns the mean loss (synchronises).
template <class T>
double shared_loss(Context& ctx, elem::SharedLoss kind, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                   const std::int32_t* pos, const std::int32_t* neg, const std::int32_t* row_group,
                   const std::int32_t* bounds, index_t groups, const double* log_q, double beta,
                   const DeviceTensor<T>& en, const DeviceTensor<T>& G, const DeviceTensor<T>& gp);
/// neg_plan groups neg by row, pos_plan groups pos by row; the table gradient
/// gets the negatives' rows first, then the positives' (the CPU's order).
template <class T>
void shared_loss_backward(Context& ctx, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                          const std::int32_t* pos, const RowScatter& neg_plan, const RowScatter& pos_plan,
                          const std::int32_t* bounds, index_t groups, const DeviceTensor<T>& en,
                          const DeviceTensor<T>& G, const DeviceTensor<T>& gp, const DeviceTensor<T>& g,
                          const DeviceTensor<T>& gh, const DeviceTensor<T>& gitems);

// ---- optim/sgd.hpp: one dense SGD step of w with gradient g; buf empty without momentum
template <class T>
void sgd_step(Context& ctx, const elem::SgdScalars<T>& a, const DeviceTensor<T>& w, const DeviceTensor<T>& g,
              const DeviceTensor<T>& buf);

// ---- optim/clip.hpp: sum of squares of each tensor, in double, deterministic
//      (per tensor: fixed per-block partials folded by a fixed tree, then summed
//      in block order on the host). Returns one value per tensor (synchronises).
template <class T>
std::vector<double> sum_squares(Context& ctx, const std::vector<DeviceTensor<T>>& xs);
/// x *= s in place (s cast to T first, as the CPU's coefficient).
template <class T>
void scale_in_place(Context& ctx, const DeviceTensor<T>& x, double s);

}  // namespace metarec::cuda
