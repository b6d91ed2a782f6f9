#pragma once
/// @file cross_entropy.hpp
/// Softmax cross-entropy losses: the full-catalog loss with a tied item table
/// (most of the arithmetic of training a sequential recommender) and a plain
/// CE over a small logit matrix.
///
/// full_softmax_ce never materialises the N x n logit matrix. Rows are taken
/// in blocks of R; the item range is split into one contiguous slice per
/// thread, and each slice into tiles of C items. For a row block each thread
///   1. computes its logits tile by tile (GEMM), taking each tile's row max
///      and exponentials while the tile is in cache,
///   2. publishes per-row (max, sum of exp) and meets the others at a barrier,
///   3. combines the partial log-sum-exps in thread order (deterministic),
///      turns its exponentials into the gradient (p - onehot) / N in place and
///      runs the two gradient GEMMs: dh_part += G E_slice, dE_slice += G^T h.
/// So the logits of a row block (R x n / T) stay in L2 from GEMM to gradient,
/// each thread owns its rows of the item gradient (no races, no reduction),
/// and only the small per-thread dh partials are summed, in fixed order.
/// The gradient is computed in the forward pass when an input needs one (3
/// GEMMs instead of 4 with a recompute); backward only scales it by the
/// incoming scalar gradient. Use NoGradGuard for evaluation losses.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

struct FullCEOptions {
  std::int32_t first_item = 1;  ///< rows < first_item of the table (padding, [MASK]) are not candidates
  index_t end_item = -1;        ///< one past the last candidate row; -1 = table rows
  index_t row_block = 0;        ///< rows per block (0 = automatic); tests force small blocks
  index_t item_block = 0;       ///< items per logit tile within a thread's slice (0 = automatic)
};

