#pragma once
/// @file sampled_losses.hpp
/// Losses with one sampled negative per row, scored against a tied item table:
/// - sampled_bce: binary cross-entropy on the positive and the negative score,
///   as in SASRec (Kang & McAuley 2018, "Self-Attentive Sequential
///   Recommendation"), -log s(<h,e+>) - log(1 - s(<h,e->));
/// - bpr: Bayesian personalised ranking (Rendle et al. 2009),
///   -log s(<h,e+> - <h,e->).
/// Only 2N rows of the table receive gradient (TableGrad: row-sparse for a
/// sparse_rows Parameter). The scatter into the table is serial so repeated
/// items accumulate in a fixed order.
/// A row's loss and dloss/dscore are cuda::elem::pair_loss_row
/// (cuda/element_losses.hpp), the one body of the host loop and the device
/// kernel; on backend::Cuda the table scatter keeps the host's order per row
/// (cuda::row_scatter_plan), with dense gradients.
#include <cmath>
#include <cstdint>
#include <string>

#include "metarec/autograd/ops/cross_entropy.hpp"
#include "metarec/cuda/ops_losses.hpp"

namespace metarec::ops {

namespace detail {

using PairLoss = cuda::elem::PairLoss;  // bce, bpr

/// log(1 + exp(x)) without overflow.
inline double softplus(double x) { return cuda::elem::softplus(x); }
inline double sigmoid(double x) { return cuda::elem::sigmoid(x); }

/// The gradient of an item table that receives a few rows: a sparse_rows
/// Parameter gets them in its raw gradient (touched rows, so the optimizer
/// visits only those), anything else a dense gradient.
template <class T, class B = backend::Cpu>
class TableGrad {
 public:
  TableGrad(Tape<T, B>& t, int id) {
    Node<T, B>& n = t.node(id);
    sparse_ = n.param && n.param->sparse_rows && !n.grad.empty() ? n.param : nullptr;
    data_ = sparse_ ? t.raw_grad(id).data() : t.grad(id).data();
  }
  /// Row r += c * x[0, d).
  void add_row(std::int32_t r, T c, const T* x, index_t d) {
    T* g = data_ + static_cast<index_t>(r) * d;
    for (index_t k = 0; k < d; ++k) g[k] += c * x[k];
    if (sparse_) sparse_->touch_row(r);
  }

