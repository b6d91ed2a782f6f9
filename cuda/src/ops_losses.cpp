/// @file ops_losses.cpp
/// Host glue of ops_losses.hpp: validates shapes, orchestrates cuBLAS and the
/// kernels of kernels_losses.cu, takes scratch from the caching allocator.
#include <cmath>
#include <limits>
#include <string>

#include "launch.hpp"
#include "launch_losses.hpp"
#include "metarec/cuda/ops.hpp"
#include "metarec/cuda/ops_losses.hpp"

namespace metarec::cuda {

namespace {
template <class T>
T* ptr_or_null(const DeviceTensor<T>& t) { return t.empty() ? nullptr : t.data(); }

template <class T>
void check_scoring(const char* op, const DeviceTensor<T>& h, const DeviceTensor<T>& items) {
  expect_rank(op, "hidden states", h.shape(), 2);
  expect_rank(op, "item table", items.shape(), 2);
  if (h.dim(1) != items.dim(1) || h.dim(0) == 0)
    throw ShapeError(std::string(op) + ": hidden states " + h.shape().str() + " and item table " +
                     items.shape().str() + " do not fit");
}
template <class T>
void check_grads(const char* op, const DeviceTensor<T>& h, const DeviceTensor<T>& items, const DeviceTensor<T>& g,
                 const DeviceTensor<T>& gh, const DeviceTensor<T>& gitems) {
  if (g.size() != 1) throw ShapeError(std::string(op) + ": upstream gradient " + g.shape().str() + " is not a scalar");
  if (!gh.empty()) expect_shape(op, "dh", gh.shape(), h.shape());
  if (!gitems.empty()) expect_shape(op, "item table gradient", gitems.shape(), items.shape());
}
/// Sums loss_row [N] on the device (one block, fixed tree) and returns the mean (synchronises).
double mean_loss(Context& ctx, const char* op, const double* loss_row, index_t N) {
  DeviceTensor<double> total = ctx.alloc<double>(Shape{1});
  launch::sum_double(ctx.stream(), loss_row, N, total.data());
  double loss = 0;
  ctx.memcpy(&loss, total.data(), sizeof(double), 1);  // synchronises
  loss /= static_cast<double>(N);
  if (!std::isfinite(loss)) throw NumericError(std::string(op) + ": non-finite loss (" + std::to_string(loss) + ")");
  return loss;
}
}  // namespace

template <class T>
double pair_loss(Context& ctx, elem::PairLoss kind, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                 const std::int32_t* pair_ids, const DeviceTensor<T>& coef) {
  const char* op = "cuda::pair_loss";
  check_scoring(op, h, items);
  const index_t N = h.dim(0), d = h.dim(1);
  expect_shape(op, "coef", coef.shape(), Shape{N, 2});
  DeviceTensor<double> loss_row = ctx.alloc<double>(Shape{N});
  launch::pair_loss_rows(ctx.stream(), kind, h.data(), items.data(), pair_ids, N, d, 1.0 / static_cast<double>(N),
                         coef.data(), loss_row.data());
  return mean_loss(ctx, op, loss_row.data(), N);
}

template <class T>
void pair_loss_backward(Context& ctx, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                        const std::int32_t* pair_ids, const RowScatter& plan, const DeviceTensor<T>& coef,
                        const DeviceTensor<T>& g, const DeviceTensor<T>& gh, const DeviceTensor<T>& gitems) {
  const char* op = "cuda::pair_loss_backward";
  check_scoring(op, h, items);
  check_grads(op, h, items, g, gh, gitems);
  const index_t N = h.dim(0), d = h.dim(1);
  expect_shape(op, "coef", coef.shape(), Shape{N, 2});
  if (!gh.empty()) launch::pair_grad_h(ctx.stream(), g.data(), coef.data(), items.data(), pair_ids, N, d, gh.data());
  if (!gitems.empty())  // contribution q = 2 i + slot: X row i = q / 2, coefficient coef[q]
    launch::scatter_ordered(ctx.stream(), g.data(), coef.data(), h.data(), 2, plan.order, plan.seg, plan.rows,
                            plan.unique, d, gitems.data());
}

namespace {
/// f(g, first_row, rows) for each group of rows, in order on the context's stream.
template <class F>
void for_each_group(const std::int32_t* bounds, index_t groups, F f) {
  for (index_t g = 0; g < groups; ++g) f(g, static_cast<index_t>(bounds[g]), static_cast<index_t>(bounds[g + 1] - bounds[g]));
}
}  // namespace

template <class T>
double shared_loss(Context& ctx, elem::SharedLoss kind, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                   const std::int32_t* pos, const std::int32_t* neg, const std::int32_t* row_group,
                   const std::int32_t* bounds, index_t groups, const double* log_q, double beta,
                   const DeviceTensor<T>& en, const DeviceTensor<T>& G, const DeviceTensor<T>& gp) {
  const char* op = "cuda::shared_loss";
  check_scoring(op, h, items);
  const index_t N = h.dim(0), d = h.dim(1);
  expect_rank(op, "negative rows", en.shape(), 2);
  if (groups < 1 || en.dim(0) % groups != 0 || en.dim(1) != d || (groups > 1 && !row_group))
    throw ShapeError(std::string(op) + ": negative rows " + en.shape().str() + " for " + std::to_string(groups) +
                     " groups");
  const index_t KG = en.dim(0), K = KG / groups;
  if (K < 1) throw ShapeError(std::string(op) + ": negative rows " + en.shape().str());
  expect_shape(op, "G", G.shape(), Shape{N, K});
  expect_shape(op, "gp", gp.shape(), Shape{N});
  launch::gather_rows(ctx.stream(), items.data(), neg, KG, d, en.data());
  for_each_group(bounds, groups, [&](index_t g, index_t r0, index_t m) {  // scores
    gemm<T>(ctx, false, true, m, K, d, T(1), h.data() + r0 * d, d, en.data() + g * K * d, d, T(0), G.data() + r0 * K, K);
  });
  DeviceTensor<double> loss_row = ctx.alloc<double>(Shape{N});
  launch::shared_loss_rows(ctx.stream(), kind, h.data(), items.data(), pos, neg, row_group, log_q, K, N, d, beta,
                           1.0 / static_cast<double>(N), 1.0 / static_cast<double>(K + 1), G.data(), gp.data(),
                           loss_row.data());
  return mean_loss(ctx, op, loss_row.data(), N);
}

template <class T>
void shared_loss_backward(Context& ctx, const DeviceTensor<T>& h, const DeviceTensor<T>& items,
                          const std::int32_t* pos, const RowScatter& neg_plan, const RowScatter& pos_plan,
                          const std::int32_t* bounds, index_t groups, const DeviceTensor<T>& en,
                          const DeviceTensor<T>& G, const DeviceTensor<T>& gp, const DeviceTensor<T>& g,
                          const DeviceTensor<T>& gh, const DeviceTensor<T>& gitems) {
  const char* op = "cuda::shared_loss_backward";
  check_scoring(op, h, items);
  check_grads(op, h, items, g, gh, gitems);
  const index_t N = h.dim(0), d = h.dim(1), KG = en.dim(0), K = KG / groups;
  expect_shape(op, "G", G.shape(), Shape{N, K});
  expect_shape(op, "gp", gp.shape(), Shape{N});
  if (!gh.empty()) {
    // cuBLAS takes alpha from the host; the upstream gradient is a device scalar: G en into scratch, then gh += g * it.
    DeviceTensor<T> tmp = ctx.alloc<T>(Shape{N, d});
    for_each_group(bounds, groups, [&](index_t gi, index_t r0, index_t m) {
      gemm<T>(ctx, false, false, m, d, K, T(1), G.data() + r0 * K, K, en.data() + gi * K * d, d, T(0), tmp.data() + r0 * d, d);
    });
    launch::axpy_device_scalar(ctx.stream(), g.data(), tmp.data(), gh.data(), N * d);
    launch::shared_pos_grad_h(ctx.stream(), g.data(), gp.data(), items.data(), pos, N, d, gh.data());
  }
  if (!gitems.empty()) {
    DeviceTensor<T> de = ctx.alloc<T>(Shape{KG, d});  // G^T h per group; the scatter multiplies by g
    for_each_group(bounds, groups, [&](index_t gi, index_t r0, index_t m) {
      gemm<T>(ctx, true, false, K, d, m, T(1), G.data() + r0 * K, K, h.data() + r0 * d, d, T(0), de.data() + gi * K * d, d);
    });
    launch::scatter_ordered(ctx.stream(), g.data(), static_cast<const T*>(nullptr), de.data(), 1, neg_plan.order,
                            neg_plan.seg, neg_plan.rows, neg_plan.unique, d, gitems.data());
    launch::scatter_ordered(ctx.stream(), g.data(), gp.data(), h.data(), 1, pos_plan.order, pos_plan.seg,
                            pos_plan.rows, pos_plan.unique, d, gitems.data());
  }
}

template <class T>
void sgd_step(Context& ctx, const elem::SgdScalars<T>& a, const DeviceTensor<T>& w, const DeviceTensor<T>& g,
              const DeviceTensor<T>& buf) {
  if (g.size() != w.size() || (!buf.empty() && buf.size() != w.size()))
    throw ShapeError("cuda::sgd_step: value " + w.shape().str() + ", gradient " + g.shape().str() + ", momentum " +
                     buf.shape().str() + " differ in size");
  launch::sgd(ctx.stream(), a, w.data(), g.data(), ptr_or_null(buf), w.size());
}

template <class T>
std::vector<double> sum_squares(Context& ctx, const std::vector<DeviceTensor<T>>& xs) {
  // Blocks per tensor depend only on its size (one per 16 x 256 elements, at most 64), so the sums are the same bits
  // for every run; the partials of all tensors come back in one copy and are added in block order.
  auto blocks_of = [](index_t n) {
    return static_cast<int>(std::clamp<index_t>((n + 16 * 256 - 1) / (16 * 256), 1, 64));
  };
  index_t total = 0;
  for (const auto& x : xs) total += blocks_of(x.size());
  std::vector<double> out(xs.size(), 0.0);
  if (xs.empty()) return out;
  DeviceTensor<double> partials = ctx.alloc<double>(Shape{total});
  index_t at = 0;
  for (const auto& x : xs) {
    const int b = blocks_of(x.size());
    if (x.empty()) launch::fill_double(ctx.stream(), partials.data() + at, b, 0.0);
    else launch::sum_squares_partials(ctx.stream(), x.data(), x.size(), partials.data() + at, b);
    at += b;
  }
  std::vector<double> host(static_cast<std::size_t>(total));
  ctx.memcpy(host.data(), partials.data(), static_cast<std::size_t>(total) * sizeof(double), 1);  // synchronises
  at = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const int b = blocks_of(xs[i].size());
    double s = 0;
    for (int k = 0; k < b; ++k) s += host[static_cast<std::size_t>(at + k)];
    out[i] = s;
    at += b;
  }
  return out;
}

