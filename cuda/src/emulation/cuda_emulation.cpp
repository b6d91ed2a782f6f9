/// @file cuda_emulation.cpp
/// The host emulation of the CUDA runtime and cuBLAS (see cuda_emulation.hpp).
#include "cuda_emulation.hpp"

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "metarec/core/gemm.hpp"

struct CUstream_st {
  unsigned flags = 0;
};
struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace metarec::cuda::emu {
namespace {

/// Live device allocations (start -> bytes), streams and cuBLAS handles.
struct Registry {
  std::mutex mutex;
  struct Block {
    std::size_t capacity, in_use;
  };
  std::map<std::uintptr_t, Block> blocks;
  std::set<const void*> streams, handles;
};
Registry& registry() {
  static Registry r;  // built on first use, so it outlives every Context created after that
  return r;
}
thread_local cudaError_t last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}
bool live_stream(cudaStream_t s) {
  if (!s) return true;  // the legacy default stream
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.streams.count(s) != 0;
}
bool live_handle(cublasHandle_t h) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return h && r.handles.count(h) != 0;
}

}  // namespace

namespace {
/// The block containing address a, or blocks.end(); the caller holds the lock.
std::map<std::uintptr_t, Registry::Block>::iterator find_block(Registry& r, std::uintptr_t a) {
  auto it = r.blocks.upper_bound(a);  // first block starting after a
  if (it == r.blocks.begin()) return r.blocks.end();
  --it;
  return a - it->first < it->second.capacity ? it : r.blocks.end();
}
}  // namespace

bool is_device_range(const void* p, std::size_t bytes) {
  if (!p) return false;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = find_block(r, a);
  if (it == r.blocks.end()) return false;
  const std::size_t offset = a - it->first;
  return offset <= it->second.in_use && bytes <= it->second.in_use - offset;
}

bool is_device_pointer(const void* p) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return find_block(r, reinterpret_cast<std::uintptr_t>(p)) != r.blocks.end();
}

void set_in_use(void* p, std::size_t bytes) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.blocks.find(reinterpret_cast<std::uintptr_t>(p));
  if (it != r.blocks.end()) it->second.in_use = std::min(bytes, it->second.capacity);
}

std::size_t live_allocations() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.blocks.size();
}

bool reverse_order() {
  static const bool reverse = [] {
    const char* v = std::getenv("METAREC_CUDA_EMULATION_ORDER");
    return v && std::strcmp(v, "reverse") == 0;
  }();
  return reverse;
}

bool begin_launch(unsigned blocks, unsigned threads, cudaStream_t stream) {
  if (!live_stream(stream)) return fail(cudaErrorInvalidResourceHandle), false;
  if (blocks == 0 || blocks > 0x7fffffffu || threads == 0 || threads > 1024)
    return fail(cudaErrorInvalidConfiguration), false;
  gridDim = dim3(blocks);
  blockDim = dim3(threads);
  return true;
}

}  // namespace metarec::cuda::emu

using metarec::cuda::emu::is_device_range;
using namespace metarec::cuda::emu;

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (host emulation: also a pointer range outside the device allocations or the wrong copy direction)";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal (host emulation has device 0 only)";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  }
  return "unknown error";
}

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  if (!p) return fail(cudaErrorInvalidValue);
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;  // the runtime returns a null pointer for 0 bytes
  void* q = std::malloc(bytes);
  if (!q) return fail(cudaErrorMemoryAllocation);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.blocks[reinterpret_cast<std::uintptr_t>(q)] = Registry::Block{bytes, bytes};
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, std::size_t bytes) {
  *p = std::aligned_alloc(256, (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256);  // the runtime's is page-aligned
  return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.blocks.erase(reinterpret_cast<std::uintptr_t>(p)) == 0) return fail(cudaErrorInvalidValue);  // not ours, or freed twice
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (!live_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  auto side_ok = [bytes](const void* p, bool device) {
    return p && (device ? is_device_range(p, bytes) : !is_device_pointer(p));
  };
  if (!side_ok(dst, dst_dev) || !side_ok(src, src_dev)) return fail(cudaErrorInvalidValue);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t s) {
  if (!live_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!is_device_range(p, bytes)) return fail(cudaErrorInvalidValue);
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  if (!s) return fail(cudaErrorInvalidValue);
  *s = new CUstream_st{flags};
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!s || r.streams.erase(s) == 0) return fail(cudaErrorInvalidResourceHandle);
  }
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  return live_stream(s) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);  // every call already ran to completion
}

cublasStatus_t cublasCreate(cublasHandle_t* h) {
  if (!h) return CUBLAS_STATUS_INVALID_VALUE;
  *h = new cublasContext{};
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.handles.insert(*h);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!h || r.handles.erase(h) == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!live_handle(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!live_stream(s)) return CUBLAS_STATUS_INVALID_VALUE;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an unsupported value or parameter was passed to the function (host emulation: also an operand outside the device allocations)";
  }
  return "unknown status";
}

namespace {
/// Elements a column-major rows x cols operand with leading dimension ld spans.
std::size_t span_of(int rows, int cols, int ld) {
  return rows > 0 && cols > 0 ? static_cast<std::size_t>(cols - 1) * static_cast<std::size_t>(ld) + rows : 0;
}
/// cuBLAS's rule: ld >= max(1, rows as stored).
bool ld_ok(int rows, int ld) { return ld >= (rows > 1 ? rows : 1); }
template <class T>
bool inside(const T* p, int rows, int cols, int ld) {
  const std::size_t n = span_of(rows, cols, ld);
  return n == 0 || is_device_range(p, n * sizeof(T));
}

/// Column-major C = alpha op(A) op(B) + beta C is row-major C^T = op(B)^T op(A)^T:
/// each column-major buffer read row-major is the transpose, so metarec::gemm
/// (row-major) gets B as its first operand, transposed exactly when transb is.
template <class T>
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T* alpha,
                    const T* A, int lda, const T* B, int ldb, const T* beta, T* C, int ldc) {
  if (!live_handle(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  const bool a_t = ta != CUBLAS_OP_N, b_t = tb != CUBLAS_OP_N;  // OP_C is OP_T for real types
  const int ar = a_t ? k : m, ac = a_t ? m : k, br = b_t ? n : k, bc = b_t ? k : n;  // as stored
  if (!ld_ok(ar, lda) || !ld_ok(br, ldb) || !ld_ok(m, ldc)) return CUBLAS_STATUS_INVALID_VALUE;
  const bool reads_ab = *alpha != T(0);
  if (!inside(C, m, n, ldc) || (reads_ab && (!inside(A, ar, ac, lda) || !inside(B, br, bc, ldb))))
    return CUBLAS_STATUS_INVALID_VALUE;
  metarec::gemm<T>(b_t, a_t, n, m, k, *alpha, B, ldb, A, lda, *beta, C, ldc);
  return CUBLAS_STATUS_SUCCESS;
}
}  // namespace

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  return gemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasDgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const double* alpha, const double* A, int lda, const double* B, int ldb,
                           const double* beta, double* C, int ldc) {
  return gemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