namespace detail {

/// Throws ShapeError naming op, row and value unless lo <= targets[i] < hi.
/// Hidden states [N >= 1, d] scored against an item table [rows, d].
template <class AnyTensor>
void check_scoring_shapes(const char* op, const AnyTensor& hv, const AnyTensor& ev) {
  expect_rank(op, "hidden states", hv.shape(), 2);
  expect_rank(op, "item table", ev.shape(), 2);
  if (hv.dim(1) != ev.dim(1))
    throw ShapeError(std::string(op) + ": hidden states " + hv.shape().str() + " and item table " + ev.shape().str() +
                     " differ in the embedding dimension");
  if (hv.dim(0) == 0) throw ShapeError(std::string(op) + ": no rows (hidden states " + hv.shape().str() + ")");
}

inline void check_targets(const char* op, const std::int32_t* targets, index_t n, index_t lo, index_t hi) {
  if (n > 0 && targets == nullptr) throw ShapeError(std::string(op) + ": targets pointer is null");
  for (index_t i = 0; i < n; ++i)
    if (targets[i] < lo || targets[i] >= hi)
      throw ShapeError(std::string(op) + ": target of row " + std::to_string(i) + " is " + std::to_string(targets[i]) +
                       ", outside the candidate range [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
}

/// Throws NumericError naming op when the loss is NaN or infinite.
inline void check_loss(const char* op, double loss) {
  if (!std::isfinite(loss))
    throw NumericError(std::string(op) + ": non-finite loss (" + std::to_string(loss) +
                       "); logits overflowed or inputs contain NaN/Inf");
}

/// The scalar node every loss op ends with: checks the value, records it with
/// the loss's backward on (h, items); the caller fills the node's saved state.
template <class T, class B = backend::Cpu>
Var<T, B> record_loss(Tape<T, B>& t, const char* op, double loss, Var<T, B> h, Var<T, B> items, typename Node<T, B>::Backward backward) {
  check_loss(op, loss);
  TensorOf<T, B> y = t.alloc(Shape{});
  memory<B>::fill(y, static_cast<T>(loss));
  return t.record(op, y, {h, items}, backward);
}

/// out += g * x over n elements (parallel, elementwise so deterministic).
template <class T, class B = backend::Cpu>
void axpy(T* out, const T* x, T g, index_t n) {
  METAREC_PARALLEL_FOR(n)
  for (index_t i = 0; i < n; ++i) out[i] += g * x[i];
}

/// Problem description for the fused kernel. Logits are scale * <h_i, e_j>
/// for candidate rows j in [first, end) of `items`; targets are table rows.
template <class T, class B = backend::Cpu>
struct FullCEProblem {
  const T* h = nullptr;
  const T* items = nullptr;
  const std::int32_t* targets = nullptr;
  index_t n = 0, d = 0, first = 0, end = 0;
  T scale = T(1);
  index_t row_block = 0, item_block = 0;
  T* dh = nullptr;  ///< [n, d] written (not accumulated) when non-null
  T* de = nullptr;  ///< [end - first, d] written when non-null
};

/// Runs the blocked loss (and gradients when dh / de are set); returns the mean loss.
template <class T, class B = backend::Cpu>
double full_ce_kernel(Workspace& ws, const FullCEProblem<T>& p) {
  using Row = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;
  const index_t N = p.n, d = p.d, nc = p.end - p.first;
  const bool grad = p.dh || p.de;
  // One contiguous item slice per thread, in 16-item units (whole cache lines).
  const double flops = 2.0 * static_cast<double>(N) * static_cast<double>(nc) * static_cast<double>(d);
  const int team = flops >= 4e6 ? num_threads() : 1;
  const index_t slice = (nc + team - 1) / team;
  const index_t slice_max = std::min<index_t>(nc, (slice + 15) / 16 * 16);  // items per slice
  const index_t ldz = std::max<index_t>(16, (slice_max + 15) / 16 * 16);
  // Row block: 64 rows give the dE GEMM (inner dimension R) enough depth and
  // measured best at n = 12k (32: -10%, 128: -7%); huge catalogs get fewer
  // rows so a block's logit slice (R x ldz) stays within ~8 MiB.
  index_t R = p.row_block > 0 ? p.row_block
                              : std::clamp<index_t>((index_t(1) << 21) / ldz / 8 * 8, 8, 64);
  R = std::max<index_t>(1, std::min(R, N));
  const index_t C = p.item_block > 0 ? std::min(p.item_block, ldz) : ldz;
  const index_t tiles = (slice_max + C - 1) / C;

  T* z_all = ws.allocate_n<T>(team * R * ldz);
  T* tile_max_all = ws.allocate_n<T>(team * R * std::max<index_t>(tiles, 1));
  double* part_m = ws.allocate_n<double>(2 * team * R);  // double-buffered by block parity
  double* part_s = ws.allocate_n<double>(2 * team * R);
  double* loss_row = ws.allocate_n<double>(N);
  T* dh_parts = p.dh && team > 1 ? ws.allocate_n<T>((team - 1) * N * d) : nullptr;
  const double invN = 1.0 / static_cast<double>(N);
  // Slice k covers items [lo(k), hi(k)); the partition depends only on `team`.
  auto lo_of = [&](index_t k) { return std::min<index_t>(nc, k * slice_max); };
  auto hi_of = [&](index_t k) { return std::min<index_t>(nc, (k + 1) * slice_max); };

  // Phase 1 for slice k: logits tile by tile; max and exponentials while the tile is hot.
  auto phase1 = [&](int k, index_t r0, index_t rows, index_t blk) {
    const index_t lo = lo_of(k), hi = hi_of(k);
    T* z = z_all + k * R * ldz;
    T* tile_max = tile_max_all + k * R * std::max<index_t>(tiles, 1);
    double* my_m = part_m + ((blk & 1) * team + k) * R;
    double* my_s = part_s + ((blk & 1) * team + k) * R;
    for (index_t r = 0; r < rows; ++r) my_m[r] = -std::numeric_limits<double>::infinity(), my_s[r] = 0;
    for (index_t c0 = lo, tile = 0; c0 < hi; c0 += C, ++tile) {
      const index_t cols = std::min(C, hi - c0);
      T* zc = z + (c0 - lo);
      gemm<T>(false, true, rows, cols, d, p.scale, p.h + r0 * d, d, p.items + (p.first + c0) * d, d, T(0), zc, ldz);
      for (index_t r = 0; r < rows; ++r) {
        Row zr(zc + r * ldz, cols);
        const index_t t = p.targets[r0 + r] - p.first;
        if (t >= c0 && t < c0 + cols) loss_row[r0 + r] = -static_cast<double>(zr[t - c0]);
        const T mx = zr.maxCoeff();
        tile_max[r * tiles + tile] = mx;
        double s;
        if (grad) {
          zr = (zr - mx).exp();
          s = static_cast<double>(zr.sum());
        } else {
          s = static_cast<double>((zr - mx).exp().sum());
        }
        const double m_old = my_m[r], m_new = std::max(m_old, static_cast<double>(mx));
        my_s[r] = my_s[r] * std::exp(m_old - m_new) + s * std::exp(static_cast<double>(mx) - m_new);
        my_m[r] = m_new;
      }
    }
  };
  // Phase 2 for slice k: combine the partial log-sum-exps in slice order (every
  // slice gets the same bits), exponentials -> (p - onehot) / N, gradient GEMMs.
  auto phase2 = [&](int k, index_t r0, index_t rows, index_t blk) {
    const index_t lo = lo_of(k), hi = hi_of(k);
    T* z = z_all + k * R * ldz;
    const T* tile_max = tile_max_all + k * R * std::max<index_t>(tiles, 1);
    const double* blk_m = part_m + (blk & 1) * team * R;
    const double* blk_s = part_s + (blk & 1) * team * R;
    for (index_t r = 0; r < rows; ++r) {
      double mg = -std::numeric_limits<double>::infinity(), sg = 0;
      for (int q = 0; q < team; ++q) mg = std::max(mg, blk_m[q * R + r]);
      for (int q = 0; q < team; ++q)
        if (blk_s[q * R + r] > 0) sg += blk_s[q * R + r] * std::exp(blk_m[q * R + r] - mg);
      const index_t t = p.targets[r0 + r] - p.first;
      if (t >= lo && t < hi) loss_row[r0 + r] += mg + std::log(sg);
      if (!grad) continue;
      for (index_t c0 = lo, tile = 0; c0 < hi; c0 += C, ++tile) {
        Row zr(z + r * ldz + (c0 - lo), std::min(C, hi - c0));
        zr *= static_cast<T>(std::exp(static_cast<double>(tile_max[r * tiles + tile]) - mg) / sg * invN);
      }
      if (t >= lo && t < hi) z[r * ldz + (t - lo)] -= static_cast<T>(invN);
    }
    if (!grad) return;
    T* dh_k = !p.dh ? nullptr : k == 0 ? p.dh : dh_parts + (k - 1) * N * d;
    for (index_t c0 = lo; c0 < hi; c0 += C) {
      const index_t cols = std::min(C, hi - c0);
      const T* g = z + (c0 - lo);
      const T* ec = p.items + (p.first + c0) * d;
      if (dh_k) gemm<T>(false, false, rows, d, cols, p.scale, g, ldz, ec, d, c0 == lo ? T(0) : T(1), dh_k + r0 * d, d);
      if (p.de)
        gemm<T>(true, false, cols, d, rows, p.scale, g, ldz, p.h + r0 * d, d, r0 == 0 ? T(0) : T(1), p.de + c0 * d, d);
    }
  };

#ifdef METAREC_WITH_OPENMP
#pragma omp parallel num_threads(team) if (team > 1)
#endif
  {
    const int tid = thread_id();
#ifdef METAREC_WITH_OPENMP
    const int nth = omp_get_num_threads();
#else
    const int nth = 1;
#endif
    for (index_t r0 = 0, blk = 0; r0 < N; r0 += R, ++blk) {
      const index_t rows = std::min(R, N - r0);
      for (int k = tid; k < team; k += nth) phase1(k, r0, rows, blk);
#ifdef METAREC_WITH_OPENMP
#pragma omp barrier
#endif
      for (int k = tid; k < team; k += nth) phase2(k, r0, rows, blk);
    }
  }
  // dh = sum of the per-slice partials in slice order (empty slices add nothing).
  if (p.dh && team > 1) {
    int used = 1;
    while (used < team && lo_of(used) < nc) ++used;
    METAREC_PARALLEL_FOR(N * d)
    for (index_t i = 0; i < N * d; ++i) {
      T acc = p.dh[i];
      for (int k = 1; k < used; ++k) acc += dh_parts[(k - 1) * N * d + i];
      p.dh[i] = acc;
    }
  }
  double loss = 0;
  for (index_t i = 0; i < N; ++i) loss += loss_row[i];
  return loss * invN;
}

template <class T, class B = backend::Cpu>
void full_ce_backward(Tape<T, B>& t, Node<T, B>& n) {
  if constexpr (!B::is_host) {
    cuda::Context& ctx = memory<B>::context();
    if (t.wants_grad(n.in[0]) && !n.saved[0].empty()) cuda::axpy_device_scalar(ctx, n.grad, n.saved[0], t.grad(n.in[0]));
    if (t.wants_grad(n.in[1]) && !n.saved[1].empty()) {
      TensorOf<T, B>& ge = t.grad(n.in[1]);
      cuda::axpy_device_scalar(ctx, n.grad, n.saved[1], ge.slice(n.integer[0], n.integer[0] + n.saved[1].dim(0)));
    }
  } else {
  const T g = n.grad[0];
  if (t.wants_grad(n.in[0]) && !n.saved[0].empty())
    axpy(t.grad(n.in[0]).data(), n.saved[0].data(), g, n.saved[0].size());
  if (t.wants_grad(n.in[1]) && !n.saved[1].empty()) {
    TensorOf<T, B>& ge = t.grad(n.in[1]);  // dense: every candidate row receives gradient
    axpy(ge.data() + n.integer[0] * ge.cols(), n.saved[1].data(), g, n.saved[1].size());
  }
  }
}

/// Shared by full_softmax_ce and info_nce: validates, runs the kernel, records.
template <class T, class B = backend::Cpu>
Var<T, B> full_ce(const char* op, Var<T, B> h, Var<T, B> items, const std::int32_t* targets, index_t first, index_t end,
               T scale, index_t row_block, index_t item_block) {
  Tape<T, B>& t = *h.tape;
  const TensorOf<T, B>& hv = h.value();
  const TensorOf<T, B>& ev = items.value();
  check_scoring_shapes(op, hv, ev);
  if (first < 0 || end > ev.dim(0) || first >= end)
    throw ShapeError(std::string(op) + ": candidate rows [" + std::to_string(first) + ", " + std::to_string(end) +
                     ") are empty or outside the item table " + ev.shape().str());
  check_targets(op, targets, hv.dim(0), first, end);
  TensorOf<T, B> dh, de;  // the gradients, computed in the forward pass (the loss is the last node)
  if (t.wants_grad(h.id)) dh = t.alloc(hv.shape());
  if (t.wants_grad(items.id)) de = t.alloc(Shape{end - first, ev.dim(1)});
  double loss = 0;
  if constexpr (!B::is_host) {
    // cuda::full_softmax_ce streams item chunks with an online log-sum-exp and writes dh and de, as the host kernel.
    const index_t n = hv.dim(0);
    const std::int32_t* dev_targets = t.upload_n(targets, n);
    loss = cuda::full_softmax_ce(memory<B>::context(), hv, ev,
                                 cuda::DeviceTensor<std::int32_t>::wrap(const_cast<std::int32_t*>(dev_targets), Shape{n}),
                                 first, end, scale, item_block, dh, de);
  } else {
    FullCEProblem<T> p;
    p.h = hv.data();
    p.items = ev.data();
    p.targets = targets;
    p.n = hv.dim(0);
    p.d = hv.dim(1);
    p.first = first;
    p.end = end;
    p.scale = scale;
    p.row_block = row_block;
    p.item_block = item_block;
    if (!dh.empty()) p.dh = dh.data();
    if (!de.empty()) p.de = de.data();
    loss = full_ce_kernel(t.workspace(), p);
  }
  Var<T, B> out = record_loss(t, op, loss, h, items, &full_ce_backward<T, B>);
  Node<T, B>& nd = t.node(out);
  nd.saved[0] = dh;
  nd.saved[1] = de;
  nd.integer[0] = first;
  return out;
}

template <class T, class B = backend::Cpu>
void softmax_ce_backward(Tape<T, B>& t, Node<T, B>& n) {
  axpy(t.grad(n.in[0]).data(), n.saved[0].data(), n.grad[0], n.saved[0].size());
}

}  // namespace detail

/// Mean over the N rows of -log softmax(h items^T)[target], candidates = item
/// rows [first_item, end_item). h: [N, d] (real positions only), items:
/// [n_rows, d] (tied table), targets: N table rows in the candidate range.
/// Gradients reach h and (densely) the item table.
template <class T, class B = backend::Cpu>
Var<T, B> full_softmax_ce(Var<T, B> h, Var<T, B> items, const std::int32_t* targets, const FullCEOptions& opt = {}) {
  const index_t end = opt.end_item < 0 ? items.value().dim(0) : opt.end_item;
  return detail::full_ce("full_softmax_ce", h, items, targets, opt.first_item, end, T(1), opt.row_block,
                         opt.item_block);
}

/// Mean CE over a small logit matrix. logits: [N, C], targets: N classes in [0, C).
template <class T, class B = backend::Cpu>
Var<T, B> softmax_cross_entropy(Var<T, B> logits, const std::int32_t* targets) {
  Tape<T, B>& t = *logits.tape;
  const TensorOf<T, B>& x = logits.value();
  expect_rank("softmax_cross_entropy", "logits", x.shape(), 2);
  const index_t N = x.dim(0), C = x.dim(1);
  if (N == 0 || C == 0) throw ShapeError("softmax_cross_entropy: empty logits " + x.shape().str());
  detail::check_targets("softmax_cross_entropy", targets, N, 0, C);
  const bool grad = t.wants_grad(logits.id);
  TensorOf<T, B> g = grad ? t.alloc(x.shape()) : TensorOf<T, B>();
  double* loss_row = t.template alloc_n<double>(N);
  const double invN = 1.0 / static_cast<double>(N);
  METAREC_PARALLEL_FOR(N * C)
  for (index_t i = 0; i < N; ++i) {
    Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>> xr(x.data() + i * C, C);
    const T mx = xr.maxCoeff();
    const double s = static_cast<double>((xr - mx).exp().sum());
    const double lse = static_cast<double>(mx) + std::log(s);
    loss_row[i] = lse - static_cast<double>(xr[targets[i]]);
    if (grad) {
      Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>> gr(g.data() + i * C, C);
      gr = (xr - static_cast<T>(lse)).exp() * static_cast<T>(invN);
      gr[targets[i]] -= static_cast<T>(invN);
    }
  }
  double loss = 0;
  for (index_t i = 0; i < N; ++i) loss += loss_row[i];
  loss *= invN;
  detail::check_loss("softmax_cross_entropy", loss);
  TensorOf<T, B> y = t.alloc(Shape{});
  y[0] = static_cast<T>(loss);
  Var<T, B> out = t.record("softmax_cross_entropy", y, {logits}, &detail::softmax_ce_backward<T, B>);
  t.node(out).saved[0] = g;
  return out;
}

}  // namespace metarec::ops
