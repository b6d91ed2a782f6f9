/// @file ops_vq.cpp
/// Host glue of the quantizer ops and the meta-learners' reductions
/// (metarec/cuda/ops_vq.hpp): shape checks, then the kernels of kernels_vq.cu.
#include <algorithm>
#include <string>

#include "launch_vq.hpp"
#include "metarec/cuda/ops_vq.hpp"

namespace metarec::cuda {

namespace {
template <class A, class B>
void same_elements(const char* op, const char* what, const DeviceTensor<A>& got, const DeviceTensor<B>& want) {
  if (got.size() != want.size())
    throw ShapeError(std::string(op) + ": " + what + " has shape " + got.shape().str() + ", expected " +
                     want.shape().str() + " elements");
}
}  // namespace

template <class T>
void vq_assign_forward(Context& ctx, const DeviceTensor<T>& z, const DeviceTensor<T>& codebook, index_t first,
                       std::int32_t* codes, T* dist, const DeviceTensor<T>& q) {
  if (z.rank() != 2 || codebook.rank() != 3 || z.cols() != codebook.dim(0) * codebook.dim(2))
    throw ShapeError("cuda::vq_assign_forward: z " + z.shape().str() + " does not match codebook " +
                     codebook.shape().str());
  same_elements("cuda::vq_assign_forward", "q", q, z);
  const index_t R = z.rows();
  if (first < 0 || first > R) throw ShapeError("cuda::vq_assign_forward: first row " + std::to_string(first) + " outside the rows");
  launch::vq_assign(ctx.stream(), z.data(), codebook.data(), R, codebook.dim(0), codebook.dim(1), codebook.dim(2),
                    first, codes, dist, q.data());
}

template <class T>
void vq_loss_backward(Context& ctx, const DeviceTensor<T>& z, const DeviceTensor<T>& q, const std::int32_t* codes,
                      index_t first, index_t H, index_t K, double a_z, double a_c, const DeviceTensor<T>& gz,
                      const DeviceTensor<T>& gc) {
  same_elements("cuda::vq_loss_backward", "q", q, z);
  const index_t R = z.rows(), width = z.cols(), dc = width / H;
  if (!gz.empty() && a_z != 0) {
    same_elements("cuda::vq_loss_backward", "gz", gz, z);
    launch::vq_commit_grad(ctx.stream(), static_cast<T>(a_z), z.data(), q.data(), gz.data(), first * width, R * width);
  }
  if (!gc.empty() && a_c != 0) {
    if (gc.size() != H * K * dc)
      throw ShapeError("cuda::vq_loss_backward: codebook gradient " + gc.shape().str() + " is not [H, K, dc]");
    launch::vq_codebook_grad(ctx.stream(), static_cast<T>(a_c), z.data(), q.data(), codes, first, R, H, K, dc, gc.data());
  }
}

template <class T>
void vq_ema_update(Context& ctx, const DeviceTensor<T>& z, const std::int32_t* codes, double decay, double eps,
                   const DeviceTensor<T>& count, const DeviceTensor<T>& sum, const DeviceTensor<T>& codebook) {
  if (codebook.rank() != 3 || z.rank() != 2 || z.cols() != codebook.dim(0) * codebook.dim(2))
    throw ShapeError("cuda::vq_ema_update: z " + z.shape().str() + " does not match codebook " + codebook.shape().str());
  const index_t R = z.rows(), H = codebook.dim(0), K = codebook.dim(1), dc = codebook.dim(2);
  if (count.size() != H * K) throw ShapeError("cuda::vq_ema_update: count " + count.shape().str() + " is not [H, K]");
  same_elements("cuda::vq_ema_update", "sum", sum, codebook);
  DeviceTensor<T> cnt = ctx.zeros<T>(Shape{H, K}), s = ctx.zeros<T>(codebook.shape());
  DeviceTensor<double> total = ctx.zeros<double>(Shape{H});
  launch::vq_ema(ctx.stream(), z.data(), codes, R, H, K, dc, decay, eps, cnt.data(), s.data(), total.data(),
                 count.data(), sum.data(), codebook.data());
}

template <class T>
void add_rows_from_forward(Context& ctx, const DeviceTensor<T>& a, const DeviceTensor<T>& b, index_t first,
                           const DeviceTensor<T>& y) {
  same_elements("cuda::add_rows_from_forward", "b", b, a);
  same_elements("cuda::add_rows_from_forward", "y", y, a);
  const index_t total = a.size(), head = std::min(first * a.cols(), total);
  launch::add_rows_from(ctx.stream(), a.data(), b.data(), y.data(), head, total);
}

template <class T>
void axpy(Context& ctx, double alpha, const DeviceTensor<T>& x, const DeviceTensor<T>& y) {
  same_elements("cuda::axpy", "y", y, x);
  launch::axpy(ctx.stream(), static_cast<T>(alpha), x.data(), y.data(), x.size());
}

template <class T>
void dot3(Context& ctx, const DeviceTensor<T>& a, const DeviceTensor<T>& b, double out[3]) {
  same_elements("cuda::dot3", "b", b, a);
  DeviceTensor<double> d = ctx.zeros<double>(Shape{3});
  launch::dot3(ctx.stream(), a.data(), b.data(), a.size(), d.data());
  ctx.memcpy(out, d.data(), 3 * sizeof(double), 1);
}

#define METAREC_INSTANTIATE(T)                                                                                     \
  template void vq_assign_forward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&, index_t,          \
                                     std::int32_t*, T*, const DeviceTensor<T>&);                                 \
  template void vq_loss_backward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&, const std::int32_t*, \
                                    index_t, index_t, index_t, double, double, const DeviceTensor<T>&,            \
                                    const DeviceTensor<T>&);                                                      \
  template void vq_ema_update<T>(Context&, const DeviceTensor<T>&, const std::int32_t*, double, double,            \
                                 const DeviceTensor<T>&, const DeviceTensor<T>&, const DeviceTensor<T>&);        \
  template void add_rows_from_forward<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&, index_t,       \
                                         const DeviceTensor<T>&);                                                 \
  template void axpy<T>(Context&, double, const DeviceTensor<T>&, const DeviceTensor<T>&);                        \
  template void dot3<T>(Context&, const DeviceTensor<T>&, const DeviceTensor<T>&, double*);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda
