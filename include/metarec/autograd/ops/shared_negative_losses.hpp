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

/// K table rows drawn once per batch and shared by all its rows.
struct SharedNegatives {
  const std::int32_t* items = nullptr;  ///< [count] table rows (borrowed until backward)
  index_t count = 0;
  const double* log_q = nullptr;        ///< [count] log(K Q(j)) per draw (sampled_softmax), or null: no correction
};

/// gSASRec's beta for K uniform negatives out of n_items; K >= n_items - 1 is alpha = 1 (plain BCE).
inline double gbce_beta(index_t k, index_t n_items, double t) {
  const double alpha = n_items > 1 ? std::min(1.0, static_cast<double>(k) / static_cast<double>(n_items - 1)) : 1.0;
  return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha);
}

namespace detail {

using SharedLoss = cuda::elem::SharedLoss;  // softmax, gbce

template <class T, class B = backend::Cpu>
void shared_loss_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& hv = t.value(n.in[0]);
  const TensorOf<T, B>& G = n.saved[0];   // [N, K] dloss/dscore of the negatives (already / N)
  const TensorOf<T, B>& gp = n.saved[1];  // [N] dloss/dscore of the positive
  const TensorOf<T, B>& en = n.saved[2];  // [K, d] gathered negative rows
  const index_t N = hv.dim(0), d = hv.dim(1), K = en.dim(0);
  if constexpr (!B::is_host) {
    // ptr[0]: device [pos N | neg K | neg plan: order K, seg K + 1, rows K | pos plan: order N, seg N + 1, rows N]
    // (shared_loss); integer[0], integer[1]: distinct rows of the two plans.
    const auto* dev = static_cast<const std::int32_t*>(n.ptr[0]);
    const std::int32_t* np = dev + N + K;
    const std::int32_t* pp = np + 3 * K + 1;
    const cuda::RowScatter neg_plan{np, np + K, np + 2 * K + 1, n.integer[0]};
    const cuda::RowScatter pos_plan{pp, pp + N, pp + 2 * N + 1, n.integer[1]};
    TensorOf<T, B> none;
    cuda::shared_loss_backward(memory<B>::context(), hv, t.value(n.in[1]), dev, neg_plan, pos_plan, en, G, gp, n.grad,
                               t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none,
                               t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none);
  } else {
  const auto* pos = static_cast<const std::int32_t*>(n.ptr[0]);
  const auto* neg = static_cast<const std::int32_t*>(n.ptr[1]);
  const TensorOf<T, B>& ev = t.value(n.in[1]);
  const T g = n.grad[0];
  if (t.wants_grad(n.in[0])) {
    T* gh = t.grad(n.in[0]).data();
    gemm<T>(false, false, N, d, K, g, G.data(), K, en.data(), d, T(1), gh, d);
    METAREC_PARALLEL_FOR(N * d)
    for (index_t i = 0; i < N; ++i) {
      const T* ep = ev.data() + pos[i] * d;
      for (index_t k = 0; k < d; ++k) gh[i * d + k] += cuda::elem::shared_pos_grad_h_at(g, gp[i], ep, k);
    }
  }
  if (t.wants_grad(n.in[1])) {
    TensorOf<T, B> de = t.alloc(Shape{K, d});
    gemm<T>(true, false, K, d, N, g, G.data(), K, hv.data(), d, T(0), de.data(), d);
    TableGrad<T> ge(t, n.in[1]);
    for (index_t j = 0; j < K; ++j) ge.add_row(neg[j], T(1), de.data() + j * d, d);
    for (index_t i = 0; i < N; ++i) ge.add_row(pos[i], g * gp[i], hv.data() + i * d, d);
  }
  }
}

/// Shared by sampled_softmax and gbce: gathers the negatives, scores them with one GEMM,
/// turns each row's scores into its loss and dloss/dscore, records.
template <class T, class B = backend::Cpu>
Var<T, B> shared_loss(const char* op, SharedLoss kind, Var<T, B> h, Var<T, B> items, const std::int32_t* pos,
                   const SharedNegatives& neg, double beta) {
  Tape<T, B>& t = *h.tape;
  const TensorOf<T, B>& hv = h.value();
  const TensorOf<T, B>& ev = items.value();
  check_scoring_shapes(op, hv, ev);
  const index_t N = hv.dim(0), d = hv.dim(1), K = neg.count;
  if (K < 1) throw ShapeError(std::string(op) + ": no shared negatives (count " + std::to_string(K) + ")");
  check_targets(op, pos, N, 0, ev.dim(0));
  check_targets(op, neg.items, K, 0, ev.dim(0));
  TensorOf<T, B> en = t.alloc(Shape{K, d});  // the gathered negative rows
  TensorOf<T, B> G = t.alloc(Shape{N, K});   // scores, then dloss/dscore in place
  TensorOf<T, B> gp = t.alloc(Shape{N});
  double loss = 0;
  const void* ids[2] = {pos, neg.items};  // the host keeps pos and the negatives (borrowed until backward)
  index_t u_neg = 0, u_pos = 0;
  if constexpr (!B::is_host) {
    // One host array travels: pos, the negatives and, when the table wants a gradient, both grouped by table row
    // for the ordered scatter of the backward (layout in shared_loss_backward).
    const bool plan = t.wants_grad(items.id);
    const index_t len = N + K + (plan ? 3 * K + 1 + 3 * N + 1 : 0);
    std::int32_t* pack = t.template host_n<std::int32_t>(len);
    std::copy_n(pos, N, pack);
    std::copy_n(neg.items, K, pack + N);
    if (plan) {
      std::int32_t* np = pack + N + K;
      std::int32_t* pp = np + 3 * K + 1;
      u_neg = cuda::row_scatter_plan(neg.items, K, np, np + K, np + 2 * K + 1);
      u_pos = cuda::row_scatter_plan(pos, N, pp, pp + N, pp + 2 * N + 1);
    }
    const std::int32_t* dev = t.upload_n(pack, len);
    const double* log_q = kind == SharedLoss::softmax && neg.log_q ? t.upload_n(neg.log_q, K) : nullptr;
    loss = cuda::shared_loss(memory<B>::context(), kind, hv, ev, dev, dev + N, log_q, beta, en, G, gp);
    ids[0] = dev;
    ids[1] = nullptr;
  } else {
    for (index_t j = 0; j < K; ++j) std::copy_n(ev.data() + neg.items[j] * d, d, en.data() + j * d);
    gemm<T>(false, true, N, K, d, T(1), hv.data(), d, en.data(), d, T(0), G.data(), K);
    double* loss_row = t.template alloc_n<double>(N);
    const double invN = 1.0 / static_cast<double>(N), invK1 = 1.0 / static_cast<double>(K + 1);
    METAREC_PARALLEL_FOR(N * K)
    for (index_t i = 0; i < N; ++i) {
      const T* hi = hv.data() + i * d;
      const T* ep = ev.data() + pos[i] * d;
      loss_row[i] = cuda::elem::shared_loss_row(kind, hi, ep, d, pos[i], neg.items, neg.log_q, K, beta, invN, invK1,
                                                G.data() + i * K, gp.data() + i);
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
  nd.integer[0] = u_neg;
  nd.integer[1] = u_pos;
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
