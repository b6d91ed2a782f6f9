#pragma once
/// @file element_rows.hpp
/// Row bodies of the CUDA attention and top-K kernels (continuation of
/// element_ops.hpp; include that file, not this one). One device thread runs
/// one (query row, head) of attention or one strided share of a top-K row;
/// the host tests run the same functions in loops.
#include <cstdint>

namespace metarec::cuda::elem {

// ---- attention (ops/attention.hpp) -----------------------------------------
/// Where one (sequence, head) task reads and writes; mirrors detail::AttnTask.
struct AttnTaskView {
  idx qo, ko, Lq, Lk, po;
  const std::uint8_t* key_mask;
};

/// Geometry of one attention call; mirrors detail::AttnLayout (padded layout
/// q [B, Lq, d], k/v [B, Lk, d]; packed layout: sequence b at rows
/// [offsets[b], offsets[b+1]) of [N, d]). All pointers are in the memory
/// space of the code that runs it (device pointers inside kernels).
struct AttnGeometry {
  idx B, Lq, Lk, d, H;
  const std::int32_t* offsets;  ///< packed layout when set ([B + 1])
  const idx* plane_offsets;     ///< packed: sum of earlier sequences' L^2 ([B + 1])
  const std::uint8_t* key_mask; ///< padded: [B, Lk], nonzero = real key; may be null

