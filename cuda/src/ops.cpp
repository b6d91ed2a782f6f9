/// @file ops.cpp
/// Host glue of the device ops (ops.hpp): validates shapes like the CPU ops,
/// orchestrates cuBLAS and kernels, takes scratch from the caching allocator.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "launch.hpp"
#include "metarec/cuda/ops.hpp"

namespace metarec::cuda {

namespace {
template <class T>
T* ptr_or_null(const DeviceTensor<T>& t) { return t.empty() ? nullptr : t.data(); }

template <class A, class B>
void same_size(const char* op, const char* what, const DeviceTensor<A>& got, const DeviceTensor<B>& want) {
  if (got.size() != want.size())
    throw ShapeError(std::string(op) + ": " + what + " has shape " + got.shape().str() + ", expected " +
                     want.shape().str() + " elements");
}
template <class T>
void optional_size(const char* op, const char* what, const DeviceTensor<T>& got, index_t n) {
  if (!got.empty() && got.size() != n)
    throw ShapeError(std::string(op) + ": " + what + " has shape " + got.shape().str() + ", expected " +
                     std::to_string(n) + " elements");
}
index_t broadcast_period(const char* op, const Shape& a, const Shape& b) {
  if (a == b) return a.size();
  if (b.rank <= a.rank) {
    bool trailing = true;
    for (int i = 1; i <= b.rank; ++i) trailing = trailing && a[-i] == b[-i];
    if (trailing && b.size() > 0) return b.size();
  }
  throw ShapeError(std::string(op) + ": cannot broadcast " + b.str() + " to " + a.str());
}
}  // namespace

template <class T>
void fill(Context& ctx, const DeviceTensor<T>& x, T value) {
  if (!x.empty()) launch::fill(ctx.stream(), x.data(), x.size(), value);
}
template <class T>
void axpy_device_scalar(Context& ctx, const DeviceTensor<T>& alpha, const DeviceTensor<T>& x, const DeviceTensor<T>& y) {
  same_size("cuda::axpy_device_scalar", "y", y, x);
  if (alpha.size() != 1) throw ShapeError("cuda::axpy_device_scalar: alpha has shape " + alpha.shape().str());
  launch::axpy_device_scalar(ctx.stream(), alpha.data(), x.data(), y.data(), x.size());
}
void dropout_keep_mask(Context& ctx, std::uint64_t base, double p, std::uint8_t* keep, index_t n) {
  constexpr index_t chunk = 8192;  // ops::keep_mask_chunk_size
  if (n > 0) launch::keep_mask(ctx.stream(), base, static_cast<std::uint64_t>(p * 4294967296.0), keep, n, chunk);
}
template <class T>
void dropout_forward(Context& ctx, const DeviceTensor<T>& x, const std::uint8_t* keep, double scale,
                     const DeviceTensor<T>& y) {
  same_size("cuda::dropout_forward", "output", y, x);
  launch::dropout_apply(ctx.stream(), x.data(), keep, static_cast<T>(scale), y.data(), x.size());
}
template <class T>
void dropout_backward(Context& ctx, const std::uint8_t* keep, double scale, const DeviceTensor<T>& g,
                      const DeviceTensor<T>& gx) {
  same_size("cuda::dropout_backward", "gx", gx, g);
  launch::dropout_backward(ctx.stream(), g.data(), keep, static_cast<T>(scale), gx.data(), g.size());
}
template <class T>
void adam_step(Context& ctx, const elem::AdamScalars<T>& a, const DeviceTensor<T>& w, const DeviceTensor<T>& g,
               const DeviceTensor<T>& m, const DeviceTensor<T>& v) {
  same_size("cuda::adam_step", "gradient", g, w);
  same_size("cuda::adam_step", "first moment", m, w);
  same_size("cuda::adam_step", "second moment", v, w);
  launch::adam(ctx.stream(), a, w.data(), g.data(), m.data(), v.data(), w.size());
}
template <class T>
void binary_forward(Context& ctx, Binary op, const DeviceTensor<T>& a, const DeviceTensor<T>& b,
                    const DeviceTensor<T>& y) {
  const index_t period = broadcast_period("cuda::binary_forward", a.shape(), b.shape());
  same_size("cuda::binary_forward", "output", y, a);
  launch::binary_forward(ctx.stream(), op, a.data(), b.data(), y.data(), a.size(), period);
}
template <class T>
void binary_backward(Context& ctx, Binary op, const DeviceTensor<T>& a, const DeviceTensor<T>& b,
                     const DeviceTensor<T>& g, const DeviceTensor<T>& ga, const DeviceTensor<T>& gb) {
  const index_t period = broadcast_period("cuda::binary_backward", a.shape(), b.shape());
  same_size("cuda::binary_backward", "gradient", g, a);
  optional_size("cuda::binary_backward", "ga", ga, a.size());
  optional_size("cuda::binary_backward", "gb", gb, b.size());
  if (!ga.empty()) launch::binary_grad_a(ctx.stream(), op, g.data(), b.data(), ga.data(), a.size(), period);
  if (!gb.empty()) launch::binary_grad_b(ctx.stream(), op, g.data(), a.data(), gb.data(), a.size(), period);
}
template <class T>
void scale_forward(Context& ctx, const DeviceTensor<T>& x, double s, const DeviceTensor<T>& y) {
  same_size("cuda::scale_forward", "output", y, x);
  launch::scale(ctx.stream(), x.data(), static_cast<T>(s), y.data(), x.size(), false);
}
template <class T>
void scale_backward(Context& ctx, const DeviceTensor<T>& g, double s, const DeviceTensor<T>& gx) {
  same_size("cuda::scale_backward", "gx", gx, g);
  launch::scale(ctx.stream(), g.data(), static_cast<T>(s), gx.data(), g.size(), true);
}
template <class T>
void sum_forward(Context& ctx, const DeviceTensor<T>& x, double factor, const DeviceTensor<T>& y) {
  if (y.size() != 1) throw ShapeError("cuda::sum_forward: output must have one element, got " + y.shape().str());
  launch::sum(ctx.stream(), x.data(), x.size(), factor, y.data());
}
template <class T>
void sum_backward(Context& ctx, const DeviceTensor<T>& g, double factor, const DeviceTensor<T>& gx) {
  if (g.size() != 1) throw ShapeError("cuda::sum_backward: gradient must have one element, got " + g.shape().str());
  launch::add_scalar_grad(ctx.stream(), g.data(), factor, gx.data(), gx.size());
}
template <class T>
void activation_forward(Context& ctx, Activation kind, const DeviceTensor<T>& x, const DeviceTensor<T>& y) {
  same_size("cuda::activation_forward", "output", y, x);
  launch::activation_forward(ctx.stream(), kind, x.data(), y.data(), x.size());
}
template <class T>
void activation_backward(Context& ctx, Activation kind, const DeviceTensor<T>& x, const DeviceTensor<T>& y,
                         const DeviceTensor<T>& g, const DeviceTensor<T>& gx) {
  same_size("cuda::activation_backward", "gx", gx, x);
  launch::activation_backward(ctx.stream(), kind, x.data(), y.data(), g.data(), gx.data(), x.size());
}
template <class T>
void softmax_forward(Context& ctx, bool log, const DeviceTensor<T>& x, const DeviceTensor<T>& y) {
  same_size("cuda::softmax_forward", "output", y, x);
  launch::softmax_forward(ctx.stream(), log, x.data(), y.data(), x.rows(), x.cols());
}
template <class T>
void softmax_backward(Context& ctx, bool log, const DeviceTensor<T>& y, const DeviceTensor<T>& g,
                      const DeviceTensor<T>& gx) {
  same_size("cuda::softmax_backward", "gx", gx, y);
  launch::softmax_backward(ctx.stream(), log, y.data(), g.data(), gx.data(), y.rows(), y.cols());
}
template <class T>
void layer_norm_forward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& gamma,
                        const DeviceTensor<T>& beta, double eps, const DeviceTensor<T>& y,
                        const DeviceTensor<T>& mean, const DeviceTensor<T>& rstd) {
  const index_t rows = x.rows(), d = x.cols();
  expect_shape("cuda::layer_norm_forward", "gamma", gamma.shape(), Shape{d});
  expect_shape("cuda::layer_norm_forward", "beta", beta.shape(), Shape{d});
  same_size("cuda::layer_norm_forward", "output", y, x);
  optional_size("cuda::layer_norm_forward", "mean", mean, rows);
  optional_size("cuda::layer_norm_forward", "rstd", rstd, rows);
  if (!(eps > 0)) throw ConfigError("cuda::layer_norm_forward: eps = " + std::to_string(eps) + " must be > 0");
  launch::layer_norm_forward(ctx.stream(), x.data(), gamma.data(), beta.data(), static_cast<T>(eps), y.data(),
                             ptr_or_null(mean), ptr_or_null(rstd), rows, d);
}
template <class T>
void layer_norm_backward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& gamma,
                         const DeviceTensor<T>& mean, const DeviceTensor<T>& rstd, const DeviceTensor<T>& g,
                         const DeviceTensor<T>& gx, const DeviceTensor<T>& ggamma, const DeviceTensor<T>& gbeta) {
  const index_t rows = x.rows(), d = x.cols();
  const char* op = "cuda::layer_norm_backward";
  expect_shape(op, "gamma", gamma.shape(), Shape{d});
  same_size(op, "gradient", g, x);
  optional_size(op, "mean", mean, rows);
  optional_size(op, "rstd", rstd, rows);
  if (mean.empty() || rstd.empty()) throw ShapeError(std::string(op) + ": needs the mean and rstd saved by the forward");
  optional_size(op, "gx", gx, x.size());
  optional_size(op, "dgamma", ggamma, d);
  optional_size(op, "dbeta", gbeta, d);
  if (!gx.empty())
    launch::layer_norm_backward_x(ctx.stream(), x.data(), g.data(), gamma.data(), mean.data(), rstd.data(), gx.data(),
                                  rows, d);
  if (!ggamma.empty() || !gbeta.empty())
    launch::layer_norm_backward_params(ctx.stream(), x.data(), g.data(), mean.data(), rstd.data(), ptr_or_null(ggamma),
                                       ptr_or_null(gbeta), rows, d);
}
template <class T>
void l2_normalize_forward(Context& ctx, const DeviceTensor<T>& x, double eps, const DeviceTensor<T>& y,
                          const DeviceTensor<T>& norm) {
  same_size("cuda::l2_normalize_forward", "output", y, x);
  optional_size("cuda::l2_normalize_forward", "norm", norm, x.rows());
  launch::l2_normalize_forward(ctx.stream(), x.data(), static_cast<T>(eps), y.data(), ptr_or_null(norm), x.rows(),
                               x.cols());
}
template <class T>
void l2_normalize_backward(Context& ctx, const DeviceTensor<T>& y, const DeviceTensor<T>& norm, double eps,
                           const DeviceTensor<T>& g, const DeviceTensor<T>& gx) {
  const char* op = "cuda::l2_normalize_backward";
  same_size(op, "gradient", g, y);
  same_size(op, "gx", gx, y);
  if (norm.size() != y.rows()) throw ShapeError(std::string(op) + ": needs the norm [rows] saved by the forward");
  launch::l2_normalize_backward(ctx.stream(), y.data(), g.data(), norm.data(), static_cast<T>(eps), gx.data(),
                                y.rows(), y.cols());
}
template <class T>
void linear_forward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& w, const DeviceTensor<T>& b,
                    const DeviceTensor<T>& y) {
  expect_rank("cuda::linear_forward", "weight", w.shape(), 2);
  if (x.cols() != w.dim(1))
    throw ShapeError("cuda::linear_forward: input " + x.shape().str() + " does not match weight " + w.shape().str());
  const index_t rows = x.rows(), in = x.cols(), out = w.dim(0);
  optional_size("cuda::linear_forward", "bias", b, out);
  if (y.size() != rows * out) throw ShapeError("cuda::linear_forward: output " + y.shape().str() + " has the wrong size");
  gemm<T>(ctx, false, true, rows, out, in, T(1), x.data(), in, w.data(), in, T(0), y.data(), out);
  if (!b.empty()) launch::add_bias_rows(ctx.stream(), y.data(), b.data(), rows, out);
}
template <class T>
void linear_backward(Context& ctx, const DeviceTensor<T>& x, const DeviceTensor<T>& w, const DeviceTensor<T>& g,
                     const DeviceTensor<T>& gx, const DeviceTensor<T>& gw, const DeviceTensor<T>& gb) {
  const char* op = "cuda::linear_backward";
  expect_rank(op, "weight", w.shape(), 2);
  if (x.cols() != w.dim(1)) throw ShapeError(std::string(op) + ": input " + x.shape().str() + " does not match weight " + w.shape().str());
  const index_t rows = x.rows(), in = x.cols(), out = w.dim(0);
  if (g.size() != rows * out) throw ShapeError(std::string(op) + ": gradient " + g.shape().str() + " has the wrong size");
  optional_size(op, "gx", gx, x.size());
  optional_size(op, "gw", gw, w.size());
  optional_size(op, "gb", gb, out);
  if (!gx.empty()) gemm<T>(ctx, false, false, rows, in, out, T(1), g.data(), out, w.data(), in, T(1), gx.data(), in);
  if (!gw.empty()) gemm<T>(ctx, true, false, out, in, rows, T(1), g.data(), out, x.data(), in, T(1), gw.data(), in);
  if (!gb.empty()) launch::column_sums(ctx.stream(), g.data(), rows, out, gb.data());
}
template <class T>
void embedding_forward(Context& ctx, const DeviceTensor<T>& table, const DeviceTensor<std::int32_t>& ids,
                       const DeviceTensor<T>& y) {
  expect_rank("cuda::embedding_forward", "table", table.shape(), 2);
  if (y.size() != ids.size() * table.dim(1))
    throw ShapeError("cuda::embedding_forward: output " + y.shape().str() + " for " + std::to_string(ids.size()) +
                     " ids of a table " + table.shape().str());
  // Ids are not range-checked on the device: the caller checks them on the host (as ops::embedding does).
  launch::gather_rows(ctx.stream(), table.data(), ids.data(), ids.size(), table.dim(1), y.data());
}
template <class T>
void embedding_backward(Context& ctx, const DeviceTensor<T>& g, const DeviceTensor<std::int32_t>& ids,
                        std::int32_t padding_idx, const DeviceTensor<T>& gtable) {
  expect_rank("cuda::embedding_backward", "table gradient", gtable.shape(), 2);
  if (g.size() != ids.size() * gtable.dim(1))
    throw ShapeError("cuda::embedding_backward: gradient " + g.shape().str() + " for " + std::to_string(ids.size()) +
                     " ids of a table " + gtable.shape().str());
  launch::scatter_add_rows(ctx.stream(), g.data(), ids.data(), ids.size(), gtable.dim(1), padding_idx, gtable.data());
}

#define METAREC_INSTANTIATE(T)                                                                                       \
  template void fill<T>(Context&, const DeviceTensor<T>&, T);                                                        \
  template void axpy_device_scalar<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                     \
                                      const DeviceTensor<T>&);                                                      \
  template void dropout_forward<T>(Context&, const DeviceTensor<T>&, const std::uint8_t*, double,                   \
                                   const DeviceTensor<T>&);                                                         \
  template void dropout_backward<T>(Context&, const std::uint8_t*, double, const DeviceTensor<T>&,                  \
                                    const DeviceTensor<T>&);                                                        \
  template void adam_step<T>(Context&, const elem::AdamScalars<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&, \
                             const DeviceTensor<T>&, const DeviceTensor<T>&);                                       \
  template void binary_forward<T>(Context&, Binary, const DeviceTensor<T>&, const DeviceTensor<T>&,                 \
                                  const DeviceTensor<T>&);                                                          \
  template void binary_backward<T>(Context&, Binary, const DeviceTensor<T>&, const DeviceTensor<T>&,                \
                                   const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&);         \
  template void scale_forward<T>(Context&, const DeviceTensor<T>&, double, const DeviceTensor<T>&);                 \
  template void scale_backward<T>(Context&, const DeviceTensor<T>&, double, const DeviceTensor<T>&);                \
  template void sum_forward<T>(Context&, const DeviceTensor<T>&, double, const DeviceTensor<T>&);                   \
  template void sum_backward<T>(Context&, const DeviceTensor<T>&, double, const DeviceTensor<T>&);                  \
  template void activation_forward<T>(Context&, Activation, const DeviceTensor<T>&, const DeviceTensor<T>&);        \
  template void activation_backward<T>(Context&, Activation, const DeviceTensor<T>&, const DeviceTensor<T>&,        \
                                       const DeviceTensor<T>&, const DeviceTensor<T>&);                             \
  template void softmax_forward<T>(Context&, bool, const DeviceTensor<T>&, const DeviceTensor<T>&);                 \
  template void softmax_backward<T>(Context&, bool, const DeviceTensor<T>&, const DeviceTensor<T>&,                 \
                                    const DeviceTensor<T>&);                                                        \
  template void layer_norm_forward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                     \
                                      const DeviceTensor<T>&, double, const DeviceTensor<T>&,                       \
                                      const DeviceTensor<T>&, const DeviceTensor<T>&);                              \
  template void layer_norm_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                    \
                                       const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&,      \
                                       const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&);     \
  template void l2_normalize_forward<T>(Context&, const DeviceTensor<T>&, double, const DeviceTensor<T>&,           \
                                        const DeviceTensor<T>&);                                                    \
  template void l2_normalize_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&, double,          \
                                         const DeviceTensor<T>&, const DeviceTensor<T>&);                           \
  template void linear_forward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&, \
                                  const DeviceTensor<T>&);                                                          \
  template void linear_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                        \
                                   const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&,          \
                                   const DeviceTensor<T>&);                                                         \
  template void embedding_forward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<std::int32_t>&,           \
                                     const DeviceTensor<T>&);                                                       \
  template void embedding_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<std::int32_t>&,          \
                                      std::int32_t, const DeviceTensor<T>&);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda
