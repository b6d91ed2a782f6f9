#pragma once
/// @file cuda_emulation.hpp
/// Host emulation of the subset of the CUDA runtime, the CUDA kernel language
/// and cuBLAS that metarec's CUDA sources use (reached through cuda_api.hpp
/// when METAREC_CUDA_HOST_EMULATION=1). It lets the unchanged kernels and glue
/// run, and be tested against the CPU ops, on a machine without nvcc or GPU:
///  - device memory is host memory from malloc, registered so that copies,
///    memsets and GEMM operands are checked to lie inside a device allocation
///    (a wrong copy direction or a GEMM reading past its buffer is an error);
///  - streams are synchronous: every call has finished when it returns;
///  - a kernel launch runs the kernel once per (block, thread) of the grid, in
///    order, with blockIdx / threadIdx / blockDim / gridDim set, so grid-stride
///    loops cover every element exactly as on the device;
///  - kernels with barriers are written in phases (METAREC_BLOCK_THREADS in
///    kernel_common.cuh) and launched once per block, the phase loop running
///    the block's threads; there is deliberately no __syncthreads here, so a
///    raw barrier does not compile under emulation;
///  - cublas{S,D}gemm are metarec::gemm with cuBLAS's column-major semantics.
/// Not emulated: timing, concurrency between threads (races and atomics
/// ordering cannot show), warp-level intrinsics, the memory model.
#if defined(__CUDACC__)
#error "cuda_emulation.hpp is for the host C++ compiler; nvcc uses the CUDA toolkit"
#endif
#include <cstddef>
#include <cstdint>

// ---- kernel language ---------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __shared__  // cooperative kernels run once per block: a local array is the block's shared memory

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
// The built-in variables; thread_local so that two host threads may launch at once.
inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

/// Threads run one after another, so the read-modify-write is exact; the
/// device's order of the additions (and so the rounding) is not reproduced.
template <class T>
inline T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

// ---- runtime API -------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;
constexpr unsigned cudaStreamNonBlocking = 0x01;

cudaError_t cudaGetDeviceCount(int* count);  ///< always one emulated device
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetLastError();  ///< returns and clears this thread's last error, like the runtime
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaMalloc(void** p, std::size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, std::size_t bytes);  ///< page-locked host memory: plain host memory here
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);

// ---- cuBLAS ------------------------------------------------------------------
enum cublasStatus_t {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 };
struct cublasContext;
using cublasHandle_t = cublasContext*;

cublasStatus_t cublasCreate(cublasHandle_t* h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
const char* cublasGetStatusName(cublasStatus_t s);
const char* cublasGetStatusString(cublasStatus_t s);
/// Column-major C (m x n, ldc) = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n,
/// checked like cuBLAS (ld >= rows as stored) and against the device allocations.
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc);
cublasStatus_t cublasDgemm(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                           const double* alpha, const double* A, int lda, const double* B, int ldb,
                           const double* beta, double* C, int ldc);

// ---- launches ----------------------------------------------------------------
namespace metarec::cuda::emu {

/// Validates a launch like the runtime (1 <= threads <= 1024, blocks >= 1, a
/// live stream) and sets gridDim / blockDim; false (and the last error) if not.
bool begin_launch(unsigned blocks, unsigned threads, cudaStream_t stream);
/// Whether [p, p + bytes) lies inside the in-use part of one live emulated
/// device allocation (all of it, unless set_in_use narrowed it).
bool is_device_range(const void* p, std::size_t bytes);
/// Whether p points into a live emulated device allocation at all.
bool is_device_pointer(const void* p);
/// The caching allocator's hook: the block at p now serves a request of
/// `bytes` (0: it is cached, and no copy or GEMM may touch it).
void set_in_use(void* p, std::size_t bytes);
/// Live emulated device allocations (for leak checks in tests).
std::size_t live_allocations();

/// Whether launches visit blocks and threads last to first: set by the
/// environment variable METAREC_CUDA_EMULATION_ORDER=reverse (read once). The
/// device runs threads in no fixed order, so a kernel whose result depends on
/// it (a race between threads) tends to fail one of the two orders; ctest
/// runs the device tests in both.
bool reverse_order();
/// 0 .. n-1, or n-1 .. 0 under reverse_order(); for range-for.
struct Visit {
  unsigned n;
  bool reverse;
  struct It {
    unsigned i, n;
    bool reverse;
    unsigned operator*() const { return reverse ? n - 1 - i : i; }
    It& operator++() {
      ++i;
      return *this;
    }
    bool operator!=(const It& o) const { return i != o.i; }
  };
  It begin() const { return {0, n, reverse}; }
  It end() const { return {n, n, reverse}; }
};
inline Visit visit(unsigned n) { return {n, reverse_order()}; }

/// kernel<<<blocks, threads, 0, stream>>>(args...) for a kernel of independent
/// threads: every (block, thread), one after another.
template <class... P, class... A>
void launch_threads(void (*kernel)(P...), unsigned blocks, unsigned threads, cudaStream_t stream, A&&... args) {
  if (!begin_launch(blocks, threads, stream)) return;
  for (unsigned b : visit(blocks)) {
    blockIdx = uint3{b, 0, 0};
    for (unsigned t : visit(threads)) {
      threadIdx = uint3{t, 0, 0};
      kernel(args...);
    }
  }
}
/// The same for a cooperative kernel (written in METAREC_BLOCK_THREADS phases):
/// one call per block, the phases loop over the block's threads.
template <class... P, class... A>
void launch_blocks(void (*kernel)(P...), unsigned blocks, unsigned threads, cudaStream_t stream, A&&... args) {
  if (!begin_launch(blocks, threads, stream)) return;
  threadIdx = uint3{};
  for (unsigned b : visit(blocks)) {
    blockIdx = uint3{b, 0, 0};
    kernel(args...);
  }
}

}  // namespace metarec::cuda::emu