  METAREC_HD idx dh() const { return d / H; }
  METAREC_HD idx tasks() const { return B * H; }
  METAREC_HD idx planes() const { return offsets ? plane_offsets[B] * H : B * H * Lq * Lk; }
  METAREC_HD idx query_rows() const { return offsets ? offsets[B] : B * Lq; }
  METAREC_HD idx key_rows() const { return offsets ? offsets[B] : B * Lk; }
  METAREC_HD AttnTaskView task(idx i) const {
    const idx b = i / H, h = i % H;
    if (offsets) {
      const idx n = offsets[b + 1] - offsets[b];
      return {offsets[b] * d + h * dh(), offsets[b] * d + h * dh(), n, n, plane_offsets[b] * H + h * n * n, nullptr};
    }
    return {b * Lq * d + h * dh(), b * Lk * d + h * dh(), Lq, Lk, i * Lq * Lk, key_mask ? key_mask + b * Lk : nullptr};
  }
  /// Sequence of packed row r: the b with offsets[b] <= r < offsets[b+1] (binary search, r < offsets[B]).
  METAREC_HD idx packed_sequence(idx r) const {
    idx lo = 0, hi = B;  // invariant: offsets[lo] <= r < offsets[hi]
    while (hi - lo > 1) {
      const idx mid = (lo + hi) / 2;
      if (offsets[mid] <= r) lo = mid; else hi = mid;
    }
    return lo;  // the largest b with offsets[b] <= r: empty sequences before r are skipped
  }
  /// (task, row within the task) of query row r (keys = false) or key row r.
  METAREC_HD void locate(idx r, idx head, bool keys, idx& task_id, idx& i) const {
    idx b;
    if (offsets) {
      b = packed_sequence(r);
      i = r - offsets[b];
    } else {
      const idx L = keys ? Lk : Lq;
      b = r / L;
      i = r % L;
    }
    task_id = b * H + head;
  }
};

/// Masked, stable softmax of one score row in place (detail::masked_softmax_row).
template <class T>
METAREC_HD inline void masked_softmax_row(T* s, idx Lk, idx last_key, const std::uint8_t* key_mask) {
  T mx = neg_inf<T>();
  for (idx j = 0; j <= last_key; ++j)
    if (!key_mask || key_mask[j]) mx = max_(mx, s[j]);
  if (mx == neg_inf<T>()) {
    for (idx j = 0; j < Lk; ++j) s[j] = T(0);
    return;
  }
  T total = 0;
  for (idx j = 0; j <= last_key; ++j) {
    const T e = (!key_mask || key_mask[j]) ? m_exp(s[j] - mx) : T(0);
    s[j] = e;
    total += e;
  }
  const T inv = T(1) / total;
  for (idx j = 0; j <= last_key; ++j) s[j] *= inv;
  for (idx j = last_key + 1; j < Lk; ++j) s[j] = T(0);
}

template <class T>
METAREC_HD inline T dot(const T* a, const T* b, idx n) {
  T acc = 0;
  for (idx k = 0; k < n; ++k) acc += a[k] * b[k];
  return acc;
}

/// Forward of query row i of task a: scores, masked softmax into P, dropout
/// into Pd (Pd == P when not dropping), out row = Pd V.
/// @param key  dropout stream of this task (seed ^ task << 32), used when Pd != P
template <class T>
METAREC_HD inline void attention_row_forward(const AttnTaskView& a, idx i, idx d, idx dh, bool causal, T scale,
                                             const T* q, const T* k, const T* v, T* P, T* Pd, double keep,
                                             std::uint64_t key, T* out) {
  const idx Lk = a.Lk;
  T* p = P + a.po + i * Lk;
  const T* qi = q + a.qo + i * d;
  for (idx j = 0; j < Lk; ++j) p[j] = scale * dot(qi, k + a.ko + j * d, dh);
  masked_softmax_row(p, Lk, causal ? i : Lk - 1, a.key_mask);
  T* pd = p;
  if (Pd != P) {
    pd = Pd + a.po + i * Lk;
    for (idx j = 0; j < Lk; ++j) pd[j] = p[j] * dropout_scale_at<T>(key, i * Lk + j, keep);
  }
  T* o = out + a.qo + i * d;
  for (idx c = 0; c < dh; ++c) o[c] = T(0);
  for (idx j = 0; j < Lk; ++j) {
    const T w = pd[j];
    if (w == T(0)) continue;
    const T* vj = v + a.ko + j * d;
    for (idx c = 0; c < dh; ++c) o[c] += w * vj[c];
  }
}

/// Backward, query side, row i: dS row (stored in DS, the layout of P) and
/// gq_i += scale dS K. dS = Pd .* dPd - P rowsum(Pd .* dPd), dPd = gO V^T.
template <class T>
METAREC_HD inline void attention_row_backward_query(const AttnTaskView& a, idx i, idx d, idx dh, T scale, const T* k,
                                                    const T* v, const T* P, const T* Pd, const T* g, T* DS, T* gq) {
  const idx Lk = a.Lk;
  const T* p = P + a.po + i * Lk;
  const T* pd = Pd + a.po + i * Lk;
  T* ds = DS + a.po + i * Lk;
  const T* gi = g + a.qo + i * d;
  T c = 0;
  for (idx j = 0; j < Lk; ++j) {
    ds[j] = dot(gi, v + a.ko + j * d, dh);
    c += pd[j] * ds[j];
  }
  for (idx j = 0; j < Lk; ++j) ds[j] = pd[j] * ds[j] - p[j] * c;
  if (!gq) return;
  T* o = gq + a.qo + i * d;
  for (idx j = 0; j < Lk; ++j) {
    const T w = scale * ds[j];
    const T* kj = k + a.ko + j * d;
    for (idx cc = 0; cc < dh; ++cc) o[cc] += w * kj[cc];
  }
}

/// Backward, key side, key row j: gv_j += sum_i Pd_ij gO_i, gk_j += scale sum_i dS_ij q_i.
template <class T>
METAREC_HD inline void attention_row_backward_key(const AttnTaskView& a, idx j, idx d, idx dh, T scale, const T* q,
                                                  const T* Pd, const T* DS, const T* g, T* gk, T* gv) {
  const idx Lq = a.Lq, Lk = a.Lk;
  for (idx i = 0; i < Lq; ++i) {
    const idx e = a.po + i * Lk + j;
    if (gv) {
      const T w = Pd[e];
      const T* gi = g + a.qo + i * d;
      T* o = gv + a.ko + j * d;
      if (w != T(0))
        for (idx c = 0; c < dh; ++c) o[c] += w * gi[c];
    }
    if (gk) {
      const T w = scale * DS[e];
      const T* qi = q + a.qo + i * d;
      T* o = gk + a.ko + j * d;
      if (w != T(0))
        for (idx c = 0; c < dh; ++c) o[c] += w * qi[c];
    }
  }
}

// ---- top-K (eval/ranking.hpp, TopK) -----------------------------------------
/// Ranking order: higher score first, equal scores by lower id; NaN ranks lowest.
template <class T>
METAREC_HD inline bool topk_better(T va, std::int32_t ia, T vb, std::int32_t ib) {
  const T ka = is_nan(va) ? neg_inf<T>() : va, kb = is_nan(vb) ? neg_inf<T>() : vb;
  return ka > kb || (ka == kb && ia < ib);
}
/// Inserts (v, id) into the sorted list (vals, ids) of `count` <= k entries; returns the new count.
template <class T>
METAREC_HD inline int topk_insert(T* vals, std::int32_t* ids, int count, int k, T v, std::int32_t id) {
  if (k == 0 || (count == k && !topk_better(v, id, vals[k - 1], ids[k - 1]))) return count;
  int pos = count < k ? count : k - 1;
  while (pos > 0 && topk_better(v, id, vals[pos - 1], ids[pos - 1])) {
    vals[pos] = vals[pos - 1];
    ids[pos] = ids[pos - 1];
    --pos;
  }
  vals[pos] = v;
  ids[pos] = id;
  return count < k ? count + 1 : k;
}
/// Thread `tid` of `nthreads` scans items tid+1, tid+1+nthreads, ... <= n_items
/// of a score row (item 0 = padding) into its sorted list; returns its count.
template <class T>
METAREC_HD inline int topk_scan(const T* scores, idx n_items, int tid, int nthreads, int k, T* vals,
                                std::int32_t* ids) {
  int count = 0;
  for (idx j = 1 + tid; j <= n_items; j += nthreads)
    count = topk_insert(vals, ids, count, k, scores[j], static_cast<std::int32_t>(j));
  return count;
}
/// Merges sorted lists a (na) and b (nb) into out (the best k); returns the count.
template <class T>
METAREC_HD inline int topk_merge(const T* va, const std::int32_t* ia, int na, const T* vb, const std::int32_t* ib,
                                 int nb, int k, T* vo, std::int32_t* io) {
  int x = 0, y = 0, n = 0;
  while (n < k && (x < na || y < nb)) {
    const bool take_a = y >= nb || (x < na && topk_better(va[x], ia[x], vb[y], ib[y]));
    vo[n] = take_a ? va[x] : vb[y];
    io[n] = take_a ? ia[x++] : ib[y++];
    ++n;
  }
  return n;
}
/// One level of the merge tree: thread tid (a multiple of 2*stride) merges its
/// list with that of tid + stride. Lists of thread t live at t*k of (vals,
/// ids); (tv, ti) is thread tid's k-entry scratch; counts[t] holds list sizes.
template <class T>
METAREC_HD inline void topk_tree_step(int tid, int stride, int nthreads, int k, T* vals, std::int32_t* ids,
                                      int* counts, T* tv, std::int32_t* ti) {
  if (tid % (2 * stride) != 0 || tid + stride >= nthreads) return;
  const int o = tid + stride;
  const int n = topk_merge(vals + static_cast<idx>(tid) * k, ids + static_cast<idx>(tid) * k, counts[tid],
                           vals + static_cast<idx>(o) * k, ids + static_cast<idx>(o) * k, counts[o], k, tv, ti);
  for (int m = 0; m < n; ++m) {
    vals[static_cast<idx>(tid) * k + m] = tv[m];
    ids[static_cast<idx>(tid) * k + m] = ti[m];
  }
  counts[tid] = n;
}

// ---- full ranking (eval/ranking.hpp) -----------------------------------------------
/// Number of items j in [lo, hi) ahead of `target` (score st) by the tie rule:
/// s_j >= st for j < target, s_j > st for j > target; the target itself is
/// skipped. `s` holds the scores of items first, first + 1, ... (a row or a
/// tile of one). Branch-free with 32-bit counters so it vectorises on the host
/// (item ids are int32, so a count always fits); one device thread per row.
template <class T>
METAREC_HD inline idx count_ahead(const T* s, idx first, idx lo, idx hi, T st, std::int32_t target) {
  const idx t = static_cast<idx>(target);
  const idx mid = t < lo ? lo : (t > hi ? hi : t);
  const idx after = mid > t + 1 ? mid : t + 1;
  std::int32_t ahead = 0;
  for (idx j = lo - first; j < mid - first; ++j) ahead += s[j] >= st;  // lower id: a tie is ahead
  for (idx j = after - first; j < hi - first; ++j) ahead += s[j] > st;
  return ahead;
}

}  // namespace metarec::cuda::elem
