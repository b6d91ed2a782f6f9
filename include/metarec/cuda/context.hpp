#pragma once
/// @file context.hpp
/// Host-visible core of the CUDA backend (library metarec::cuda): device
/// tensors, the execution context (device, stream, cuBLAS handle, caching
/// allocator), host <-> device copies and GEMM. Needs no CUDA header: the
/// stream and cuBLAS handle are passed around as opaque pointers.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/cuda/allocator.hpp"

namespace metarec::cuda {

/// A CUDA runtime or cuBLAS call failed; the message names the call and the error.
class CudaError : public Error {
 public:
  explicit CudaError(const std::string& what) : Error(what) {}
};

/// Row-major contiguous device tensor; the device twin of metarec::Tensor,
/// sharing its handle part (ShapedHandle: accessors, wrap, reshape, slice).
/// Memory comes from a Context's caching allocator and goes back to it with
/// the last handle.
template <class T>
class DeviceTensor : public ShapedHandle<DeviceTensor<T>, T, std::shared_ptr<void>> {
 public:
  static constexpr const char* kName = "DeviceTensor";
  /// Takes over allocator memory: the last handle returns it.
  static DeviceTensor adopt(std::shared_ptr<void> owner, Shape shape) {
    DeviceTensor t;
    t.data_ = static_cast<T*>(owner.get());
    t.owner_ = std::move(owner);
    t.shape_ = shape;
    return t;
  }
};

/// One device, one stream, one cuBLAS handle, one caching allocator. Every
/// op of the backend takes the context first and queues its work on the
/// context's stream; copies to the host synchronise.
class Context {
 public:
  /// Selects `device`; throws CudaError when it does not exist.
  explicit Context(int device = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// Number of usable CUDA devices; 0 (never an exception) without a driver or GPU.
  static int device_count() noexcept;
  /// Why device_count() is 0, e.g. "cudaGetDeviceCount = 0" or the driver's error string.
  static std::string device_count_reason();
  /// True in the host emulation (library metarec::cuda_emulated): one
  /// emulated device whose memory is host memory and whose kernels run as
  /// host loops (cuda/README.md says what that covers).
  static bool host_emulation() noexcept;

  int device() const { return device_; }
  void* stream() const;  ///< cudaStream_t
  void* cublas() const;  ///< cublasHandle_t bound to stream()
  CachingAllocator& allocator() { return *allocator_; }
  /// Shared ownership of the allocator, for memory that may outlive a use site.
  std::shared_ptr<CachingAllocator> allocator_ptr() const { return allocator_; }

  /// Uninitialised device tensor from the caching allocator.
  template <class T>
  DeviceTensor<T> alloc(Shape s) {
    std::shared_ptr<CachingAllocator> a = allocator_;
    void* p = a->allocate(static_cast<std::size_t>(s.size()) * sizeof(T));
    return DeviceTensor<T>::adopt(std::shared_ptr<void>(p, [a](void* q) { a->deallocate(q); }), s);
  }
  /// Zero-filled device tensor.
  template <class T>
  DeviceTensor<T> zeros(Shape s) {
    DeviceTensor<T> t = alloc<T>(s);
    memset_zero(t.data(), static_cast<std::size_t>(t.size()) * sizeof(T));
    return t;
  }
  /// Queues a memset to 0 of `bytes` device bytes.
  void memset_zero(void* device_ptr, std::size_t bytes);
  /// Queues a copy (kind: 0 host->device, 1 device->host, 2 device->device).
  void memcpy(void* dst, const void* src, std::size_t bytes, int kind);
  /// Queues a host -> device copy and returns at once: the host buffer must stay
  /// untouched until the stream has passed the copy (page-locked staging).
  void memcpy_to_device_async(void* dst, const void* src, std::size_t bytes);
  /// Page-locked host memory (cudaMallocHost; 256-byte aligned), nullptr on failure.
  static void* pinned_alloc(std::size_t bytes);
  static void pinned_free(void* p);
  /// Waits for all queued work; rethrows an asynchronous kernel error as CudaError.
  void synchronize();

 private:
  int device_ = 0;
  void* stream_ = nullptr;
  void* cublas_ = nullptr;
  std::shared_ptr<CachingAllocator> allocator_;
};

/// The process's context, on device 0 unless select_default_device() chose
/// another before, created on first use (the device a model on backend::Cuda
/// runs on; PyTorch's current device plays this part). Throws CudaError when
/// there is no device. Defined in the compiled library.
Context& default_context();
/// Chooses the device of default_context() (a data-parallel rank takes its
/// own GPU); throws CudaError once the context exists on another device.
void select_default_device(int device);

// ---- copies ------------------------------------------------------------------
/// Host tensor -> new device tensor of the same shape.
template <class T>
DeviceTensor<T> copy_to_device(Context& ctx, const Tensor<T>& host) {
  DeviceTensor<T> d = ctx.alloc<T>(host.shape());
  ctx.memcpy(d.data(), host.data(), static_cast<std::size_t>(host.size()) * sizeof(T), 0);
  return d;
}
/// n host elements -> new device tensor [n] (ids, masks, offsets).
template <class T>
DeviceTensor<T> copy_to_device(Context& ctx, const T* host, index_t n) {
  DeviceTensor<T> d = ctx.alloc<T>(Shape{n});
  ctx.memcpy(d.data(), host, static_cast<std::size_t>(n) * sizeof(T), 0);
  return d;
}
/// Host -> existing device tensor of the same size.
template <class T>
void copy_to_device(Context& ctx, const Tensor<T>& host, const DeviceTensor<T>& dst) {
  if (host.size() != dst.size())
    throw ShapeError("copy_to_device: host " + host.shape().str() + " into device " + dst.shape().str());
  ctx.memcpy(dst.data(), host.data(), static_cast<std::size_t>(host.size()) * sizeof(T), 0);
}
/// Device -> existing host tensor of the same size (synchronises).
template <class T>
void copy_to_host(Context& ctx, const DeviceTensor<T>& src, const Tensor<T>& dst) {
  if (src.size() != dst.size())
    throw ShapeError("copy_to_host: device " + src.shape().str() + " into host " + dst.shape().str());
  ctx.memcpy(dst.data(), src.data(), static_cast<std::size_t>(src.size()) * sizeof(T), 1);
  ctx.synchronize();
}
/// Device tensor -> new host tensor (synchronises).
template <class T>
Tensor<T> copy_to_host(Context& ctx, const DeviceTensor<T>& src) {
  Tensor<T> h(src.shape());
  copy_to_host(ctx, src, h);
  return h;
}

/// Device -> device copy of equal sizes (queued, no synchronisation).
template <class T>
void copy_device(Context& ctx, const DeviceTensor<T>& src, const DeviceTensor<T>& dst) {
  if (src.size() != dst.size())
    throw ShapeError("copy_device: " + src.shape().str() + " into " + dst.shape().str());
  ctx.memcpy(dst.data(), src.data(), static_cast<std::size_t>(src.size()) * sizeof(T), 2);
}

/// C = alpha op(A) op(B) + beta C on device pointers, row-major with leading
/// dimensions: the semantics of metarec::gemm (core/gemm.hpp), run by cuBLAS
/// (computed as the column-major C^T = op(B)^T op(A)^T). beta == 0 never reads C.
/// Instantiated for float and double.
template <class T>
void gemm(Context& ctx, bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
          const T* B, index_t ldb, T beta, T* C, index_t ldc);

}  // namespace metarec::cuda
