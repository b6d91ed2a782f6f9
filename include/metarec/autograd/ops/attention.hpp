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
/// omp_get_num_threads()), so threading never nests. For L = 50, dh = 32
/// Eigen's kernel matched hand-written loops on baseline x86-64 and beat them
/// 1.6-3x with -march=native, so the per-head products go through gemm().
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

/// Masked, numerically stable softmax of one score row in place. Disallowed
/// keys (causal future, padding) get exactly 0; a row without any allowed key
/// becomes all zeros, so its output and gradients are zero, never NaN.
template <class T, class B = backend::Cpu>
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

/// SplitMix64 output for counter i of stream `key` (Steele et al. 2014). Counter-based: the draws of one
/// probability matrix do not depend on each other, so the loop below pipelines instead of waiting on a
/// generator's state chain.
inline std::uint64_t splitmix_at(std::uint64_t key, std::uint64_t i) {
  std::uint64_t z = key + (i + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// out = p * keep_mask / keep (inverted dropout); each 64-bit draw decides two elements with 32 bits each.
/// Branch-free: a data-dependent branch at rate ~p mispredicts on every other element (GCC turns a
/// `cond ? x : 0` or `x * bool` into exactly such a branch on baseline x86-64).
template <class T, class B = backend::Cpu>
void dropout_probabilities(const T* p, T* out, index_t n, double keep, std::uint64_t key) {
  const auto threshold = static_cast<std::uint64_t>(keep * 4294967296.0);
  const T scale = static_cast<T>(1.0 / keep);
  // keep bit = sign of (bits - threshold), both < 2^33: arithmetic, so the compiler emits no branch.
  auto kept = [threshold, scale](std::uint64_t bits) { return scale * static_cast<T>((bits - threshold) >> 63); };
  for (index_t e = 0; e < n; e += 2) {
    const std::uint64_t u = splitmix_at(key, static_cast<std::uint64_t>(e));
    out[e] = p[e] * kept(u & 0xffffffffu);
    if (e + 1 < n) out[e + 1] = p[e + 1] * kept(u >> 32);
  }
}

/// Where one (sequence, head) task reads and writes. Padded layout: q [B, Lq, d],
/// k/v [B, Lk, d]. Packed layout: rows of B variable-length sequences stacked
/// in [N, d], sequence b at rows [offsets[b], offsets[b+1]); self-attention
/// within each sequence only, so no padding is ever computed.
struct AttnTask {
  index_t qo, ko;     ///< element offsets of the head's first query / key
  index_t Lq, Lk;     ///< rows of this task
  index_t po;         ///< offset of its probability matrix
  const std::uint8_t* key_mask;
};

/// Task layout of one call, recovered from the node in backward.
struct AttnLayout {
  index_t B, Lq, Lk, d, H;
  const std::int32_t* offsets = nullptr;  ///< packed layout when set ([B + 1])
  const index_t* plane_offsets = nullptr;  ///< packed: sum of earlier sequences' L^2 ([B + 1])
  const std::uint8_t* key_mask = nullptr;
  index_t dh() const { return d / H; }
  index_t tasks() const { return B * H; }
  index_t planes() const { return offsets ? plane_offsets[B] * H : B * H * Lq * Lk; }
  index_t flops() const { return offsets ? plane_offsets[B] * d : B * Lq * Lk * d; }
  AttnTask task(index_t i) const {
    const index_t b = i / H, h = i % H;
    if (offsets) {
      const index_t n = offsets[b + 1] - offsets[b];
      return {offsets[b] * d + h * dh(), offsets[b] * d + h * dh(), n, n, plane_offsets[b] * H + h * n * n, nullptr};
    }
    return {b * Lq * d + h * dh(), b * Lk * d + h * dh(), Lq, Lk, i * Lq * Lk, key_mask ? key_mask + b * Lk : nullptr};
  }
};

/// The device op's arguments, from a node recorded by attention_impl on a device tape.
template <class T, class B>
cuda::AttentionArgs device_attention_args(const Node<T, B>& n) {
  cuda::AttentionArgs a;
  a.heads = static_cast<int>(n.integer[0]);
  a.sequences = n.integer[1];
  a.seed = static_cast<std::uint64_t>(n.integer[5]);
  a.causal = n.real[1] != 0;
  a.dropout = n.real[2];
  a.offsets = static_cast<const std::int32_t*>(n.ptr[0]);
  a.plane_offsets = static_cast<const std::int64_t*>(n.ptr[1]);
  a.key_mask = static_cast<const std::uint8_t*>(n.ptr[2]);
  return a;
}

template <class T, class B = backend::Cpu>
void attention_backward(Tape<T, B>& t, Node<T, B>& n) {
  if constexpr (!B::is_host) {
    const TensorOf<T, B> none;
    cuda::attention_backward(memory<B>::context(), t.value(n.in[0]), t.value(n.in[1]), t.value(n.in[2]),
                             device_attention_args(n), n.saved[0], n.saved[1], n.grad,
                             t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none,
                             t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none,
                             t.wants_grad(n.in[2]) ? t.grad(n.in[2]) : none);
    return;
  } else {
  const TensorOf<T, B>& qv = t.value(n.in[0]);
  const TensorOf<T, B>& kv = t.value(n.in[1]);
  const TensorOf<T, B>& vv = t.value(n.in[2]);
  const AttnLayout D{n.integer[1], n.integer[2], n.integer[3], qv.cols(), n.integer[0],
                     static_cast<const std::int32_t*>(n.ptr[0]), static_cast<const index_t*>(n.ptr[1]), nullptr};
  const T scale = static_cast<T>(n.real[0]);
  const T* P = n.saved[0].data();   // softmax probabilities
  const T* Pd = n.saved[1].data();  // what multiplied V: P after dropout (the same tensor without dropout)
  // Gradient buffers are created before the parallel region (grad() allocates).
  T* gq = t.wants_grad(n.in[0]) ? t.grad(n.in[0]).data() : nullptr;
  T* gk = t.wants_grad(n.in[1]) ? t.grad(n.in[1]).data() : nullptr;
  T* gv = t.wants_grad(n.in[2]) ? t.grad(n.in[2]).data() : nullptr;
  const index_t d = D.d, dh = D.dh();
  const index_t max_plane = n.integer[4];
  T* scratch = t.template alloc_n<T>(max_plane * num_threads());
  const T* g = n.grad.data();

#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 4) if (D.flops() >= ::metarec::parallel_grain)
#endif
  for (index_t task = 0; task < D.tasks(); ++task) {
    const AttnTask a = D.task(task);
    const index_t Lq = a.Lq, Lk = a.Lk;
    if (Lq == 0) continue;
    const T* p = P + a.po;
    const T* pd = Pd + a.po;
    // gV += Pd^T gO
    if (gv) gemm<T>(true, false, Lk, dh, Lq, T(1), pd, Lk, g + a.qo, d, T(1), gv + a.ko, d);
    if (!gq && !gk) continue;
    // dPd = gO V^T; with dP = dPd .* m (m = keep mask / keep, Pd = P .* m) the softmax backward
    // dS = P .* (dP - rowsum(P .* dP)) becomes Pd .* dPd - P * rowsum(Pd .* dPd): no mask needed.
    T* ds = scratch + thread_id() * max_plane;
    gemm<T>(false, true, Lq, Lk, dh, T(1), g + a.qo, d, vv.data() + a.ko, d, T(0), ds, Lk);
    for (index_t i = 0; i < Lq; ++i) {
      T* r = ds + i * Lk;
      const T* pr = p + i * Lk;
      const T* pdr = pd + i * Lk;
      T c = 0;
      for (index_t j = 0; j < Lk; ++j) c += pdr[j] * r[j];
      for (index_t j = 0; j < Lk; ++j) r[j] = pdr[j] * r[j] - pr[j] * c;
    }
    if (gq) gemm<T>(false, false, Lq, dh, Lk, scale, ds, Lk, kv.data() + a.ko, d, T(1), gq + a.qo, d);
    if (gk) gemm<T>(true, false, Lk, dh, Lq, scale, ds, Lk, qv.data() + a.qo, d, T(1), gk + a.ko, d);
  }
  }
}

template <class T, class B = backend::Cpu>
Var<T, B> attention_impl(Var<T, B> q, Var<T, B> k, Var<T, B> v, const AttnLayout& D, bool causal, double dropout) {
  Tape<T, B>& t = *q.tape;
  const TensorOf<T, B>& qv = q.value();
  const TensorOf<T, B>& kv = k.value();
  const TensorOf<T, B>& vv = v.value();
  const index_t d = D.d, dh = D.dh();
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(dh)));
  const bool dropping = t.training() && dropout > 0.0;
  const double keep = 1.0 - dropout;
  TensorOf<T, B> P = t.alloc(Shape{D.planes()});
  TensorOf<T, B> Pd = dropping ? t.alloc(Shape{D.planes()}) : P;
  TensorOf<T, B> out = t.alloc(qv.shape());
  // One draw from the tape's stream seeds every task, so masks do not depend on thread timing.
  const std::uint64_t seed = dropping ? t.rng().next() : 0;
  Var<T, B> y;
  if constexpr (!B::is_host) {
    // The host layout's index arrays go to the step's arena; the kernels draw the host's masks from the seed.
    cuda::AttentionArgs args;
    args.heads = static_cast<int>(D.H);
    args.sequences = D.B;
    args.causal = causal;
    args.dropout = dropping ? dropout : 0.0;
    args.seed = seed;
    args.offsets = D.offsets ? t.upload_n(D.offsets, D.B + 1) : nullptr;
    args.plane_offsets = D.offsets ? t.upload_n(reinterpret_cast<const std::int64_t*>(D.plane_offsets), D.B + 1) : nullptr;
    args.key_mask = D.key_mask ? t.upload_n(D.key_mask, D.B * D.Lk) : nullptr;
    cuda::attention_forward(memory<B>::context(), qv, kv, vv, args, P, Pd, out);
    y = t.record("attention", out, {q, k, v}, &detail::attention_backward<T, B>);
    Node<T, B>& node = t.node(y);
    node.integer[5] = static_cast<index_t>(seed);
    node.ptr[0] = args.offsets;
    node.ptr[1] = args.plane_offsets;
    node.ptr[2] = args.key_mask;
    node.real[1] = causal ? 1.0 : 0.0;
    node.real[2] = args.dropout;
  } else {
    index_t max_plane = 0;
    for (index_t i = 0; i < D.tasks(); i += D.H) {
      const AttnTask a = D.task(i);
      max_plane = std::max(max_plane, a.Lq * a.Lk);
    }
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 4) if (D.flops() >= ::metarec::parallel_grain)
#endif
    for (index_t task = 0; task < D.tasks(); ++task) {
      const AttnTask a = D.task(task);
      const index_t Lq = a.Lq, Lk = a.Lk;
      if (Lq == 0) continue;
      T* p = P.data() + a.po;
      gemm<T>(false, true, Lq, Lk, dh, scale, qv.data() + a.qo, d, kv.data() + a.ko, d, T(0), p, Lk);
      for (index_t i = 0; i < Lq; ++i) detail::masked_softmax_row(p + i * Lk, Lk, causal ? i : Lk - 1, a.key_mask);
      T* pd = p;
      if (dropping) {
        pd = Pd.data() + a.po;
        detail::dropout_probabilities(p, pd, Lq * Lk, keep, seed ^ (static_cast<std::uint64_t>(task) << 32));
      }
      gemm<T>(false, false, Lq, dh, Lk, T(1), pd, Lk, vv.data() + a.ko, d, T(0), out.data() + a.qo, d);
    }
    y = t.record("attention", out, {q, k, v}, &detail::attention_backward<T, B>);
    Node<T, B>& node = t.node(y);
    node.integer[4] = max_plane;
    node.ptr[0] = D.offsets;
    node.ptr[1] = D.plane_offsets;
  }
  Node<T, B>& node = t.node(y);
  node.saved[0] = P;
  node.saved[1] = Pd;
  node.integer[0] = D.H;
  node.integer[1] = D.B;
  node.integer[2] = D.Lq;
  node.integer[3] = D.Lk;
  node.real[0] = static_cast<double>(scale);
  return y;
}

