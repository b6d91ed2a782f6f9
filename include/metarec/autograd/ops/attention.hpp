#pragma once
/// @file attention.hpp
/// Fused multi-head scaled dot-product attention (Vaswani et al. 2017,
/// "Attention Is All You Need") with causal and key-padding masks and dropout
/// on the attention probabilities, and its hand-written backward.
///
/// One (batch, head) pair is one task: its Q, K, V are strided views of the
/// [B, L, d] inputs (leading dimension d), so heads are never copied out.
/// Tasks run in parallel with OpenMP; the GEMMs inside them are Eigen's, which
/// stays single-threaded inside a parallel region (it checks
/// omp_get_num_threads()), so threading never nests.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

struct AttentionOptions {
  bool causal = false;                     ///< query i attends keys j <= i (self-attention, Lq == Lk)
  const std::uint8_t* key_mask = nullptr;  ///< [B, Lk], nonzero = real key; borrowed until backward
  double dropout = 0.0;                    ///< on attention probabilities (training mode only, tape.rng())
};

namespace detail {

/// Sizes of one attention call, recovered from the node in backward.
struct AttnDims {
  index_t B, Lq, Lk, d, H, dh;
  index_t tasks() const { return B * H; }
  index_t plane() const { return Lq * Lk; }  ///< one (batch, head) probability matrix
  /// Work per call, for the serial/parallel decision.
  index_t flops() const { return B * H * Lq * Lk * dh; }
};

/// Masked, numerically stable softmax of one score row in place. Disallowed
/// keys (causal future, padding) get exactly 0; a row without any allowed key
/// becomes all zeros, so its output and gradients are zero, never NaN.
template <class T>
void masked_softmax_row(T* s, index_t Lk, index_t last_key, const std::uint8_t* key_mask) {
  T mx = -std::numeric_limits<T>::infinity();
  for (index_t j = 0; j <= last_key; ++j)
    if (!key_mask || key_mask[j]) mx = std::max(mx, s[j]);
  if (mx == -std::numeric_limits<T>::infinity()) {  // nothing to attend to
    std::fill_n(s, Lk, T(0));
    return;
  }
  T total = 0;
  for (index_t j = 0; j <= last_key; ++j) {
    const T e = (!key_mask || key_mask[j]) ? std::exp(s[j] - mx) : T(0);
    s[j] = e;
    total += e;
  }
  const T inv = T(1) / total;
  for (index_t j = 0; j <= last_key; ++j) s[j] *= inv;
  for (index_t j = last_key + 1; j < Lk; ++j) s[j] = T(0);
}

/// out = p * keep_mask / keep (inverted dropout). Each 64-bit draw decides two
/// elements with 32 bits each: the RNG is otherwise a visible part of the forward.
template <class T>
void dropout_probabilities(const T* p, T* out, index_t n, double keep, Rng& rng) {
  const auto threshold = static_cast<std::uint64_t>(keep * 4294967296.0);
  const T scale = static_cast<T>(1.0 / keep);
  for (index_t e = 0; e < n; e += 2) {
    const std::uint64_t u = rng.next();
    out[e] = (u & 0xffffffffu) < threshold ? p[e] * scale : T(0);
    if (e + 1 < n) out[e + 1] = (u >> 32) < threshold ? p[e + 1] * scale : T(0);
  }
}

template <class T>
void attention_backward(Tape<T>& t, Node<T>& n) {
  const Tensor<T>& qv = t.value(n.in[0]);
  const Tensor<T>& kv = t.value(n.in[1]);
  const Tensor<T>& vv = t.value(n.in[2]);
  const AttnDims D{qv.dim(0), qv.dim(1), kv.dim(1), qv.dim(2), n.integer[0], qv.dim(2) / n.integer[0]};
  const T scale = static_cast<T>(n.real[0]), keep_scale = static_cast<T>(n.real[1]);
  const bool dropped = n.integer[1] != 0;
  const T* P = n.saved[0].data();                          // softmax probabilities
  const T* Pd = dropped ? n.saved[1].data() : P;           // what multiplied V
  // Gradient buffers are created before the parallel region (grad() allocates).
  T* gq = t.wants_grad(n.in[0]) ? t.grad(n.in[0]).data() : nullptr;
  T* gk = t.wants_grad(n.in[1]) ? t.grad(n.in[1]).data() : nullptr;
  T* gv = t.wants_grad(n.in[2]) ? t.grad(n.in[2]).data() : nullptr;
  const index_t plane = D.plane(), d = D.d, dh = D.dh, Lq = D.Lq, Lk = D.Lk;
  T* scratch = t.template alloc_n<T>(plane * num_threads());
  const T* g = n.grad.data();

  METAREC_PARALLEL_FOR(D.flops())
  for (index_t task = 0; task < D.tasks(); ++task) {
    const index_t b = task / D.H, h = task % D.H;
    const index_t qo = b * Lq * d + h * dh, ko = b * Lk * d + h * dh;
    const T* p = P + task * plane;
    const T* pd = Pd + task * plane;
    // gV += Pd^T gO
    if (gv) gemm<T>(true, false, Lk, dh, Lq, T(1), pd, Lk, g + qo, d, T(1), gv + ko, d);
    if (!gq && !gk) continue;
    // dPd = gO V^T, then dS = P .* (dP - rowsum(Pd .* dPd)) with dP = dPd .* keep-mask / (1 - p).
    T* ds = scratch + thread_id() * plane;
    gemm<T>(false, true, Lq, Lk, dh, T(1), g + qo, d, vv.data() + ko, d, T(0), ds, Lk);
    for (index_t i = 0; i < Lq; ++i) {
      T* r = ds + i * Lk;
      const T* pr = p + i * Lk;
      const T* pdr = pd + i * Lk;
      T c = 0;
      for (index_t j = 0; j < Lk; ++j) c += pdr[j] * r[j];
      if (dropped)
        for (index_t j = 0; j < Lk; ++j) r[j] = pr[j] * ((pdr[j] != T(0) ? r[j] * keep_scale : T(0)) - c);
      else
        for (index_t j = 0; j < Lk; ++j) r[j] = pr[j] * (r[j] - c);
    }
    if (gq) gemm<T>(false, false, Lq, dh, Lk, scale, ds, Lk, kv.data() + ko, d, T(1), gq + qo, d);
    if (gk) gemm<T>(true, false, Lk, dh, Lq, scale, ds, Lk, qv.data() + qo, d, T(1), gk + ko, d);
  }
}

}  // namespace detail

