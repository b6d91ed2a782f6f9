/// @file ops_sequence.cpp
/// Host glue of the sequence ops: attention, GRU recurrence (cuBLAS per step
/// + a gate kernel), chunked full-catalogue CE (cuBLAS logits per chunk +
/// online log-sum-exp) and top-K.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "launch.hpp"
#include "metarec/cuda/ops.hpp"

namespace metarec::cuda {

namespace {
template <class T>
T* ptr_or_null(const DeviceTensor<T>& t) { return t.empty() ? nullptr : t.data(); }

/// Geometry of a call; the packed layout's offsets stay device pointers.
template <class T>
elem::AttnGeometry geometry(const char* op, const DeviceTensor<T>& q, const DeviceTensor<T>& k,
                            const AttentionArgs& a) {
  if (a.offsets) {
    expect_rank(op, "query", q.shape(), 2);
    expect_shape(op, "key", k.shape(), q.shape());
  } else {
    expect_rank(op, "query", q.shape(), 3);
    expect_rank(op, "key", k.shape(), 3);
    if (k.dim(0) != q.dim(0) || k.dim(2) != q.dim(2))
      throw ShapeError(std::string(op) + ": key " + k.shape().str() + " does not match query " + q.shape().str());
    if (a.causal && q.dim(1) != k.dim(1))
      throw ShapeError(std::string(op) + ": causal masking needs Lq == Lk, got " + q.shape().str() + " and " +
                       k.shape().str());
  }
  const index_t d = q.cols();
  if (a.heads < 1 || d % a.heads != 0)
    throw ShapeError(std::string(op) + ": heads = " + std::to_string(a.heads) + " must be >= 1 and divide d = " +
                     std::to_string(d));
  if (!(a.dropout >= 0.0 && a.dropout < 1.0))
    throw ConfigError(std::string(op) + ": dropout = " + std::to_string(a.dropout) + " is out of range [0, 1)");
  if (a.offsets)
    return {a.sequences, 0, 0, d, a.heads, a.offsets, a.plane_offsets, nullptr};
  return {q.dim(0), q.dim(1), k.dim(1), d, a.heads, nullptr, nullptr, a.key_mask};
}
template <class T>
T attention_scale(index_t dh) { return static_cast<T>(1.0 / std::sqrt(static_cast<double>(dh))); }
}  // namespace

index_t attention_planes(const std::int32_t* offsets, index_t sequences, int heads, std::int64_t* planes) {
  planes[0] = 0;
  for (index_t b = 0; b < sequences; ++b) {
    const index_t n = offsets[b + 1] - offsets[b];
    if (n < 0) throw ShapeError("attention_planes: offsets decrease at sequence " + std::to_string(b));
    planes[b + 1] = planes[b] + n * n;
  }
  return planes[sequences] * heads;
}

template <class T>
void attention_forward(Context& ctx, const DeviceTensor<T>& q, const DeviceTensor<T>& k, const DeviceTensor<T>& v,
                       const AttentionArgs& args, const DeviceTensor<T>& P, const DeviceTensor<T>& Pd,
                       const DeviceTensor<T>& out) {
  const elem::AttnGeometry geo = geometry("cuda::attention_forward", q, k, args);
  if (!geo.offsets && P.size() != geo.planes())
    throw ShapeError("cuda::attention_forward: P has " + std::to_string(P.size()) + " elements, needs " +
                     std::to_string(geo.planes()));
  if (Pd.size() != P.size()) throw ShapeError("cuda::attention_forward: Pd and P differ in size");
  const bool dropping = Pd.data() != P.data();
  launch::attention_forward(ctx.stream(), geo, q.rows(), args.causal, attention_scale<T>(geo.dh()), q.data(), k.data(),
                            v.data(), P.data(), Pd.data(), dropping ? 1.0 - args.dropout : 1.0, args.seed, out.data());
}

template <class T>
void attention_backward(Context& ctx, const DeviceTensor<T>& q, const DeviceTensor<T>& k, const DeviceTensor<T>& v,
                        const AttentionArgs& args, const DeviceTensor<T>& P, const DeviceTensor<T>& Pd,
                        const DeviceTensor<T>& g, const DeviceTensor<T>& gq, const DeviceTensor<T>& gk,
                        const DeviceTensor<T>& gv) {
  const elem::AttnGeometry geo = geometry("cuda::attention_backward", q, k, args);
  DeviceTensor<T> DS;
  if (!gq.empty() || !gk.empty()) DS = ctx.alloc<T>(P.shape());
  launch::attention_backward(ctx.stream(), geo, q.rows(), attention_scale<T>(geo.dh()), q.data(), k.data(), v.data(),
                             P.data(), Pd.data(), g.data(), ptr_or_null(DS), ptr_or_null(gq), ptr_or_null(gk),
                             ptr_or_null(gv));
}

template <class T>
void gru_recurrence_forward(Context& ctx, const DeviceTensor<T>& gi, const DeviceTensor<T>& w_hh,
                            const DeviceTensor<T>& b_hh, const std::uint8_t* mask, const DeviceTensor<T>& y,
                            const DeviceTensor<T>& gates) {
  expect_rank("cuda::gru_recurrence_forward", "gi", gi.shape(), 3);
  const index_t B = gi.dim(0), L = gi.dim(1), H = w_hh.dim(1), H3 = 3 * H;
  expect_shape("cuda::gru_recurrence_forward", "gi", gi.shape(), Shape{B, L, H3});
  expect_shape("cuda::gru_recurrence_forward", "w_hh", w_hh.shape(), Shape{H3, H});
  expect_shape("cuda::gru_recurrence_forward", "b_hh", b_hh.shape(), Shape{H3});
  expect_shape("cuda::gru_recurrence_forward", "y", y.shape(), Shape{B, L, H});
  expect_shape("cuda::gru_recurrence_forward", "gates", gates.shape(), Shape{B, L, 4 * H});
  DeviceTensor<T> gh = ctx.alloc<T>(Shape{B, H3});
  for (index_t step = 0; step < L; ++step) {
    if (step > 0)  // gh = h_{t-1} W_hh^T (rows of y strided by L h)
      gemm<T>(ctx, false, true, B, H3, H, T(1), y.data() + (step - 1) * H, L * H, w_hh.data(), H, T(0), gh.data(), H3);
    launch::gru_step_forward(ctx.stream(), gi.data(), gh.data(), b_hh.data(), mask, y.data(), gates.data(), B, L, H,
                             step);
  }
}

template <class T>
void gru_recurrence_backward(Context& ctx, const DeviceTensor<T>& w_hh, const std::uint8_t* mask,
                             const DeviceTensor<T>& y, const DeviceTensor<T>& gates, const DeviceTensor<T>& g,
                             const DeviceTensor<T>& g_gi, const DeviceTensor<T>& g_whh,
                             const DeviceTensor<T>& g_bhh) {
  const index_t B = y.dim(0), L = y.dim(1), H = y.dim(2), H3 = 3 * H;
  DeviceTensor<T> d_hid = ctx.alloc<T>(Shape{B * L, H3});
  DeviceTensor<T> carry = ctx.zeros<T>(Shape{B, H});
  for (index_t step = L - 1; step >= 0; --step) {
    launch::gru_step_backward(ctx.stream(), gates.data(), y.data(), mask, g.data(), carry.data(), d_hid.data(),
                              ptr_or_null(g_gi), B, L, H, step);
    if (step > 0)  // dh_{t-1} += dGh_t W_hh
      gemm<T>(ctx, false, false, B, H, H3, T(1), d_hid.data() + step * H3, L * H3, w_hh.data(), H, T(1),
              carry.data(), H);
  }
  if (!g_bhh.empty()) launch::column_sums(ctx.stream(), d_hid.data(), B * L, H3, g_bhh.data());
  if (!g_whh.empty() && B * L > 1) {
    // Row r of dGh pairs with row r - 1 of y; the t = 0 rows (h_{-1} = 0) are zeroed first.
    launch::zero_strided(ctx.stream(), d_hid.data(), B, L * H3, H3);
    gemm<T>(ctx, true, false, H3, H, B * L - 1, T(1), d_hid.data() + H3, H3, y.data(), H, T(1), g_whh.data(), H);
  }
}

template <class T>
double full_softmax_ce(Context& ctx, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                       const DeviceTensor<std::int32_t>& targets, index_t first, index_t end, T scale,
                       index_t item_chunk, const DeviceTensor<T>& dh, const DeviceTensor<T>& de) {
  const char* op = "cuda::full_softmax_ce";
  expect_rank(op, "hidden states", h.shape(), 2);
  expect_rank(op, "item table", items.shape(), 2);
  if (h.dim(1) != items.dim(1) || h.dim(0) == 0)
    throw ShapeError(std::string(op) + ": hidden states " + h.shape().str() + " and item table " +
                     items.shape().str() + " do not fit");
  if (first < 0 || end > items.dim(0) || first >= end)
    throw ShapeError(std::string(op) + ": candidate rows [" + std::to_string(first) + ", " + std::to_string(end) +
                     ") are empty or outside the item table " + items.shape().str());
  if (targets.size() != h.dim(0)) throw ShapeError(std::string(op) + ": need one target per row");
  const index_t N = h.dim(0), d = h.dim(1), nc = end - first;
  if (!dh.empty()) expect_shape(op, "dh", dh.shape(), h.shape());
  if (!de.empty() && de.size() != nc * d) throw ShapeError(std::string(op) + ": de needs [end - first, d]");
  // Chunk: at most ~64M logits of scratch (256 MiB in float), at least 256 items.
  const index_t C = std::min(nc, item_chunk > 0 ? item_chunk : std::max<index_t>(256, (index_t(64) << 20) / N));
  const bool grad = !dh.empty() || !de.empty();
  DeviceTensor<T> z = ctx.alloc<T>(Shape{N * C});
  DeviceTensor<double> stats = ctx.alloc<double>(Shape{5, N});  // m, s, target logit, lse, loss
  double *m = stats.data(), *s = m + N, *tl = s + N, *lse = tl + N, *loss_row = lse + N;
  launch::fill_double(ctx.stream(), m, N, -std::numeric_limits<double>::infinity());
  launch::fill_double(ctx.stream(), s, 2 * N, 0.0);
  auto logits = [&](index_t c0, index_t cols) {
    gemm<T>(ctx, false, true, N, cols, d, scale, h.data(), d, items.data() + (first + c0) * d, d, T(0), z.data(), cols);
  };
  for (index_t c0 = 0; c0 < nc; c0 += C) {
    const index_t cols = std::min(C, nc - c0);
    logits(c0, cols);
    launch::ce_chunk_stats(ctx.stream(), z.data(), N, cols, cols, targets.data(), first + c0, m, s, tl);
  }
  launch::ce_finalize(ctx.stream(), m, s, tl, lse, loss_row, N);
  DeviceTensor<double> total = ctx.alloc<double>(Shape{1});
  launch::sum_double(ctx.stream(), loss_row, N, total.data());
  if (grad) {
    for (index_t c0 = 0; c0 < nc; c0 += C) {
      const index_t cols = std::min(C, nc - c0);
      if (C < nc) logits(c0, cols);  // one chunk: its logits are still in z
      launch::ce_chunk_grad(ctx.stream(), z.data(), N, cols, cols, targets.data(), first + c0, lse,
                            1.0 / static_cast<double>(N));
      if (!dh.empty())
        gemm<T>(ctx, false, false, N, d, cols, scale, z.data(), cols, items.data() + (first + c0) * d, d,
                c0 == 0 ? T(0) : T(1), dh.data(), d);
      if (!de.empty())
        gemm<T>(ctx, true, false, cols, d, N, scale, z.data(), cols, h.data(), d, T(0), de.data() + c0 * d, d);
    }
  }
  double loss = 0;
  ctx.memcpy(&loss, total.data(), sizeof(double), 1);  // synchronises
  loss /= static_cast<double>(N);
  if (!std::isfinite(loss))
    throw NumericError(std::string(op) + ": non-finite loss (" + std::to_string(loss) + ")");
  return loss;
}

template <class T>
void top_k(Context& ctx, const DeviceTensor<T>& scores, int k, const DeviceTensor<std::int32_t>& ids) {
  expect_rank("cuda::top_k", "scores", scores.shape(), 2);
  if (k < 0) throw ConfigError("cuda::top_k: k = " + std::to_string(k) + " is out of range [0, inf)");
  const index_t R = scores.dim(0), n_items = scores.dim(1) - 1;
  if (n_items < 0) throw ShapeError("cuda::top_k: empty score rows");
  expect_shape("cuda::top_k", "ids", ids.shape(), Shape{R, k});
  constexpr int threads = 128;
  constexpr index_t group = 256;  // rows per launch: bounds the scratch
  const index_t rows = std::min(R, group);
  DeviceTensor<T> sv = ctx.alloc<T>(Shape{rows * 2 * threads * std::max(k, 1)});
  DeviceTensor<std::int32_t> si = ctx.alloc<std::int32_t>(Shape{rows * 2 * threads * std::max(k, 1)});
  DeviceTensor<std::int32_t> sc = ctx.alloc<std::int32_t>(Shape{rows * threads});
  for (index_t r0 = 0; r0 < R; r0 += group) {
    const index_t n = std::min(group, R - r0);
    launch::top_k(ctx.stream(), scores.data() + r0 * (n_items + 1), n, n_items, k, ids.data() + r0 * k, sv.data(),
                  si.data(), reinterpret_cast<int*>(sc.data()), threads);
  }
}

#define METAREC_INSTANTIATE(T)                                                                                       \
  template void attention_forward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                      \
                                     const DeviceTensor<T>&, const AttentionArgs&, const DeviceTensor<T>&,          \
                                     const DeviceTensor<T>&, const DeviceTensor<T>&);                               \
  template void attention_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                     \
                                      const DeviceTensor<T>&, const AttentionArgs&, const DeviceTensor<T>&,         \
                                      const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&,       \
                                      const DeviceTensor<T>&, const DeviceTensor<T>&);                              \
  template void gru_recurrence_forward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                 \
                                          const DeviceTensor<T>&, const std::uint8_t*, const DeviceTensor<T>&,      \
                                          const DeviceTensor<T>&);                                                  \
  template void gru_recurrence_backward<T>(Context&, const DeviceTensor<T>&, const std::uint8_t*,                   \
                                           const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&,  \
                                           const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&); \
  template double full_softmax_ce<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                      \
                                     const DeviceTensor<std::int32_t>&, index_t, index_t, T, index_t,               \
                                     const DeviceTensor<T>&, const DeviceTensor<T>&);                               \
  template void top_k<T>(Context&, const DeviceTensor<T>&, int, const DeviceTensor<std::int32_t>&);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda
