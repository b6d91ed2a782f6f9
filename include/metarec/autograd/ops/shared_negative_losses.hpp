#pragma once
/// @file shared_negative_losses.hpp
/// Losses against K sampled negatives shared by every row of a batch, so a
/// step scores one [N, 1 + K] block (a GEMM against the K gathered rows plus
/// N dot products) whatever the catalogue size:
/// - sampled_softmax: softmax cross-entropy over {positive} + negatives, each
///   negative logit corrected by log(K Q(j)), the expected number of copies
///   of j among K draws from Q (Bengio & Senecal, "Adaptive importance
///   sampling to accelerate training of a neural probabilistic language
///   model", IEEE TNN 2008; Yi et al., "Sampling-bias-corrected neural
///   modeling for large corpus item recommendations", RecSys 2019). The
///   corrected sum over the draws estimates the sum over all negatives, so
///   K = n draws that cover every item once give exactly full-catalogue CE.
/// - gbce: gSASRec's generalised BCE (Petrov & Macdonald, "gSASRec: Reducing
///   Overconfidence in Sequential Recommendation Trained with Negative
///   Sampling", RecSys 2023, eq. 7-8): per row
///     -1/(K+1) (beta log s(s+) + sum_j log(1 - s(s_j))),
///   beta = alpha (t (1 - 1/alpha) + 1/alpha), alpha = K / (n_items - 1).
///   t = 0 is SASRec's BCE, t = 1 calibrates to the full-catalogue odds.
/// The draws may instead be grouped: with SharedNegatives::row_group, rows of
/// one group (one sequence, as RecTools' SASRec draws per position) share that
/// group's K draws and each group is one GEMM; a batch of B sequences then
/// meets B K negatives per step instead of K, at the cost of B small GEMMs.
/// A negative equal to a row's positive (an accidental hit) is left out of
/// that row. Gradients reach h and the 2N + K touched table rows; the scatter
/// into the table is serial, so repeated items accumulate in a fixed order.
/// A row's loss and dloss/dscores are cuda::elem::shared_loss_row
/// (cuda/element_losses.hpp), the one body of the host loop and the device
/// kernel; the device scores with cuBLAS where the host calls gemm.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "metarec/autograd/ops/sampled_losses.hpp"
#include "metarec/core/gemm.hpp"

namespace metarec::ops {

/// K table rows drawn for a group of rows and shared by all of them: one group
/// (the whole batch) by default, or consecutive groups given by row_group.
struct SharedNegatives {
  const std::int32_t* items = nullptr;  ///< [groups * count] table rows, group g's at g * count (borrowed until backward)
  index_t count = 0;                    ///< K draws per group
  const double* log_q = nullptr;        ///< [groups * count] log(K Q(j)) per draw (sampled_softmax), or null: no correction
  const std::int32_t* row_group = nullptr;  ///< [N] group of each row: 0 first, then equal or +1 (every group has a row); null: one group
  index_t groups = 1;
};

/// gSASRec's beta for K uniform negatives out of n_items; K >= n_items - 1 is alpha = 1 (plain BCE).
inline double gbce_beta(index_t k, index_t n_items, double t) {
  const double alpha = n_items > 1 ? std::min(1.0, static_cast<double>(k) / static_cast<double>(n_items - 1)) : 1.0;
  return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha);
}

namespace detail {

using SharedLoss = cuda::elem::SharedLoss;  // softmax, gbce

/// Row offsets [groups + 1] of the groups of `neg` over N rows (host memory of t, kept until backward);
/// throws ShapeError unless row_group runs 0, then +0 or +1, to groups - 1.
template <class T, class B>
std::int32_t* group_bounds(Tape<T, B>& t, const char* op, const SharedNegatives& neg, index_t N) {
  const index_t G = neg.groups;
  if (G < 1 || (!neg.row_group && G != 1) || G > N)
    throw ShapeError(std::string(op) + ": " + std::to_string(G) + " negative groups for " + std::to_string(N) + " rows");
  auto* bounds = t.template host_n<std::int32_t>(G + 1);
  bounds[0] = 0;
  bounds[G] = static_cast<std::int32_t>(N);
  if (!neg.row_group) return bounds;
  for (index_t i = 0; i < N; ++i) {
    const index_t g = neg.row_group[i], prev = i == 0 ? -1 : neg.row_group[i - 1];
    if ((g != prev && g != prev + 1) || g >= G)
      throw ShapeError(std::string(op) + ": row " + std::to_string(i) + " is in negative group " + std::to_string(g) +
                       " after group " + std::to_string(prev) + " (groups must be consecutive, from 0, below " +
                       std::to_string(G) + ")");
    if (g != prev) bounds[g] = static_cast<std::int32_t>(i);
  }
  if (neg.row_group[N - 1] != G - 1)
    throw ShapeError(std::string(op) + ": the last row is in negative group " + std::to_string(neg.row_group[N - 1]) +
                     " of " + std::to_string(G));
  return bounds;
}

/// f(g, first_row, rows) for each group of a host op: in parallel over groups when there are
/// several (each GEMM then runs on one thread); one group is one call, whose GEMM may use every thread.
template <class F>
void for_each_group(const std::int32_t* bounds, index_t groups, index_t work, F f) {
  if (groups == 1) return f(index_t{0}, index_t{0}, static_cast<index_t>(bounds[1]));
  METAREC_PARALLEL_FOR(work)
  for (index_t g = 0; g < groups; ++g) f(g, static_cast<index_t>(bounds[g]), static_cast<index_t>(bounds[g + 1] - bounds[g]));
}

template <class T, class B = backend::Cpu>
void shared_loss_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& hv = t.value(n.in[0]);
  const TensorOf<T, B>& G = n.saved[0];   // [N, K] dloss/dscore of the negatives (already / N)
  const TensorOf<T, B>& gp = n.saved[1];  // [N] dloss/dscore of the positive
  const TensorOf<T, B>& en = n.saved[2];  // [groups K, d] gathered negative rows
  const auto* bounds = static_cast<const std::int32_t*>(n.ptr[2]);  // host [groups + 1] row offsets
  const index_t N = hv.dim(0), d = hv.dim(1), groups = n.integer[2], KG = en.dim(0), K = KG / groups;
  if constexpr (!B::is_host) {
    // ptr[0]: device [pos N | neg KG | neg plan: order KG, seg KG + 1, rows KG | pos plan: order N, seg N + 1, rows N
    // | row_group N when groups > 1] (shared_loss); integer[0], integer[1]: distinct rows of the two plans.
    const auto* dev = static_cast<const std::int32_t*>(n.ptr[0]);
    const std::int32_t* np = dev + N + KG;
    const std::int32_t* pp = np + 3 * KG + 1;
    const cuda::RowScatter neg_plan{np, np + KG, np + 2 * KG + 1, n.integer[0]};
    const cuda::RowScatter pos_plan{pp, pp + N, pp + 2 * N + 1, n.integer[1]};
    TensorOf<T, B> none;
    cuda::shared_loss_backward(memory<B>::context(), hv, t.value(n.in[1]), dev, neg_plan, pos_plan, bounds, groups, en,
                               G, gp, n.grad, t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none,
                               t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none);
  } else {
  const auto* pos = static_cast<const std::int32_t*>(n.ptr[0]);
  const auto* neg = static_cast<const std::int32_t*>(n.ptr[1]);
  const TensorOf<T, B>& ev = t.value(n.in[1]);
  const T g = n.grad[0];
  // Group gi (rows r0 .. r0 + m): dh_rows += g G_rows en_gi, de_gi = g G_rows^T h_rows.
  if (t.wants_grad(n.in[0])) {
    T* gh = t.grad(n.in[0]).data();
    for_each_group(bounds, groups, N * K * d, [&](index_t gi, index_t r0, index_t m) {
      gemm<T>(false, false, m, d, K, g, G.data() + r0 * K, K, en.data() + gi * K * d, d, T(1), gh + r0 * d, d);
    });
    METAREC_PARALLEL_FOR(N * d)
    for (index_t i = 0; i < N; ++i) {
      const T* ep = ev.data() + pos[i] * d;
      for (index_t k = 0; k < d; ++k) gh[i * d + k] += cuda::elem::shared_pos_grad_h_at(g, gp[i], ep, k);
    }
  }
  if (t.wants_grad(n.in[1])) {
    TensorOf<T, B> de = t.alloc(Shape{KG, d});
    for_each_group(bounds, groups, N * K * d, [&](index_t gi, index_t r0, index_t m) {
      gemm<T>(true, false, K, d, m, g, G.data() + r0 * K, K, hv.data() + r0 * d, d, T(0), de.data() + gi * K * d, d);
    });
    TableGrad<T> ge(t, n.in[1]);
    for (index_t j = 0; j < KG; ++j) ge.add_row(neg[j], T(1), de.data() + j * d, d);
    for (index_t i = 0; i < N; ++i) ge.add_row(pos[i], g * gp[i], hv.data() + i * d, d);
  }
  }
}

/// Shared by sampled_softmax and gbce: gathers the negatives, scores each group of rows against its
/// draws with one GEMM, turns each row's scores into its loss and dloss/dscore, records.
template <class T, class B = backend::Cpu>
Var<T, B> shared_loss(const char* op, SharedLoss kind, Var<T, B> h, Var<T, B> items, const std::int32_t* pos,
                   const SharedNegatives& neg, double beta) {
  Tape<T, B>& t = *h.tape;
  const TensorOf<T, B>& hv = h.value();
  const TensorOf<T, B>& ev = items.value();
  check_scoring_shapes(op, hv, ev);
  const index_t N = hv.dim(0), d = hv.dim(1), K = neg.count;
  if (K < 1) throw ShapeError(std::string(op) + ": no shared negatives (count " + std::to_string(K) + ")");
  const std::int32_t* bounds = group_bounds(t, op, neg, N);
  const index_t groups = neg.groups, KG = groups * K;
  check_targets(op, pos, N, 0, ev.dim(0));
  check_targets(op, neg.items, KG, 0, ev.dim(0));
  TensorOf<T, B> en = t.alloc(Shape{KG, d});  // the gathered negative rows
  TensorOf<T, B> G = t.alloc(Shape{N, K});    // scores, then dloss/dscore in place
  TensorOf<T, B> gp = t.alloc(Shape{N});
  double loss = 0;
  const void* ids[2] = {pos, neg.items};  // the host keeps pos and the negatives (borrowed until backward)
  index_t u_neg = 0, u_pos = 0;
  if constexpr (!B::is_host) {
    // One host array travels: pos, the negatives, when the table wants a gradient both grouped by table row
    // for the ordered scatter of the backward, and the rows' groups (layout in shared_loss_backward).
    const bool plan = t.wants_grad(items.id), grouped = groups > 1;
    const index_t planned = plan ? 3 * KG + 1 + 3 * N + 1 : 0;
    const index_t len = N + KG + planned + (grouped ? N : 0);
    std::int32_t* pack = t.template host_n<std::int32_t>(len);
    std::copy_n(pos, N, pack);
    std::copy_n(neg.items, KG, pack + N);
    if (plan) {
      std::int32_t* np = pack + N + KG;
      std::int32_t* pp = np + 3 * KG + 1;
      u_neg = cuda::row_scatter_plan(neg.items, KG, np, np + KG, np + 2 * KG + 1);
      u_pos = cuda::row_scatter_plan(pos, N, pp, pp + N, pp + 2 * N + 1);
    }
    if (grouped) std::copy_n(neg.row_group, N, pack + N + KG + planned);
    const std::int32_t* dev = t.upload_n(pack, len);
    const double* log_q = kind == SharedLoss::softmax && neg.log_q ? t.upload_n(neg.log_q, KG) : nullptr;
    loss = cuda::shared_loss(memory<B>::context(), kind, hv, ev, dev, dev + N, grouped ? dev + N + KG + planned : nullptr,
                             bounds, groups, log_q, beta, en, G, gp);
    ids[0] = dev;
    ids[1] = nullptr;
  } else {
    for (index_t j = 0; j < KG; ++j) std::copy_n(ev.data() + neg.items[j] * d, d, en.data() + j * d);
    for_each_group(bounds, groups, N * K * d, [&](index_t gi, index_t r0, index_t m) {
      gemm<T>(false, true, m, K, d, T(1), hv.data() + r0 * d, d, en.data() + gi * K * d, d, T(0), G.data() + r0 * K, K);
    });
    double* loss_row = t.template alloc_n<double>(N);
    const double invN = 1.0 / static_cast<double>(N), invK1 = 1.0 / static_cast<double>(K + 1);
    METAREC_PARALLEL_FOR(N * K)
    for (index_t i = 0; i < N; ++i) {
      const index_t at = (neg.row_group ? neg.row_group[i] : 0) * K;
      loss_row[i] = cuda::elem::shared_loss_row(kind, hv.data() + i * d, ev.data() + pos[i] * d, d, pos[i],
                                                neg.items + at, neg.log_q ? neg.log_q + at : nullptr, K, beta, invN,
                                                invK1, G.data() + i * K, gp.data() + i);
    }
    for (index_t i = 0; i < N; ++i) loss += loss_row[i];
    loss *= invN;
  }
  Var<T, B> out = record_loss(t, op, loss, h, items, &shared_loss_backward<T, B>);
  Node<T, B>& nd = t.node(out);
  nd.saved[0] = G;
  nd.saved[1] = gp;
  nd.saved[2] = en;
  nd.ptr[0] = ids[0];
  nd.ptr[1] = ids[1];
  nd.ptr[2] = bounds;
  nd.integer[0] = u_neg;
  nd.integer[1] = u_pos;
  nd.integer[2] = groups;
  return out;
}

}  // namespace detail

/// Sampled softmax: mean over the N rows of -log softmax([s+, s_j - log(K Q(j))])[0].
/// h: [N, d], items: [n_rows, d] (tied table), pos: N table rows (borrowed until backward).
template <class T, class B = backend::Cpu>
Var<T, B> sampled_softmax(Var<T, B> h, Var<T, B> items, const std::int32_t* pos, const SharedNegatives& neg) {
  return detail::shared_loss("sampled_softmax", detail::SharedLoss::softmax, h, items, pos, neg, 0.0);
}

/// gSASRec's gBCE with the given beta (gbce_beta); neg.log_q is not used
/// (beta assumes uniform negatives). Same arguments as sampled_softmax.
template <class T, class B = backend::Cpu>
Var<T, B> gbce(Var<T, B> h, Var<T, B> items, const std::int32_t* pos, const SharedNegatives& neg, double beta) {
  return detail::shared_loss("gbce", detail::SharedLoss::gbce, h, items, pos, neg, beta);
}

}  // namespace metarec::ops