template <class T>
void scale_in_place(Context& ctx, const DeviceTensor<T>& x, double s) {
  if (!x.empty()) launch::scale(ctx.stream(), x.data(), static_cast<T>(s), x.data(), x.size(), false);
}

#define METAREC_INSTANTIATE(T)                                                                                       \
  template double pair_loss<T>(Context&, elem::PairLoss, const DeviceTensor<T>&, const DeviceTensor<T>&,             \
                               const std::int32_t*, const DeviceTensor<T>&);                                        \
  template void pair_loss_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&, const std::int32_t*, \
                                      const RowScatter&, const DeviceTensor<T>&, const DeviceTensor<T>&,            \
                                      const DeviceTensor<T>&, const DeviceTensor<T>&);                              \
  template double shared_loss<T>(Context&, elem::SharedLoss, const DeviceTensor<T>&, const DeviceTensor<T>&,         \
                                 const std::int32_t*, const std::int32_t*, const std::int32_t*,                     \
                                 const std::int32_t*, index_t, const double*, double, const DeviceTensor<T>&,       \
                                 const DeviceTensor<T>&, const DeviceTensor<T>&);                                   \
  template void shared_loss_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&,                    \
                                        const std::int32_t*, const RowScatter&, const RowScatter&,                  \
                                        const std::int32_t*, index_t, const DeviceTensor<T>&,                       \
                                        const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&,     \
                                        const DeviceTensor<T>&, const DeviceTensor<T>&);                            \
  template void sgd_step<T>(Context&, const elem::SgdScalars<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&,    \
                            const DeviceTensor<T>&);                                                                \
  template std::vector<double> sum_squares<T>(Context&, const std::vector<DeviceTensor<T>>&);                        \
  template void scale_in_place<T>(Context&, const DeviceTensor<T>&, double);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda
