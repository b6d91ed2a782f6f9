#pragma once
/// @file vq_ops.hpp
/// Fused differentiable ops of the quantizers, each with a hand-written backward:
/// - head_project: per-head projection (a block-diagonal linear map)
/// - vq_assign:    nearest-codeword assignment with the straight-through
///                 estimator built in, plus the VQ-VAE codebook/commitment loss
/// - add_rows_from: out + residual on rows >= first (the residual never touches padding)
/// - code_mean:    VQ-Rec item = mean of its code embeddings (table row if uncoded)
/// Rows before `first` (row 0 = padding) are never quantized and get no gradient.
/// head_project, vq_assign and add_rows_from run on backend::Cuda too (GEMMs
/// through gemm_on<B>, the rest in cuda/ops_vq.hpp over the bodies of
/// cuda/element_vq.hpp); code_mean (VQ-Rec) is host-only.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/cuda/element_vq.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/numeric/kmeans.hpp"

namespace metarec::quantizers {

namespace detail {

template <class T, class B = backend::Cpu>
void head_project_backward(Tape<T, B>& t, Node<T, B>& n) {
  const auto& x = t.value(n.in[0]);
  const auto& w = t.value(n.in[1]);
  const index_t R = x.rows(), H = w.dim(0), dc = w.dim(1), dh = w.dim(2);
  const T* g = n.grad.data();
  if (t.wants_grad(n.in[0])) {
    T* gx = t.grad(n.in[0]).data();
    for (index_t h = 0; h < H; ++h)  // gx_h += g_h W_h
      gemm_on<B, T>(false, false, R, dh, dc, T(1), g + h * dc, H * dc, w.data() + h * dc * dh, dh, T(1), gx + h * dh, H * dh);
  }
  if (t.wants_grad(n.in[1])) {
    T* gw = t.grad(n.in[1]).data();
    for (index_t h = 0; h < H; ++h)  // gW_h += g_h^T x_h
      gemm_on<B, T>(true, false, dc, dh, R, T(1), g + h * dc, H * dc, x.data() + h * dh, H * dh, T(1), gw + h * dc * dh, dh);
  }
}

template <class T, class B = backend::Cpu>
void vq_straight_through_backward(Tape<T, B>& t, Node<T, B>& n) {
  if (!t.wants_grad(n.in[0])) return;
  const index_t first = n.integer[0], width = n.value.cols(), total = n.value.size();
  if constexpr (!B::is_host) {
    memory<B>::add_into(n.grad.slice(first, n.value.rows()), t.grad(n.in[0]).slice(first, n.value.rows()));
  } else {
    T* gz = t.grad(n.in[0]).data();
    const T* g = n.grad.data();
    METAREC_PARALLEL_FOR(total)
    for (index_t i = first * width; i < total; ++i) gz[i] += g[i];
  }
}

/// loss = (cb + beta) / (N H dc) * sum ||z - q||^2 in value; gradients
/// beta-part to z (commitment, q constant), cb-part to the codebook (z constant).
template <class T, class B = backend::Cpu>
void vq_loss_backward(Tape<T, B>& t, Node<T, B>& n) {
  const auto& z = t.value(n.in[0]);
  const auto& q = n.saved[0];
  const auto* codes = static_cast<const std::int32_t*>(n.ptr[0]);  // in B's memory
  const index_t first = n.integer[0], H = n.integer[1], K = n.integer[2], R = z.rows(), width = z.cols();
  const index_t dc = width / H;
  if constexpr (!B::is_host) {
    // The upstream gradient is one device scalar; reading it back is one scalar per step (as the loss).
    const double g0 = static_cast<double>(memory<B>::to_host(n.grad)[0]);
    const double c = 2.0 * g0 / static_cast<double>((R - first) * width);
    const double az = n.real[0] != 0 && t.wants_grad(n.in[0]) ? static_cast<double>(static_cast<T>(c * n.real[0])) : 0.0;
    const double ac = n.real[1] != 0 && t.wants_grad(n.in[1]) ? static_cast<double>(static_cast<T>(c * n.real[1])) : 0.0;
    cuda::vq_loss_backward(memory<B>::context(), z, q, codes, first, H, K, az, ac,
                           az != 0 ? t.grad(n.in[0]) : TensorOf<T, B>{}, ac != 0 ? t.grad(n.in[1]) : TensorOf<T, B>{});
  } else {
  const double c = 2.0 * static_cast<double>(n.grad[0]) / static_cast<double>((R - first) * width);
  if (n.real[0] != 0 && t.wants_grad(n.in[0])) {
    T* gz = t.grad(n.in[0]).data();
    const T a = static_cast<T>(c * n.real[0]);
    METAREC_PARALLEL_FOR(R * width)
    for (index_t i = first * width; i < R * width; ++i) cuda::elem::vq_commit_grad_at(i, a, z.data(), q.data(), gz);
  }
  if (n.real[1] != 0 && t.wants_grad(n.in[1])) {
    T* gc = t.grad(n.in[1]).data();
    const T a = static_cast<T>(c * n.real[1]);
    // One head per thread: each writes only its own codebook (race-free, ordered).
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(static) if (R * width >= parallel_grain)
#endif
    for (index_t h = 0; h < H; ++h)
      for (index_t e = 0; e < dc; ++e)  // the device kernel's body; each (h, e) column sums rows in order
        cuda::elem::vq_codebook_grad_column(h, e, a, z.data(), q.data(), codes, first, R, K, dc, width, gc);
  }
  }
}

template <class T, class B = backend::Cpu>
void add_rows_from_backward(Tape<T, B>& t, Node<T, B>& n) {
  const index_t first = n.integer[0], width = n.value.cols(), total = n.value.size();
  for (int k = 0; k < 2; ++k) {  // a: every row; b: rows >= first only
    if (!t.wants_grad(n.in[k])) continue;
    if constexpr (!B::is_host) {
      const index_t r0 = k == 0 ? 0 : std::min(first, n.value.rows());
      memory<B>::add_into(n.grad.slice(r0, n.value.rows()), t.grad(n.in[k]).slice(r0, n.value.rows()));
    } else {
      T* g = t.grad(n.in[k]).data();
      METAREC_PARALLEL_FOR(total)
      for (index_t i = k == 0 ? 0 : std::min(first * width, total); i < total; ++i) g[i] += n.grad[i];
    }
  }
}

template <class T, class B = backend::Cpu>
void code_mean_backward(Tape<T, B>& t, Node<T, B>& n) {
  static_assert(B::is_host, "code_mean (VQ-Rec) has no device path yet");
  const auto* codes = static_cast<const std::int32_t*>(n.ptr[0]);
  const index_t first = n.integer[0], D = n.integer[1], R = n.value.rows(), d = n.value.cols();
  const T* g = n.grad.data();
  if (t.wants_grad(n.in[0])) {  // uncoded rows take their table row
    T* gt = t.grad(n.in[0]).data();
    for (index_t r = first; r < R; ++r)
      if (codes[r * D] < 0)
        for (index_t e = 0; e < d; ++e) gt[r * d + e] += g[r * d + e];
  }
  if (t.wants_grad(n.in[1])) {
    T* ge = t.grad(n.in[1]).data();
    const index_t rows_e = t.value(n.in[1]).dim(0);
    const T inv = T(1) / static_cast<T>(D);
    // Every thread scans all codes but adds only to the code rows it owns:
    // deterministic and race-free whatever the thread count.
    auto run = [&](index_t tid, index_t nt) {
      for (index_t r = first; r < R; ++r) {
        if (codes[r * D] < 0) continue;
        for (index_t s = 0; s < D; ++s) {
          const index_t c = codes[r * D + s];
          if (c % nt != tid) continue;
          for (index_t e = 0; e < d; ++e) ge[c * d + e] += inv * g[r * d + e];
        }
      }
    };
#ifdef METAREC_WITH_OPENMP
    if (R * D * d >= parallel_grain && rows_e > 1) {
#pragma omp parallel
      run(omp_get_thread_num(), omp_get_num_threads());
      return;
    }
#endif
    (void)rows_e;
    run(0, 1);
  }
}

/// l = weight * (sum of dist[h * R + r] over rows r >= first) / count (dist: [H, R]; 0 without
/// rows), summed in double. The device kernel leaves rows < first at 0, so one block sums all H * R.
template <class T, class B>
void vq_distance_mean(T* dist, index_t H, index_t R, index_t first, double weight, double count,
                      TensorOf<T, B>& l) {
  if constexpr (!B::is_host) {
    if (R > first)
      cuda::sum_forward(memory<B>::context(), cuda::DeviceTensor<T>::wrap(dist, Shape{H * R}),
                        weight / count, l);
    else
      memory<B>::fill(l, T(0));
  } else {
    double s = 0;
    for (index_t h = 0; h < H; ++h)
      for (index_t r = first; r < R; ++r) s += static_cast<double>(dist[h * R + r]);
    l[0] = R > first ? static_cast<T>(weight * s / count) : T(0);
  }
}

}  // namespace detail

/// y[:, h*dc:(h+1)*dc] = x[:, h*dh:(h+1)*dh] W_h^T. x: [R, H*dh], w: [H, dc, dh]. y: [R, H*dc].
template <class T, class B = backend::Cpu>
Var<T, B> head_project(Var<T, B> x, Var<T, B> w) {
  Tape<T, B>& t = *x.tape;
  const auto& xv = x.value();
  const auto& wv = w.value();
  expect_rank("head_project", "x", xv.shape(), 2);
  expect_rank("head_project", "weight", wv.shape(), 3);
  const index_t R = xv.rows(), H = wv.dim(0), dc = wv.dim(1), dh = wv.dim(2);
  if (xv.cols() != H * dh)
    throw ShapeError("head_project: input " + xv.shape().str() + " does not match weight " + wv.shape().str() +
                     " (input width must be heads * head size)");
  auto y = t.alloc(Shape{R, H * dc});
  for (index_t h = 0; h < H; ++h)
    gemm_on<B, T>(false, true, R, dc, dh, T(1), xv.data() + h * dh, H * dh, wv.data() + h * dc * dh, dh, T(0),
            y.data() + h * dc, H * dc);
  return t.record("head_project", y, {x, w}, &detail::head_project_backward<T, B>);
}

/// Result of vq_assign.
template <class T, class B = backend::Cpu>
struct VQAssignment {
  Var<T, B> quantized;            ///< [R, H*dc]: C_h[k_h] per head (straight-through to z); rows < first are 0
  Var<T, B> loss;                 ///< scalar codebook + commitment loss, or invalid when both weights are 0
  const std::int32_t* codes;   ///< [H, R] head-major (the tape's arena, in B's memory); -1 for rows < first
};

/// Nearest-codeword quantization of each head of z [R, H*dc] against
/// codebook [H, K, dc] (VQ-VAE, van den Oord et al. 2017):
/// quantized = z + sg(C[k] - z) (value C[k], gradient copied to z),
/// loss = codebook_weight * ||sg(z) - C[k]||^2 + beta * ||z - sg(C[k])||^2,
/// both averaged over the (R - first) * H * dc elements. EMA training
/// passes codebook_weight = 0. The search is one GEMM per block of rows.
template <class T, class B = backend::Cpu>
VQAssignment<T, B> vq_assign(Var<T, B> z, Var<T, B> codebook, double beta, double codebook_weight, index_t first = 1) {
  Tape<T, B>& t = *z.tape;
  const auto& zv = z.value();
  const auto& cv = codebook.value();
  expect_rank("vq_assign", "z", zv.shape(), 2);
  expect_rank("vq_assign", "codebook", cv.shape(), 3);
  const index_t R = zv.rows(), H = cv.dim(0), K = cv.dim(1), dc = cv.dim(2), width = H * dc;
  if (zv.cols() != width)
    throw ShapeError("vq_assign: z " + zv.shape().str() + " does not match codebook " + cv.shape().str() +
                     " (z width must be heads * code dim)");
  if (first < 0 || first > R) throw ShapeError("vq_assign: first row " + std::to_string(first) + " outside [0, " + std::to_string(R) + "]");
  const index_t n = R - first;
  auto q = t.alloc(zv.shape());
  auto* codes = t.template alloc_n<std::int32_t>(std::max<index_t>(H * R, 1));
  T* dist = t.template alloc_n<T>(std::max<index_t>(H * R, 1));  // squared distances, [H, R]
  if constexpr (!B::is_host) {
    cuda::vq_assign_forward(memory<B>::context(), zv, cv, first, codes, dist, q);
  } else {
    std::fill_n(q.data(), first * width, T(0));
    T* norms = t.template alloc_n<T>(K);
    T* scratch = t.template alloc_n<T>(numeric::nearest_scratch_size(K));
    for (index_t h = 0; h < H; ++h) {
      const T* ch = cv.data() + h * K * dc;
      std::int32_t* kh = codes + h * R;
      std::fill_n(kh, first, -1);
      numeric::row_norms(ch, K, dc, dc, norms);
      numeric::nearest_centroids(zv.data() + first * width + h * dc, n, dc, width, ch, K, dc, norms, kh + first,
                                 dist + h * R + first, scratch);
      METAREC_PARALLEL_FOR(n * dc)
      for (index_t r = first; r < R; ++r) std::memcpy(q.data() + r * width + h * dc, ch + kh[r] * dc, sizeof(T) * dc);
    }
  }
  VQAssignment<T, B> out{t.record("vq_assign", q, {z}, &detail::vq_straight_through_backward<T, B>), {}, codes};
  t.node(out.quantized).integer[0] = first;
  if (beta == 0 && codebook_weight == 0) return out;
  auto l = t.alloc(Shape{});
  detail::vq_distance_mean<T, B>(dist, H, R, first, beta + codebook_weight, static_cast<double>(n * width), l);
  out.loss = t.record("vq_loss", l, {z, codebook}, &detail::vq_loss_backward<T, B>);
  Node<T, B>& node = t.node(out.loss);
  node.saved[0] = q;
  node.ptr[0] = codes;
  node.real[0] = beta;
  node.real[1] = codebook_weight;
  node.integer[0] = first;
  node.integer[1] = H;
  node.integer[2] = K;
  if (n == 0) node.backward = nullptr;
  return out;
}

/// y = a + b on rows >= first, y = a on rows < first (b gets no gradient there). Same shapes.
template <class T, class B = backend::Cpu>
Var<T, B> add_rows_from(Var<T, B> a, Var<T, B> b, index_t first = 1) {
  Tape<T, B>& t = *a.tape;
  expect_shape("add_rows_from", "b", b.shape(), a.shape());
  const auto& av = a.value();
  const auto& bv = b.value();
  auto y = t.alloc(av.shape());
  if constexpr (!B::is_host) {
    cuda::add_rows_from_forward(memory<B>::context(), av, bv, first, y);
  } else {
    const index_t width = av.cols(), total = av.size(), head = std::min(first * width, total);
    std::copy_n(av.data(), head, y.data());
    METAREC_PARALLEL_FOR(total)
    for (index_t i = head; i < total; ++i) y[i] = av[i] + bv[i];
  }
  Var<T, B> out = t.record("add_rows_from", y, {a, b}, &detail::add_rows_from_backward<T, B>);
  t.node(out).integer[0] = first;
  return out;
}

/// VQ-Rec item representation (Hou et al. 2023): row r >= first with codes
/// (codes[r*D .. r*D+D) into code_table [D*M, d]) is the mean of its D code
/// embeddings; a row whose first code is -1 has no features and is its
/// table row; rows < first are zero. codes are borrowed until backward.
template <class T, class B = backend::Cpu>
Var<T, B> code_mean(Var<T, B> table, Var<T, B> code_table, const std::int32_t* codes, index_t D, index_t first = 1) {
  static_assert(B::is_host, "code_mean (VQ-Rec) has no device path yet");
  Tape<T, B>& t = *table.tape;
  const Tensor<T>& tv = table.value();
  const Tensor<T>& ev = code_table.value();
  expect_rank("code_mean", "table", tv.shape(), 2);
  expect_rank("code_mean", "code table", ev.shape(), 2);
  if (ev.dim(1) != tv.dim(1))
    throw ShapeError("code_mean: code table " + ev.shape().str() + " and item table " + tv.shape().str() + " differ in width");
  const index_t R = tv.rows(), d = tv.cols(), E = ev.dim(0);
  for (index_t i = first * D; i < R * D; ++i)
    if (codes[i] >= E || (codes[i] < 0 && codes[i - i % D] >= 0))
      throw ShapeError("code_mean: code " + std::to_string(codes[i]) + " of row " + std::to_string(i / D) +
                       " is out of range for a code table of " + std::to_string(E) + " rows");
  Tensor<T> y = t.alloc(tv.shape());
  std::fill_n(y.data(), std::min(first, R) * d, T(0));
  const T inv = T(1) / static_cast<T>(D);
  METAREC_PARALLEL_FOR(R * D * d)
  for (index_t r = first; r < R; ++r) {
    T* yr = y.data() + r * d;
    if (codes[r * D] < 0) {
      std::copy_n(tv.data() + r * d, d, yr);
      continue;
    }
    std::fill_n(yr, d, T(0));
    for (index_t s = 0; s < D; ++s) {
      const T* er = ev.data() + static_cast<index_t>(codes[r * D + s]) * d;
      for (index_t e = 0; e < d; ++e) yr[e] += er[e];
    }
    for (index_t e = 0; e < d; ++e) yr[e] *= inv;
  }
  Var<T, B> out = t.record("code_mean", y, {table, code_table}, &detail::code_mean_backward<T, B>);
  Node<T, B>& n = t.node(out);
  n.ptr[0] = codes;
  n.integer[0] = first;
  n.integer[1] = D;
  return out;
}

}  // namespace metarec::quantizers
