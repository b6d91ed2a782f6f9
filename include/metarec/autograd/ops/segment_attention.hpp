#pragma once
/// @file segment_attention.hpp
/// Multi-head cross-attention between packed segments (Vaswani et al. 2017):
/// the queries of segment s (rows [q_off[s], q_off[s+1]) of q) attend the
/// keys/values of segment s only (rows [k_off[s], k_off[s+1]) of k, v).
/// MISSRec's interest-aware decoder uses it: each sequence (or each training
/// prefix) cross-attends its own de-duplicated interest tokens, which are
/// stored packed, so no padding is computed and no key mask is needed.
///
/// The padded ops::attention covers cross-attention on [B, Lq, d] x [B, Lk, d]
/// with a key mask; this op is its packed counterpart with independent query
/// and key segmentations. It reuses that file's masked softmax, counter-based
/// dropout and configuration check; the per-task GEMMs are the same as there.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "metarec/autograd/ops/attention.hpp"

namespace metarec::ops {

namespace detail {

/// Layout of one segment_attention call: S segments, H heads, row width d.
struct SegmentLayout {
  index_t S, d, H;
  const std::int32_t* q_off;
  const std::int32_t* k_off;
  const index_t* planes;  ///< [S + 1] prefix sums of nq * nk
  index_t dh() const { return d / H; }
  index_t nq(index_t s) const { return q_off[s + 1] - q_off[s]; }
  index_t nk(index_t s) const { return k_off[s + 1] - k_off[s]; }
  /// Offset of the probability matrix of (segment s, head h).
  index_t plane(index_t s, index_t h) const { return planes[s] * H + h * nq(s) * nk(s); }
};

template <class T, class B = backend::Cpu>
void segment_attention_backward(Tape<T, B>& t, Node<T, B>& n) {
  const TensorOf<T, B>& qv = t.value(n.in[0]);
  const TensorOf<T, B>& kv = t.value(n.in[1]);
  const TensorOf<T, B>& vv = t.value(n.in[2]);
  const SegmentLayout D{n.integer[0], qv.cols(), n.integer[1], static_cast<const std::int32_t*>(n.ptr[0]),
                        static_cast<const std::int32_t*>(n.ptr[1]), static_cast<const index_t*>(n.ptr[2])};
  const T scale = static_cast<T>(n.real[0]);
  const T* P = n.saved[0].data();
  const T* Pd = n.saved[1].data();
  T* gq = t.wants_grad(n.in[0]) ? t.grad(n.in[0]).data() : nullptr;
  T* gk = t.wants_grad(n.in[1]) ? t.grad(n.in[1]).data() : nullptr;
  T* gv = t.wants_grad(n.in[2]) ? t.grad(n.in[2]).data() : nullptr;
  const index_t d = D.d, dh = D.dh(), max_plane = n.integer[2];
  T* scratch = t.template alloc_n<T>(std::max<index_t>(max_plane, 1) * num_threads());
  const T* g = n.grad.data();
  // One segment (all heads) per task: heads of a segment write disjoint columns,
  // different segments may share no rows of q but may not share k rows either
  // (offsets are non-decreasing), so tasks never write the same element.
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 4) if (D.planes[D.S] * d >= ::metarec::parallel_grain)
#endif
  for (index_t s = 0; s < D.S; ++s) {
    const index_t Lq = D.nq(s), Lk = D.nk(s);
    if (Lq == 0 || Lk == 0) continue;
    const index_t qo = D.q_off[s] * d, ko = D.k_off[s] * d;
    for (index_t h = 0; h < D.H; ++h) {
      const T* p = P + D.plane(s, h);
      const T* pd = Pd + D.plane(s, h);
      const index_t qh = qo + h * dh, kh = ko + h * dh;
      if (gv) gemm<T>(true, false, Lk, dh, Lq, T(1), pd, Lk, g + qh, d, T(1), gv + kh, d);
      if (!gq && !gk) continue;
      T* ds = scratch + thread_id() * max_plane;
      gemm<T>(false, true, Lq, Lk, dh, T(1), g + qh, d, vv.data() + kh, d, T(0), ds, Lk);
      for (index_t i = 0; i < Lq; ++i) {  // softmax backward through the dropout mask (see attention.hpp)
        T* r = ds + i * Lk;
        const T* pr = p + i * Lk;
        const T* pdr = pd + i * Lk;
        T c = 0;
        for (index_t j = 0; j < Lk; ++j) c += pdr[j] * r[j];
        for (index_t j = 0; j < Lk; ++j) r[j] = pdr[j] * r[j] - pr[j] * c;
      }
      if (gq) gemm<T>(false, false, Lq, dh, Lk, scale, ds, Lk, kv.data() + kh, d, T(1), gq + qh, d);
      if (gk) gemm<T>(true, false, Lk, dh, Lq, scale, ds, Lk, qv.data() + qh, d, T(1), gk + kh, d);
    }
  }
}

}  // namespace detail