 private:
  T* data_ = nullptr;
  Parameter<T, B>* sparse_ = nullptr;
};

template <class T, class B = backend::Cpu>
void pair_loss_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& hv = t.value(n.in[0]);
  const TensorOf<T, B>& ev = t.value(n.in[1]);
  const index_t N = hv.dim(0), d = hv.dim(1);
  if constexpr (!B::is_host) {
    // ptr[0]: device [pair ids 2N | plan: order 2N, seg 2N + 1, rows 2N] (pair_loss); integer[0]: distinct rows.
    const auto* dev = static_cast<const std::int32_t*>(n.ptr[0]);
    const index_t Q = 2 * N;
    const cuda::RowScatter plan{dev + Q, dev + 2 * Q, dev + 3 * Q + 1, n.integer[0]};
    TensorOf<T, B> none;
    cuda::pair_loss_backward(memory<B>::context(), hv, ev, dev, plan, n.saved[0], n.grad,
                             t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none,
                             t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none);
  } else {
  const auto* pos = static_cast<const std::int32_t*>(n.ptr[0]);
  const auto* neg = static_cast<const std::int32_t*>(n.ptr[1]);
  const T g = n.grad[0];
  const T* coef = n.saved[0].data();  // [N, 2]: dloss/dscore_pos, dloss/dscore_neg (already / N)
  if (t.wants_grad(n.in[0])) {
    T* gh = t.grad(n.in[0]).data();
    METAREC_PARALLEL_FOR(N * d)
    for (index_t i = 0; i < N; ++i) {
      const T* ep = ev.data() + pos[i] * d;
      const T* en = ev.data() + neg[i] * d;
      for (index_t k = 0; k < d; ++k) gh[i * d + k] += cuda::elem::pair_grad_h_at(g, coef + 2 * i, ep, en, k);
    }
  }
  if (t.wants_grad(n.in[1])) {
    TableGrad<T> ge(t, n.in[1]);
    for (index_t i = 0; i < N; ++i) {
      const T* hi = hv.data() + i * d;
      ge.add_row(pos[i], g * coef[2 * i], hi, d);
      ge.add_row(neg[i], g * coef[2 * i + 1], hi, d);
    }
  }
  }
}

template <class T, class B = backend::Cpu>
Var<T, B> pair_loss(const char* op, PairLoss kind, Var<T, B> h, Var<T, B> items, const std::int32_t* pos,
                 const std::int32_t* neg) {
  Tape<T, B>& t = *h.tape;
  const TensorOf<T, B>& hv = h.value();
  const TensorOf<T, B>& ev = items.value();
  check_scoring_shapes(op, hv, ev);
  const index_t N = hv.dim(0), d = hv.dim(1);
  check_targets(op, pos, N, 0, ev.dim(0));
  check_targets(op, neg, N, 0, ev.dim(0));
  TensorOf<T, B> coef = t.alloc(Shape{N, 2});  // dloss/dscore (pos, neg) per row, already / N
  double loss = 0;
  const void* ids[2] = {pos, neg};  // the host keeps pos and neg (borrowed until backward)
  index_t unique = 0;
  if constexpr (!B::is_host) {
    // One host array travels: the pair ids (q = 2 i + slot, as coef) and, when the table wants a gradient,
    // their grouping by table row for the ordered scatter of the backward.
    const index_t Q = 2 * N;
    const bool plan = t.wants_grad(items.id);
    const index_t len = plan ? 4 * Q + 1 : Q;
    std::int32_t* pack = t.template host_n<std::int32_t>(len);
    for (index_t i = 0; i < N; ++i) pack[2 * i] = pos[i], pack[2 * i + 1] = neg[i];
    unique = plan ? cuda::row_scatter_plan(pack, Q, pack + Q, pack + 2 * Q, pack + 3 * Q + 1) : 0;
    const std::int32_t* dev = t.upload_n(pack, len);
    loss = cuda::pair_loss(memory<B>::context(), kind, hv, ev, dev, coef);
    ids[0] = dev;
    ids[1] = nullptr;
  } else {
    double* loss_row = t.template alloc_n<double>(N);
    const double invN = 1.0 / static_cast<double>(N);
    METAREC_PARALLEL_FOR(N * d)
    for (index_t i = 0; i < N; ++i) {
      const T* hi = hv.data() + i * d;
      const T* ep = ev.data() + pos[i] * d;
      const T* en = ev.data() + neg[i] * d;
      loss_row[i] = cuda::elem::pair_loss_row(kind, hi, ep, en, d, invN, coef.data() + 2 * i);
    }
    for (index_t i = 0; i < N; ++i) loss += loss_row[i];
    loss *= invN;
  }
  Var<T, B> out = record_loss(t, op, loss, h, items, &pair_loss_backward<T, B>);
  Node<T, B>& nd = t.node(out);
  nd.saved[0] = coef;
  nd.ptr[0] = ids[0];
  nd.ptr[1] = ids[1];
  nd.integer[0] = unique;
  return out;
}

}  // namespace detail

/// One sampled negative per row (SASRec): mean of -log s(<h,e_pos>) - log(1 - s(<h,e_neg>)).
/// h: [N, d], items: [n_rows, d], pos/neg: N table rows (borrowed until backward).
template <class T, class B = backend::Cpu>
Var<T, B> sampled_bce(Var<T, B> h, Var<T, B> items, const std::int32_t* pos, const std::int32_t* neg) {
  return detail::pair_loss("sampled_bce", detail::PairLoss::bce, h, items, pos, neg);
}

/// BPR: mean of -log s(<h,e_pos> - <h,e_neg>). Same arguments as sampled_bce.
template <class T, class B = backend::Cpu>
Var<T, B> bpr(Var<T, B> h, Var<T, B> items, const std::int32_t* pos, const std::int32_t* neg) {
  return detail::pair_loss("bpr", detail::PairLoss::bpr, h, items, pos, neg);
}

}  // namespace metarec::ops
