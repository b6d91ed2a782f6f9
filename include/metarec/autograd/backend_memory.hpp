#pragma once
/// @file backend_memory.hpp
/// Where a backend keeps a model's tensors, and the few memory operations the
/// tape, parameters and optimisers need beyond the ops: TensorOf<T, B> is
/// metarec::Tensor<T> on backend::Cpu and cuda::DeviceTensor<T> on
/// backend::Cuda (no element access on the host, so host code that touches a
/// device tensor does not compile); memory<B> allocates, fills, copies and
/// moves data between host and backend. backend::Cuda's functions are defined
/// in the compiled library metarec::cuda (or metarec::cuda_emulated), so only
/// a program that instantiates a model on it must link that library.
#include <cstring>
#include <type_traits>

#include "metarec/core/backend.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/core/workspace.hpp"
#include "metarec/cuda/context.hpp"
#include "metarec/cuda/device_workspace.hpp"
#include "metarec/cuda/ops.hpp"
#include "metarec/cuda/ops_vq.hpp"

namespace metarec {

template <class T, class B>
struct tensor_type {
  static_assert(std::is_same_v<B, backend::Cpu>, "unknown backend tag");
  using type = Tensor<T>;
};
template <class T>
struct tensor_type<T, backend::Cuda> {
  using type = cuda::DeviceTensor<T>;
};
/// A tensor in backend B's memory.
template <class T, class B>
using TensorOf = typename tensor_type<T, B>::type;

template <class B>
struct memory;

/// Host memory: everything is a plain copy.
template <>
struct memory<backend::Cpu> {
  using Arena = Workspace;
  static Arena make_arena() { return Workspace{}; }
  template <class T>
  static Tensor<T> zeros(Shape s) { return Tensor<T>(s); }
  template <class T>
  static void zero(const Tensor<T>& t) { t.zero(); }
  template <class T>
  static void fill(const Tensor<T>& t, T v) { t.fill(v); }
  template <class T>
  static void copy(const Tensor<T>& src, const Tensor<T>& dst) { dst.copy_from(src); }
  /// dst += src (same number of elements).
  template <class T>
  static void add_into(const Tensor<T>& src, const Tensor<T>& dst) {
    if (src.size() != dst.size()) throw ShapeError("add_into: " + src.shape().str() + " into " + dst.shape().str());
    for (index_t i = 0; i < dst.size(); ++i) dst[i] += src[i];
  }
  /// dst += alpha * src (same number of elements; the meta-learners' parameter arithmetic).
  template <class T>
  static void axpy(double alpha, const Tensor<T>& src, const Tensor<T>& dst) {
    if (src.size() != dst.size()) throw ShapeError("axpy: " + src.shape().str() + " into " + dst.shape().str());
    const T a = static_cast<T>(alpha);
    for (index_t i = 0; i < dst.size(); ++i) cuda::elem::axpy_at(i, a, src.data(), dst.data());
  }
  /// t *= s in place.
  template <class T>
  static void scale(const Tensor<T>& t, double s) {
    const T a = static_cast<T>(s);
    for (index_t i = 0; i < t.size(); ++i) t[i] *= a;
  }
  /// (a.b, a.a, b.b) summed in double, in index order.
  template <class T>
  static void dot3(const Tensor<T>& a, const Tensor<T>& b, double out[3]) {
    if (a.size() != b.size()) throw ShapeError("dot3: " + a.shape().str() + " and " + b.shape().str());
    out[0] = out[1] = out[2] = 0;
    for (index_t i = 0; i < a.size(); ++i) {
      const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
      out[0] += x * y;
      out[1] += x * x;
      out[2] += y * y;
    }
  }
  template <class T>
  static void upload(const Tensor<T>& host, const Tensor<T>& dst) { dst.copy_from(host); }
  template <class T>
  static void download(const Tensor<T>& src, const Tensor<T>& host) { host.copy_from(src); }
  /// A host copy of `src` (shares storage on the host backend: no copy).
  template <class T>
  static Tensor<T> to_host(const Tensor<T>& src) { return src; }
  /// A host view of n elements for the step's index arrays (no copy on the host).
  template <class U>
  static const U* upload_n(Workspace&, Workspace&, const U* host, index_t) { return host; }
  static Workspace make_staging() { return Workspace{}; }
  static void synchronize() {}
};

/// Device memory of cuda::default_context(): allocations from its caching
/// allocator, copies and fills queued on its stream.
template <>
struct memory<backend::Cuda> {
  using Arena = cuda::DeviceWorkspace;
  static cuda::Context& context() { return cuda::default_context(); }
  static Arena make_arena() { return cuda::DeviceWorkspace(context()); }
  template <class T>
  static cuda::DeviceTensor<T> zeros(Shape s) { return context().zeros<T>(s); }
  template <class T>
  static void zero(const cuda::DeviceTensor<T>& t) {
    if (!t.empty()) context().memset_zero(t.data(), static_cast<std::size_t>(t.size()) * sizeof(T));
  }
  template <class T>
  static void fill(const cuda::DeviceTensor<T>& t, T v) { cuda::fill(context(), t, v); }
  template <class T>
  static void copy(const cuda::DeviceTensor<T>& src, const cuda::DeviceTensor<T>& dst) {
    cuda::copy_device(context(), src, dst);
  }
  template <class T>
  static void add_into(const cuda::DeviceTensor<T>& src, const cuda::DeviceTensor<T>& dst) {
    cuda::scale_backward(context(), src, 1.0, dst);  // dst += 1 * src
  }
  /// dst += alpha * src (cuda::axpy, elem::axpy_at).
  template <class T>
  static void axpy(double alpha, const cuda::DeviceTensor<T>& src, const cuda::DeviceTensor<T>& dst) {
    cuda::axpy(context(), alpha, src, dst);
  }
  /// t *= s in place.
  template <class T>
  static void scale(const cuda::DeviceTensor<T>& t, double s) { cuda::scale_forward(context(), t, s, t); }
  /// (a.b, a.a, b.b) summed in double by one block (cuda::dot3); waits for the stream.
  template <class T>
  static void dot3(const cuda::DeviceTensor<T>& a, const cuda::DeviceTensor<T>& b, double out[3]) {
    cuda::dot3(context(), a, b, out);
  }
  template <class T>
  static void upload(const Tensor<T>& host, const cuda::DeviceTensor<T>& dst) {
    cuda::copy_to_device(context(), host, dst);
  }
  template <class T>
  static void download(const cuda::DeviceTensor<T>& src, const Tensor<T>& host) {
    cuda::copy_to_host(context(), src, host);
  }
  template <class T>
  static Tensor<T> to_host(const cuda::DeviceTensor<T>& src) { return cuda::copy_to_host(context(), src); }
  /// Copies n host elements into the step's device arena through the
  /// page-locked staging arena, asynchronously (the tape synchronises before it
  /// rewinds the staging arena); the device pointer is valid until reset().
  template <class U>
  static const U* upload_n(Arena& arena, Workspace& staging, const U* host, index_t n) {
    if (n <= 0) return nullptr;
    const auto bytes = static_cast<std::size_t>(n) * sizeof(U);
    U* d = arena.template allocate_n<U>(n);
    U* pinned = staging.template allocate_n<U>(n);
    std::memcpy(pinned, host, bytes);
    context().memcpy_to_device_async(d, pinned, bytes);
    return d;
  }
  /// The staging arena of a device tape: page-locked blocks.
  static Workspace make_staging() {
    return Workspace(Workspace::BlockSource{[](std::size_t bytes, void*) { return cuda::Context::pinned_alloc(bytes); },
                                            [](void* p, void*) { cuda::Context::pinned_free(p); }, nullptr});
  }
  static void synchronize() { context().synchronize(); }
};

/// C = alpha op(A) op(B) + beta C on backend B's memory (metarec::gemm's
/// row-major semantics; cuBLAS on a device).
template <class B, class T>
void gemm_on(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda, const T* Bm,
             index_t ldb, T beta, T* C, index_t ldc) {
  if constexpr (B::is_host) gemm<T>(trans_a, trans_b, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
  else cuda::gemm<T>(memory<B>::context(), trans_a, trans_b, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
}

}  // namespace metarec