inline void check_attention_config(int heads, index_t d, double dropout) {
  if (heads < 1 || d % heads != 0)
    throw ShapeError("attention: heads = " + std::to_string(heads) + " must be >= 1 and divide d = " +
                     std::to_string(d));
  if (!(dropout >= 0.0 && dropout < 1.0))
    throw ConfigError("attention: dropout = " + std::to_string(dropout) + " is out of range [0, 1)");
}

}  // namespace detail

/// Multi-head scaled dot-product attention on already projected inputs.
/// @param q     [B, Lq, d] queries
/// @param k, v  [B, Lk, d] keys and values
/// @param heads number of heads; divides d; each head uses scale 1/sqrt(d/heads)
/// @return [B, Lq, d], heads concatenated along the last dimension.
/// requires: heads >= 1, d % heads == 0, Lq == Lk when causal, 0 <= dropout < 1.
/// ensures: a query whose keys are all masked gets a zero output and zero gradient.
template <class T, class B = backend::Cpu>
Var<T, B> attention(Var<T, B> q, Var<T, B> k, Var<T, B> v, int heads, const AttentionOptions& opt = {}) {
  const TensorOf<T, B>& qv = q.value();
  const TensorOf<T, B>& kv = k.value();
  const TensorOf<T, B>& vv = v.value();
  expect_rank("attention", "query", qv.shape(), 3);
  expect_rank("attention", "key", kv.shape(), 3);
  expect_shape("attention", "value", vv.shape(), kv.shape());
  if (kv.dim(0) != qv.dim(0) || kv.dim(2) != qv.dim(2))
    throw ShapeError("attention: key " + kv.shape().str() + " does not match query " + qv.shape().str() +
                     " (batch and feature dimensions must agree)");
  detail::check_attention_config(heads, qv.dim(2), opt.dropout);
  if (opt.causal && qv.dim(1) != kv.dim(1))
    throw ShapeError("attention: causal masking needs Lq == Lk, got query " + qv.shape().str() + " and key " +
                     kv.shape().str());
  const detail::AttnLayout D{qv.dim(0), qv.dim(1), kv.dim(1), qv.dim(2), heads, nullptr, nullptr, opt.key_mask};
  return detail::attention_impl(q, k, v, D, opt.causal, opt.dropout);
}