/// Cross-attention of packed query segments over packed key/value segments.
/// @param q        [Nq, d] queries (already projected)
/// @param k, v     [Nk, d] keys and values (already projected)
/// @param q_off    [S + 1] non-decreasing, q_off[0] = 0, q_off[S] = Nq (borrowed until backward)
/// @param k_off    [S + 1] non-decreasing, k_off[0] = 0, k_off[S] = Nk (borrowed until backward)
/// @param dropout  on the attention probabilities (training mode only), in [0, 1)
/// @return [Nq, d]; a segment without keys gets zero outputs and zero gradients.
template <class T, class B = backend::Cpu>
Var<T, B> segment_attention(Var<T, B> q, Var<T, B> k, Var<T, B> v, int heads, const std::int32_t* q_off,
                         const std::int32_t* k_off, index_t segments, double dropout = 0.0) {
  Tape<T, B>& t = *q.tape;
  const TensorOf<T, B>& qv = q.value();
  const TensorOf<T, B>& kv = k.value();
  const TensorOf<T, B>& vv = v.value();
  expect_rank("segment_attention", "query", qv.shape(), 2);
  expect_rank("segment_attention", "key", kv.shape(), 2);
  expect_shape("segment_attention", "value", vv.shape(), kv.shape());
  if (kv.dim(1) != qv.dim(1))
    throw ShapeError("segment_attention: key " + kv.shape().str() + " and query " + qv.shape().str() +
                     " differ in the feature dimension");
  detail::check_attention_config(heads, qv.dim(1), dropout);
  if (segments < 0 || !q_off || !k_off || q_off[0] != 0 || k_off[0] != 0 || q_off[segments] != qv.dim(0) ||
      k_off[segments] != kv.dim(0))
    throw ShapeError("segment_attention: offsets must run from 0 to the " + std::to_string(qv.dim(0)) +
                     " query rows and the " + std::to_string(kv.dim(0)) + " key rows");
  index_t* planes = t.template alloc_n<index_t>(segments + 1);
  planes[0] = 0;
  index_t max_plane = 0;
  for (index_t s = 0; s < segments; ++s) {
    const index_t nq = q_off[s + 1] - q_off[s], nk = k_off[s + 1] - k_off[s];
    if (nq < 0 || nk < 0) throw ShapeError("segment_attention: offsets decrease at segment " + std::to_string(s));
    planes[s + 1] = planes[s] + nq * nk;
    max_plane = std::max(max_plane, nq * nk);
  }
  const detail::SegmentLayout D{segments, qv.dim(1), heads, q_off, k_off, planes};
  const index_t d = D.d, dh = D.dh();
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(dh)));
  const bool dropping = t.training() && dropout > 0.0;
  const double keep = 1.0 - dropout;
  TensorOf<T, B> P = t.alloc(Shape{std::max<index_t>(planes[segments] * heads, 1)});
  TensorOf<T, B> Pd = dropping ? t.alloc(P.shape()) : P;
  TensorOf<T, B> out = t.zeros(qv.shape());
  const std::uint64_t seed = dropping ? t.rng().next() : 0;
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 4) if (planes[segments] * d >= ::metarec::parallel_grain)
#endif
  for (index_t s = 0; s < segments; ++s) {
    const index_t Lq = D.nq(s), Lk = D.nk(s);
    if (Lq == 0 || Lk == 0) continue;  // no keys: output stays zero
    for (index_t h = 0; h < heads; ++h) {
      const index_t qh = D.q_off[s] * d + h * dh, kh = D.k_off[s] * d + h * dh;
      T* p = P.data() + D.plane(s, h);
      gemm<T>(false, true, Lq, Lk, dh, scale, qv.data() + qh, d, kv.data() + kh, d, T(0), p, Lk);
      for (index_t i = 0; i < Lq; ++i) detail::masked_softmax_row(p + i * Lk, Lk, Lk - 1, nullptr);
      T* pd = p;
      if (dropping) {
        pd = Pd.data() + D.plane(s, h);
        detail::dropout_probabilities(p, pd, Lq * Lk, keep, seed ^ (static_cast<std::uint64_t>(s * heads + h) << 32));
      }
      gemm<T>(false, false, Lq, dh, Lk, T(1), pd, Lk, vv.data() + kh, d, T(0), out.data() + qh, d);
    }
  }
  Var<T, B> y = t.record("segment_attention", out, {q, k, v}, &detail::segment_attention_backward<T, B>);
  Node<T, B>& node = t.node(y);
  node.saved[0] = P;
  node.saved[1] = Pd;
  node.integer[0] = segments;
  node.integer[1] = heads;
  node.integer[2] = max_plane;
  node.ptr[0] = q_off;
  node.ptr[1] = k_off;
  node.ptr[2] = planes;
  node.real[0] = static_cast<double>(scale);
  return y;
}

}  // namespace metarec::ops