/// Multi-head scaled dot-product attention on already projected inputs.
/// @param q     [B, Lq, d] queries
/// @param k, v  [B, Lk, d] keys and values
/// @param heads number of heads; divides d; each head uses scale 1/sqrt(d/heads)
/// @return [B, Lq, d], heads concatenated along the last dimension.
/// requires: heads >= 1, d % heads == 0, Lq == Lk when causal, 0 <= dropout < 1.
/// ensures: a query whose keys are all masked gets a zero output and zero gradient.
template <class T>
Var<T> attention(Var<T> q, Var<T> k, Var<T> v, int heads, const AttentionOptions& opt = {}) {
  Tape<T>& t = *q.tape;
  const Tensor<T>& qv = q.value();
  const Tensor<T>& kv = k.value();
  const Tensor<T>& vv = v.value();
  expect_rank("attention", "query", qv.shape(), 3);
  expect_rank("attention", "key", kv.shape(), 3);
  expect_shape("attention", "value", vv.shape(), kv.shape());
  if (kv.dim(0) != qv.dim(0) || kv.dim(2) != qv.dim(2))
    throw ShapeError("attention: key " + kv.shape().str() + " does not match query " + qv.shape().str() +
                     " (batch and feature dimensions must agree)");
  const index_t d = qv.dim(2);
  if (heads < 1 || d % heads != 0)
    throw ShapeError("attention: heads = " + std::to_string(heads) + " must be >= 1 and divide d = " +
                     std::to_string(d));
  if (opt.causal && qv.dim(1) != kv.dim(1))
    throw ShapeError("attention: causal masking needs Lq == Lk, got query " + qv.shape().str() + " and key " +
                     kv.shape().str());
  if (!(opt.dropout >= 0.0 && opt.dropout < 1.0))
    throw ConfigError("attention: dropout = " + std::to_string(opt.dropout) + " is out of range [0, 1)");

  const detail::AttnDims D{qv.dim(0), qv.dim(1), kv.dim(1), d, heads, d / heads};
  const index_t plane = D.plane(), dh = D.dh, Lq = D.Lq, Lk = D.Lk;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(dh)));
  const bool dropping = t.training() && opt.dropout > 0.0;
  const double keep = 1.0 - opt.dropout;
  Tensor<T> P = t.alloc(Shape{D.B, heads, Lq, Lk});
  Tensor<T> Pd = dropping ? t.alloc(Shape{D.B, heads, Lq, Lk}) : P;
  Tensor<T> out = t.alloc(qv.shape());
  // One draw from the tape's stream seeds every task, so masks do not depend on thread timing.
  const std::uint64_t seed = dropping ? t.rng().next() : 0;

  METAREC_PARALLEL_FOR(D.flops())
  for (index_t task = 0; task < D.tasks(); ++task) {
    const index_t b = task / heads, h = task % heads;
    const index_t qo = b * Lq * d + h * dh, ko = b * Lk * d + h * dh;
    T* p = P.data() + task * plane;
    gemm<T>(false, true, Lq, Lk, dh, scale, qv.data() + qo, d, kv.data() + ko, d, T(0), p, Lk);
    const std::uint8_t* km = opt.key_mask ? opt.key_mask + b * Lk : nullptr;
    for (index_t i = 0; i < Lq; ++i)
      detail::masked_softmax_row(p + i * Lk, Lk, opt.causal ? i : Lk - 1, km);
    T* pd = p;
    if (dropping) {
      pd = Pd.data() + task * plane;
      Rng rng(seed + static_cast<std::uint64_t>(task));
      detail::dropout_probabilities(p, pd, plane, keep, rng);
    }
    gemm<T>(false, false, Lq, dh, Lk, T(1), pd, Lk, vv.data() + ko, d, T(0), out.data() + qo, d);
  }

  Var<T> y = t.record("attention", out, {q, k, v}, &detail::attention_backward<T>);
  Node<T>& node = t.node(y);
  node.saved[0] = P;
  node.saved[1] = Pd;
  node.integer[0] = heads;
  node.integer[1] = dropping;
  node.real[0] = static_cast<double>(scale);
  node.real[1] = 1.0 / keep;
  node.ptr[0] = opt.key_mask;
  return y;
}

}  // namespace metarec::ops
