#pragma once
/// @file element_losses.hpp
/// Per-row and per-element bodies of the sampled losses (ops/sampled_losses.hpp,
/// ops/shared_negative_losses.hpp) and of SGD and gradient clipping
/// (optim/sgd.hpp, optim/clip.hpp), written once as METAREC_HD functions on
/// raw pointers: the CPU ops call them in their loops and the device kernels
/// (cuda/src/kernels_losses.cu) in grid-stride loops, so the arithmetic of a
/// row (its dot products in double, its loss, its dloss/dscore) is the same
/// code on both sides. No Eigen, no CUDA headers (C++17: nvcc reads it).
#include "metarec/cuda/element_ops.hpp"

namespace metarec::cuda::elem {

// ---- double math not in element_ops.hpp ------------------------------------
#if defined(__CUDA_ARCH__)
METAREC_HD inline double m_log1p(double x) { return ::log1p(x); }
METAREC_HD inline double m_fabs(double x) { return ::fabs(x); }
#else
METAREC_HD inline double m_log1p(double x) { return std::log1p(x); }
METAREC_HD inline double m_fabs(double x) { return std::fabs(x); }
#endif
/// std::max's semantics ((a < b) ? b : a), usable on the device.
METAREC_HD inline double max_std(double a, double b) { return (a < b) ? b : a; }

/// log(1 + exp(x)) without overflow.
METAREC_HD inline double softplus(double x) { return max_std(x, 0.0) + m_log1p(m_exp(-m_fabs(x))); }
/// 1 / (1 + exp(-x)) without overflow on either side.
METAREC_HD inline double sigmoid(double x) {
  return x >= 0 ? 1.0 / (1.0 + m_exp(-x)) : m_exp(x) / (1.0 + m_exp(x));
}

// ---- one sampled negative per row (ops/sampled_losses.hpp) ------------------
enum class PairLoss : int { bce = 0, bpr = 1 };

/// Row i of detail::pair_loss: the positive and negative scores <h, e+>,
/// <h, e-> (summed in double, in order), the row's loss (returned) and
/// coef2[0, 2) = dloss/dscore_pos, dloss/dscore_neg, already / N.
template <class T>
METAREC_HD inline double pair_loss_row(PairLoss kind, const T* hi, const T* ep, const T* en, idx d, double invN,
                                       T* coef2) {
  double sp = 0, sn = 0;
  for (idx k = 0; k < d; ++k) sp += static_cast<double>(hi[k]) * ep[k], sn += static_cast<double>(hi[k]) * en[k];
  if (kind == PairLoss::bce) {
    coef2[0] = static_cast<T>((sigmoid(sp) - 1.0) * invN);
    coef2[1] = static_cast<T>(sigmoid(sn) * invN);
    return softplus(-sp) + softplus(sn);
  }
  const double c = (sigmoid(sp - sn) - 1.0) * invN;
  coef2[0] = static_cast<T>(c);
  coef2[1] = static_cast<T>(-c);
  return softplus(sn - sp);
}

/// Element k of row i's hidden-state gradient (pair_loss_backward): g the
/// upstream scalar, coef2 the row's two coefficients, ep / en its item rows.
template <class T>
METAREC_HD inline T pair_grad_h_at(T g, const T* coef2, const T* ep, const T* en, idx k) {
  const T cp = g * coef2[0], cn = g * coef2[1];
  return cp * ep[k] + cn * en[k];
}

// ---- K negatives shared by the batch (ops/shared_negative_losses.hpp) -------
enum class SharedLoss : int { softmax = 0, gbce = 1 };

/// Row i of detail::shared_loss. gi: the row's K negative scores <h, e_j>
/// (in), replaced by dloss/dscore_j already / N (out); neg: the K table rows
/// (a negative equal to `pos` is left out); log_q: K corrections or null;
/// *gp_i = dloss/dscore of the positive. Returns the row's loss.
template <class T>
METAREC_HD inline double shared_loss_row(SharedLoss kind, const T* hi, const T* ep, idx d, std::int32_t pos,
                                         const std::int32_t* neg, const double* log_q, idx K, double beta,
                                         double invN, double invK1, T* gi, T* gp_i) {
  double sp = 0;
  for (idx k = 0; k < d; ++k) sp += static_cast<double>(hi[k]) * ep[k];
  if (kind == SharedLoss::softmax) {
    // Corrected logits z_j = s_j - log(K Q(j)); hits get exp(z) = 0.
    double mx = sp;
    for (idx j = 0; j < K; ++j)
      if (neg[j] != pos) mx = max_std(mx, static_cast<double>(gi[j]) - (log_q ? log_q[j] : 0.0));
    double sum = m_exp(sp - mx);
    for (idx j = 0; j < K; ++j) {
      const double e = neg[j] == pos ? 0.0 : m_exp(static_cast<double>(gi[j]) - (log_q ? log_q[j] : 0.0) - mx);
      sum += e;
      gi[j] = static_cast<T>(e);  // unnormalised for now
    }
    const double lse = mx + m_log(sum);
    for (idx j = 0; j < K; ++j) gi[j] = static_cast<T>(static_cast<double>(gi[j]) / sum * invN);
    *gp_i = static_cast<T>((m_exp(sp - lse) - 1.0) * invN);
    return lse - sp;
  }
  double l = beta * softplus(-sp);
  for (idx j = 0; j < K; ++j) {
    const double s = gi[j];
    const bool hit = neg[j] == pos;
    l += hit ? 0.0 : softplus(s);
    gi[j] = static_cast<T>(hit ? 0.0 : sigmoid(s) * invK1 * invN);
  }
  *gp_i = static_cast<T>(beta * (sigmoid(sp) - 1.0) * invK1 * invN);
  return l * invK1;
}

/// Element k of the positive's part of the hidden-state gradient of row i
/// (shared_loss_backward): (g * gp_i) * e_pos[k].
template <class T>
METAREC_HD inline T shared_pos_grad_h_at(T g, T gp_i, const T* ep, idx k) {
  const T c = g * gp_i;
  return c * ep[k];
}

// ---- ordered scatter into an item table's gradient --------------------------
/// Column k of table row `row`: G[row, k] += c_q X[q / per, k] for the
/// contributions q = order[lo..hi) of that row, in that order, with
/// c_q = (g ? g[0] : 1) * (coef ? coef[q] : 1). The CPU's TableGrad adds the
/// same products to each row in the same order (contributions by q), so a
/// device scatter planned by row (cuda::row_scatter_plan) is deterministic
/// and needs no atomics.
template <class T>
METAREC_HD inline void scatter_ordered_at(const T* g, const T* coef, const T* X, idx per, const std::int32_t* order,
                                          idx lo, idx hi, idx d, idx k, T* G_row) {
  T acc = G_row[k];
  for (idx j = lo; j < hi; ++j) {
    const idx q = order[j];
    const T c = g ? (coef ? g[0] * coef[q] : g[0]) : (coef ? coef[q] : T(1));
    acc += c * X[(q / per) * d + k];
  }
  G_row[k] = acc;
}

// ---- SGD (optim/sgd.hpp) ----------------------------------------------------
template <class T>
struct SgdScalars {
  T lr, wd, mu;
  bool nesterov;
};
/// Element i of one SGD step; buf (the momentum buffer) is null without momentum.
template <class T>
METAREC_HD inline void sgd_update_at(const SgdScalars<T>& a, T* w, const T* gr, T* buf, idx i) {
  T g = gr[i] + a.wd * w[i];
  if (buf) {
    buf[i] = a.mu * buf[i] + g;
    g = a.nesterov ? g + a.mu * buf[i] : buf[i];
  }
  w[i] -= a.lr * g;
}

}  // namespace metarec::cuda::elem