/// Self-attention over packed variable-length sequences: q, k, v are [N, d],
/// sequence b occupies rows [offsets[b], offsets[b+1]) (offsets[0] = 0,
/// offsets[B] = N, non-decreasing; borrowed until backward). Each sequence
/// attends only to itself (causally if asked), which equals padded attention
/// with a key-padding mask on the real positions, without computing padding.
template <class T, class B = backend::Cpu>
Var<T, B> packed_attention(Var<T, B> q, Var<T, B> k, Var<T, B> v, int heads, const std::int32_t* offsets, index_t sequences,
                        bool causal, double dropout = 0.0) {
  Tape<T, B>& t = *q.tape;
  const TensorOf<T, B>& qv = q.value();
  expect_rank("packed_attention", "query", qv.shape(), 2);
  expect_shape("packed_attention", "key", k.shape(), qv.shape());
  expect_shape("packed_attention", "value", v.shape(), qv.shape());
  detail::check_attention_config(heads, qv.dim(1), dropout);
  if (sequences < 0 || offsets[0] != 0 || offsets[sequences] != qv.dim(0))
    throw ShapeError("packed_attention: offsets must run from 0 to the " + std::to_string(qv.dim(0)) + " rows");
  index_t* planes = t.template host_n<index_t>(sequences + 1);
  planes[0] = 0;
  for (index_t b = 0; b < sequences; ++b) {
    const index_t n = offsets[b + 1] - offsets[b];
    if (n < 0) throw ShapeError("packed_attention: offsets decrease at sequence " + std::to_string(b));
    planes[b + 1] = planes[b] + n * n;
  }
  const detail::AttnLayout D{sequences, 0, 0, qv.dim(1), heads, offsets, planes, nullptr};
  return detail::attention_impl(q, k, v, D, causal, dropout);
}

}  // namespace metarec::ops
