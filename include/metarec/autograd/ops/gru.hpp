#pragma once
/// @file gru.hpp
/// Gated recurrent unit over whole sequences (Cho et al. 2014, "Learning
/// Phrase Representations using RNN Encoder-Decoder"), in PyTorch's nn.GRU
/// formulation and weight layout (gates r, z, n):
///   r = s(W_ir x + b_ir + W_hr h + b_hr),  z = s(W_iz x + b_iz + W_hz h + b_hz)
///   n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h
/// The input part of every gate, for every step, is one GEMM (ops::linear,
/// whose backward gives the x / W_ih / b_ih gradients); the recurrence is one
/// fused node: per step a [B, h] x [h, 3h] GEMM plus an elementwise kernel,
/// and back-propagation through time with the W_hh gradient summed over all
/// steps by one GEMM per batch chunk at the end.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "metarec/autograd/ops/linear.hpp"
#include "metarec/autograd/tape.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"
// The per-unit gate arithmetic is written once, for both backends: the CUDA
// kernels run the same METAREC_HD bodies (plain C++ here, no CUDA headers).
#include "metarec/cuda/element_ops.hpp"

namespace metarec::ops {

namespace detail {

/// Number of batch chunks: one per thread when the work is worth forking for.
inline index_t batch_chunks(index_t NB, index_t work) {
  return work >= parallel_grain ? std::max<index_t>(1, std::min<index_t>(NB, num_threads())) : 1;
}

/// Runs fn(chunk, b0, b1) over `chunks` contiguous batch chunks, one per
/// thread. A chunk runs the whole recurrence on its rows (its own small
/// per-step GEMMs, Eigen single-threaded inside the region), so threads never
/// meet at a per-step barrier: L barriers per call would cost more than the
/// arithmetic on a busy machine.
template <class F>
void for_batch_chunks(index_t NB, index_t chunks, F&& fn) {
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(static, 1) if (chunks > 1)
#endif
  for (index_t c = 0; c < chunks; ++c) fn(c, NB * c / chunks, NB * (c + 1) / chunks);
}

/// Sizes and buffers of one recurrence; gates saved per (b, t) are r, z, n and
/// W_hn h + b_hn (the last feeds dr), 4h values.
template <class T, class B = backend::Cpu>
struct GruRun {
  index_t NB, L, H;
  const std::uint8_t* mask;  ///< [B, L] or null
  const T* w_hh;             ///< [3h, h]
  T* y;                      ///< [B, L, h] hidden states
  T* gates;                  ///< [B, L, 4h]
  bool real(index_t row_step) const { return !mask || mask[row_step]; }
  const T* h_prev(index_t row_step, index_t step) const { return step > 0 ? y + (row_step - 1) * H : nullptr; }
};

/// Forward of rows [b0, b1). gi: [B, L, 3h] input pre-activations; gh: [B, 3h] scratch.
template <class T, class B = backend::Cpu>
void gru_forward_rows(const GruRun<T>& R, index_t b0, index_t b1, const T* gi, const T* b_hh, T* gh) {
  const index_t L = R.L, H = R.H, H3 = 3 * H;
  for (index_t step = 0; step < L; ++step) {
    if (step > 0)  // gh = h_{t-1} W_hh^T for these rows (h_{-1} = 0 leaves only the bias)
      gemm<T>(false, true, b1 - b0, H3, H, T(1), R.y + (b0 * L + step - 1) * H, L * H, R.w_hh, H, T(0), gh + b0 * H3, H3);
    for (index_t b = b0; b < b1; ++b) {
      const index_t rs = b * L + step;
      T* yr = R.y + rs * H;
      const T* hp = R.h_prev(rs, step);
      if (!R.real(rs)) {  // padding carries the state (h = 0 before the first real item)
        for (index_t j = 0; j < H; ++j) yr[j] = hp ? hp[j] : T(0);
        continue;
      }
      const T* a = gi + rs * H3;
      const T* c = step > 0 ? gh + b * H3 : nullptr;
      T* g = R.gates + rs * 4 * H;
      for (index_t j = 0; j < H; ++j) yr[j] = cuda::elem::gru_gate_forward(a, c, b_hh, hp, H, j, g);
    }
  }
}

/// Back-propagation through time for rows [b0, b1). gy: [B, L, h] output gradient; g_in: gradient of gi
/// (accumulated, may be null); d_hid: [B, L, 3h] receives dLoss/d(W_hh h + b_hh); carry: [B, h] zeros.
template <class T, class B = backend::Cpu>
void gru_backward_rows(const GruRun<T>& R, index_t b0, index_t b1, const T* gy, T* g_in, T* d_hid, T* carry) {
  const index_t L = R.L, H = R.H, H3 = 3 * H;
  for (index_t step = L - 1; step >= 0; --step) {
    for (index_t b = b0; b < b1; ++b) {
      const index_t rs = b * L + step;
      T* dh = carry + b * H;  // dLoss/dh_t from later steps, becomes dLoss/dh_{t-1}
      const T* gyr = gy + rs * H;
      T* dg = d_hid + rs * H3;
      if (!R.real(rs)) {  // h_t = h_{t-1}: the gradient passes through untouched
        for (index_t j = 0; j < H; ++j) dh[j] += gyr[j];
        std::fill_n(dg, H3, T(0));
        continue;
      }
      const T* g = R.gates + rs * 4 * H;
      const T* hp = R.h_prev(rs, step);
      T* gi = g_in ? g_in + rs * H3 : nullptr;
      for (index_t j = 0; j < H; ++j) cuda::elem::gru_gate_backward(g, hp, gyr[j], H, j, dh, dg, gi);
    }
    // dh_{t-1} += dGh_t W_hh (h_{-1} = 0 needs no gradient).
    if (step > 0)
      gemm<T>(false, false, b1 - b0, H, H3, T(1), d_hid + (b0 * L + step) * H3, L * H3, R.w_hh, H, T(1), carry + b0 * H, H);
  }
}

/// Weight gradients of rows [b0, b1) into a chunk's partial sums: gw [3h, h] = sum_{b, t} dGh[b, t]^T h[b, t-1]
/// and gb [3h] = sum dGh. Pairing row r of dGh with row r-1 of y makes gw one GEMM once the t = 0 rows
/// (whose h_{-1} = 0, but whose row r-1 belongs to the previous sequence) are zeroed.
template <class T, class B = backend::Cpu>
void gru_weight_grads_rows(const GruRun<T>& R, index_t b0, index_t b1, T* d_hid, T* gw, T* gb) {
  const index_t H = R.H, H3 = 3 * H, rows = (b1 - b0) * R.L;
  accumulate_column_sums(gb, d_hid + b0 * R.L * H3, rows, H3);
  for (index_t b = b0; b < b1; ++b) std::fill_n(d_hid + b * R.L * H3, H3, T(0));
  gemm<T>(true, false, H3, H, rows - 1, T(1), d_hid + (b0 * R.L + 1) * H3, H3, R.y + b0 * R.L * H, H, T(1), gw, H);
}

/// Left-padded batches (every row: padding, then its real items — GRU4Rec's
/// layout) run packed, as PyTorch's pack_padded_sequence: rows are ordered by
/// their first real step, so at step t the rows that have started are a prefix
/// of each thread's chunk and only those enter the per-step GEMM and kernel.
/// On Beauty ~85% of a batch's steps are padding, which this skips.
/// order[i] = batch row at packed position i; chunk c owns positions
/// [off[c], off[c + 1]), dealt round-robin from the ordered rows so chunks get
/// equal work; start[b] = first real step of row b (L if none).
struct PackedGruOrder {
  std::int32_t* order;
  std::int32_t* off;
  std::int32_t* start;
  index_t chunks;
  /// Positions [p0, p1) of chunk c whose row has started by `step`.
  index_t active_end(index_t c, index_t step) const {
    index_t lo = off[c], hi = off[c + 1];
    while (lo < hi) {  // starts ascend within a chunk
      const index_t mid = (lo + hi) / 2;
      if (start[order[mid]] <= step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
};

/// The packed order when `mask` is left padding (else false: the masked path runs).
template <class T, class B = backend::Cpu>
bool packed_gru_order(Tape<T, B>& t, const std::uint8_t* mask, index_t NB, index_t L, index_t chunks, PackedGruOrder& P) {
  P.start = t.template alloc_n<std::int32_t>(NB);
  for (index_t b = 0; b < NB; ++b) {
    const std::uint8_t* m = mask ? mask + b * L : nullptr;
    index_t s = 0;
    if (m) {
      while (s < L && !m[s]) ++s;
      for (index_t j = s; j < L; ++j)
        if (!m[j]) return false;  // a hole: not left padding
    }
    P.start[b] = static_cast<std::int32_t>(s);
  }
  thread_local std::vector<std::int32_t> sorted;
  sorted.resize(static_cast<std::size_t>(NB));
  for (index_t b = 0; b < NB; ++b) sorted[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(b);
  std::stable_sort(sorted.begin(), sorted.end(), [&](std::int32_t a, std::int32_t b) { return P.start[a] < P.start[b]; });
  P.chunks = chunks;
  P.order = t.template alloc_n<std::int32_t>(NB);
  P.off = t.template alloc_n<std::int32_t>(chunks + 1);
  index_t pos = 0;
  for (index_t c = 0; c < chunks; ++c) {
    P.off[c] = static_cast<std::int32_t>(pos);
    for (index_t i = c; i < NB; i += chunks) P.order[pos++] = sorted[static_cast<std::size_t>(i)];
  }
  P.off[chunks] = static_cast<std::int32_t>(NB);
  return true;
}

/// Forward of chunk c in packed order. hs: [B, h] states by packed position
/// (zero = h before the first real item); gh: [B, 3h] scratch.
template <class T, class B = backend::Cpu>
void gru_forward_packed(const GruRun<T>& R, const PackedGruOrder& P, index_t c, const T* gi, const T* b_hh, T* hs,
                        T* gh) {
  const index_t L = R.L, H = R.H, H3 = 3 * H, p0 = P.off[c];
  for (index_t i = p0; i < P.off[c + 1]; ++i)  // padding steps output h = 0
    std::fill_n(R.y + static_cast<index_t>(P.order[i]) * L * H, P.start[P.order[i]] * H, T(0));
  for (index_t step = 0; step < L; ++step) {
    const index_t p1 = P.active_end(c, step);
    if (p1 == p0) continue;
    gemm<T>(false, true, p1 - p0, H3, H, T(1), hs + p0 * H, H, R.w_hh, H, T(0), gh + p0 * H3, H3);
    for (index_t i = p0; i < p1; ++i) {
      const index_t rs = static_cast<index_t>(P.order[i]) * L + step;
      const T* a = gi + rs * H3;
      const T* cg = gh + i * H3;
      T* g = R.gates + rs * 4 * H;
      T* h = hs + i * H;
      T* yr = R.y + rs * H;
      for (index_t j = 0; j < H; ++j) yr[j] = h[j] = cuda::elem::gru_gate_forward(a, cg, b_hh, h, H, j, g);
    }
  }
}

/// Back-propagation through time of chunk c in packed order. carry: [B, h] zeros by packed position;
/// dgs: [B, 3h] scratch by packed position; d_hid as in gru_backward_rows (padding rows get zeros).
template <class T, class B = backend::Cpu>
void gru_backward_packed(const GruRun<T>& R, const PackedGruOrder& P, index_t c, const T* gy, T* g_in, T* d_hid,
                         T* carry, T* dgs) {
  const index_t L = R.L, H = R.H, H3 = 3 * H, p0 = P.off[c];
  for (index_t i = p0; i < P.off[c + 1]; ++i)
    std::fill_n(d_hid + static_cast<index_t>(P.order[i]) * L * H3, P.start[P.order[i]] * H3, T(0));
  for (index_t step = L - 1; step >= 0; --step) {
    const index_t p1 = P.active_end(c, step);
    if (p1 == p0) break;  // every row of the chunk starts later: nothing left
    for (index_t i = p0; i < p1; ++i) {
      const index_t rs = static_cast<index_t>(P.order[i]) * L + step;
      const bool first = P.start[P.order[i]] == step;  // h_{t-1} = 0
      const T* g = R.gates + rs * 4 * H;
      const T* hp = first ? nullptr : R.y + (rs - 1) * H;
      const T* gyr = gy + rs * H;
      T* dh = carry + i * H;
      T* dg = d_hid + rs * H3;
      T* dq = dgs + i * H3;
      T* gi = g_in ? g_in + rs * H3 : nullptr;
      for (index_t j = 0; j < H; ++j) cuda::elem::gru_gate_backward(g, hp, gyr[j], H, j, dh, dg, gi);
      std::copy_n(dg, H3, dq);
    }
    // dh_{t-1} += dGh_t W_hh (rows starting at this step get a value they never use).
    gemm<T>(false, false, p1 - p0, H, H3, T(1), dgs + p0 * H3, H3, R.w_hh, H, T(1), carry + p0 * H, H);
  }
}

template <class T, class B = backend::Cpu>
void gru_recurrence_backward(Tape<T, B>& t, Node<T, B>& n) {
  if constexpr (!B::is_host) {
    const TensorOf<T, B> none;
    cuda::gru_recurrence_backward(memory<B>::context(), t.value(n.in[1]), static_cast<const std::uint8_t*>(n.ptr[0]),
                                  n.value, n.saved[0], n.grad, t.wants_grad(n.in[0]) ? t.grad(n.in[0]) : none,
                                  t.wants_grad(n.in[1]) ? t.grad(n.in[1]) : none,
                                  t.wants_grad(n.in[2]) ? t.grad(n.in[2]) : none);
  } else {
  const TensorOf<T, B>& y = n.value;
  const index_t NB = y.dim(0), L = y.dim(1), H = y.dim(2), H3 = 3 * H;
  const GruRun<T> R{NB, L, H, static_cast<const std::uint8_t*>(n.ptr[0]), t.value(n.in[1]).data(), y.data(),
                    n.saved[0].data()};
  T* g_in = t.wants_grad(n.in[0]) ? t.grad(n.in[0]).data() : nullptr;
  const bool want_w = t.wants_grad(n.in[1]) || t.wants_grad(n.in[2]);
  T* d_hid = t.template alloc_n<T>(NB * L * H3);
  T* carry = t.zeros(Shape{NB, H}).data();
  const T* gy = n.grad.data();
  // Weight gradients are summed over all B * L steps: each chunk sums its own rows (no parallel GEMM with a
  // long inner dimension, whose threads would spin-wait on each other), then the partials are added.
  const index_t chunks = batch_chunks(NB, NB * L * H3 * H), part = H3 * H + H3;
  T* partial = want_w && !n.ptr[1] ? t.zeros(Shape{chunks, part}).data() : nullptr;
  if (n.ptr[1]) {  // packed: chunks as in the forward pass
    const PackedGruOrder& P = *static_cast<const PackedGruOrder*>(n.ptr[1]);
    T* dgs = t.template alloc_n<T>(NB * H3);
    T* part_p = want_w ? t.zeros(Shape{P.chunks, part}).data() : nullptr;
    for_batch_chunks(P.chunks, P.chunks, [&](index_t c, index_t, index_t) {
      gru_backward_packed(R, P, c, gy, g_in, d_hid, carry, dgs);
    });
    // Weight gradients over row-contiguous chunks of d_hid (zeros at padding), as in the masked path.
    if (want_w)
      for_batch_chunks(NB, P.chunks, [&](index_t c, index_t b0, index_t b1) {
        if (b1 > b0) gru_weight_grads_rows(R, b0, b1, d_hid, part_p + c * part, part_p + c * part + H3 * H);
      });
    partial = part_p;
  } else {
    for_batch_chunks(NB, chunks, [&](index_t c, index_t b0, index_t b1) {
      gru_backward_rows(R, b0, b1, gy, g_in, d_hid, carry);
      if (want_w && b1 > b0) gru_weight_grads_rows(R, b0, b1, d_hid, partial + c * part, partial + c * part + H3 * H);
    });
  }
  const index_t n_parts = n.ptr[1] ? static_cast<const PackedGruOrder*>(n.ptr[1])->chunks : chunks;
  if (!want_w) return;
  for (int k = 1; k <= 2; ++k) {
    if (!t.wants_grad(n.in[k])) continue;
    T* g = t.grad(n.in[k]).data();
    const index_t off = k == 1 ? 0 : H3 * H, len = k == 1 ? H3 * H : H3;
    for (index_t c = 0; c < n_parts; ++c)
      for (index_t i = 0; i < len; ++i) g[i] += partial[c * part + off + i];
  }
  }
}

/// The recurrence given the input pre-activations gi = x W_ih^T + b_ih: [B, L, 3h].
/// @param packed_ok run left-padded batches packed (false: always the masked path; tests compare both)
template <class T, class B = backend::Cpu>
Var<T, B> gru_recurrence(Var<T, B> gi, Var<T, B> w_hh, Var<T, B> b_hh, const std::uint8_t* mask, bool packed_ok = true) {
  Tape<T, B>& t = *gi.tape;
  const index_t NB = gi.shape()[0], L = gi.shape()[1], H = w_hh.shape()[1], H3 = 3 * H;
  TensorOf<T, B> y = t.alloc(Shape{NB, L, H});
  TensorOf<T, B> gates = t.alloc(Shape{NB, L, 4 * H});
  if constexpr (!B::is_host) {
    // The device runs the masked recurrence (one launch per step); the mask goes to the step's arena.
    const std::uint8_t* dev_mask = mask ? t.upload_n(mask, NB * L) : nullptr;
    cuda::gru_recurrence_forward(memory<B>::context(), gi.value(), w_hh.value(), b_hh.value(), dev_mask, y, gates);
    Var<T, B> out = t.record("gru", y, {gi, w_hh, b_hh}, &gru_recurrence_backward<T, B>);
    t.node(out).saved[0] = gates;
    t.node(out).ptr[0] = dev_mask;
    return out;
  } else {
  T* gh = t.template alloc_n<T>(NB * H3);
  const GruRun<T> R{NB, L, H, mask, w_hh.value().data(), y.data(), gates.data()};
  const T* giv = gi.value().data();
  const T* bh = b_hh.value().data();
  const index_t chunks = batch_chunks(NB, NB * L * H3 * H);
  PackedGruOrder* P = nullptr;
  if (packed_ok && mask) {
    P = new (t.template alloc_n<PackedGruOrder>(1)) PackedGruOrder{};
    if (!packed_gru_order(t, mask, NB, L, chunks, *P)) P = nullptr;
  }
  if (P) {
    T* hs = t.zeros(Shape{NB, H}).data();
    for_batch_chunks(chunks, chunks, [&](index_t c, index_t, index_t) { gru_forward_packed(R, *P, c, giv, bh, hs, gh); });
  } else {
    for_batch_chunks(NB, chunks, [&](index_t, index_t b0, index_t b1) { gru_forward_rows(R, b0, b1, giv, bh, gh); });
  }
  Var<T, B> out = t.record("gru", y, {gi, w_hh, b_hh}, &gru_recurrence_backward<T, B>);
  t.node(out).saved[0] = gates;
  t.node(out).ptr[0] = mask;
  t.node(out).ptr[1] = P;
  return out;
  }
}

}  // namespace detail

/// GRU layer with h0 = 0 over x: [B, L, in] -> [B, L, h] (all hidden states).
/// Weights in PyTorch nn.GRU layout: w_ih [3h, in], w_hh [3h, h], b_ih [3h], b_hh [3h].
/// @param mask optional [B, L], nonzero = real step; borrowed until backward. At a masked step the state
///             is carried over unchanged and output, so left padding keeps h = 0 until the first real item.
template <class T, class B = backend::Cpu>
Var<T, B> gru(Var<T, B> x, Var<T, B> w_ih, Var<T, B> w_hh, Var<T, B> b_ih, Var<T, B> b_hh, const std::uint8_t* mask = nullptr) {
  expect_rank("gru", "input", x.shape(), 3);
  expect_rank("gru", "w_hh", w_hh.shape(), 2);
  const index_t H = w_hh.shape()[1];
  expect_shape("gru", "w_hh", w_hh.shape(), Shape{3 * H, H});
  expect_shape("gru", "w_ih", w_ih.shape(), Shape{3 * H, x.shape()[2]});
  expect_shape("gru", "b_ih", b_ih.shape(), Shape{3 * H});
  expect_shape("gru", "b_hh", b_hh.shape(), Shape{3 * H});
  return detail::gru_recurrence(linear(x, w_ih, b_ih), w_hh, b_hh, mask);
}

}  // namespace metarec::ops
