/// @file context.cpp
/// Context (device, stream, cuBLAS handle, caching allocator over
/// cudaMalloc), copies and the cuBLAS GEMM. The same file serves the host
/// emulation (cuda_api.hpp), where the runtime and cuBLAS are host code.
#include <climits>
#include <string>

#include "cuda_api.hpp"
#include "launch.hpp"
#include "metarec/cuda/context.hpp"

namespace metarec::cuda {

namespace {
void check_cuda(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw CudaError(std::string(call) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}
void check_cublas(cublasStatus_t s, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string(call) + ": " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")");
}
void* raw_cuda_malloc(std::size_t bytes, void*) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error so the retry can succeed
    return nullptr;
  }
  return p;
}
void raw_cuda_free(void* p, void*) { (void)cudaFree(p); }
cudaStream_t stream_of(const Context& c) { return static_cast<cudaStream_t>(c.stream()); }
}  // namespace

namespace launch {
void check(const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw CudaError(std::string("kernel launch ") + kernel + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}
}  // namespace launch

bool Context::host_emulation() noexcept {
#if defined(METAREC_CUDA_HOST_EMULATION) && METAREC_CUDA_HOST_EMULATION
  return true;
#else
  return false;
#endif
}

int Context::device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

std::string Context::device_count_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  }
  return "cudaGetDeviceCount = " + std::to_string(n) + (host_emulation() ? " (host emulation)" : "");
}

Context::Context(int device) : device_(device) {
  const int n = device_count();
  if (device < 0 || device >= n)
    throw CudaError("Context: CUDA device " + std::to_string(device) + " does not exist (" + device_count_reason() + ")");
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t s = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  stream_ = s;
  cublasHandle_t h = nullptr;
  check_cublas(cublasCreate(&h), "cublasCreate");
  cublas_ = h;
  check_cublas(cublasSetStream(h, s), "cublasSetStream");
  RawAllocator raw{&raw_cuda_malloc, &raw_cuda_free, nullptr, "cudaMalloc"};
#if defined(METAREC_CUDA_HOST_EMULATION) && METAREC_CUDA_HOST_EMULATION
  raw.host_memory = true;  // ASan sees each tensor's own bytes
  raw.in_use = [](void* p, std::size_t bytes, void*) { emu::set_in_use(p, bytes); };  // copies and GEMM are checked against them
#endif
  allocator_ = std::make_shared<CachingAllocator>(raw);
}

Context::~Context() {
  if (cublas_) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
  if (stream_) {
    cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
    cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  }
}

namespace {
int default_device = 0;
bool default_created = false;
}  // namespace

Context& default_context() {
  static Context ctx((default_created = true, default_device));
  return ctx;
}

void select_default_device(int device) {
  if (default_created && device != default_context().device())
    throw CudaError("select_default_device(" + std::to_string(device) + "): the default context already runs on device " +
                    std::to_string(default_context().device()));
  default_device = device;
}

void* Context::stream() const { return stream_; }
void* Context::cublas() const { return cublas_; }

void Context::memset_zero(void* p, std::size_t bytes) {
  if (bytes) check_cuda(cudaMemsetAsync(p, 0, bytes, stream_of(*this)), "cudaMemsetAsync");
}

void Context::memcpy(void* dst, const void* src, std::size_t bytes, int kind) {
  if (!bytes) return;
  const cudaMemcpyKind k = kind == 0 ? cudaMemcpyHostToDevice : kind == 1 ? cudaMemcpyDeviceToHost
                                                                          : cudaMemcpyDeviceToDevice;
  check_cuda(cudaMemcpyAsync(dst, src, bytes, k, stream_of(*this)), "cudaMemcpyAsync");
  // Pageable host memory: the host buffer may be reused as soon as we return.
  if (kind != 2) synchronize();
}

void Context::memcpy_to_device_async(void* dst, const void* src, std::size_t bytes) {
  if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_of(*this)), "cudaMemcpyAsync");
}
void* Context::pinned_alloc(std::size_t bytes) {
  void* p = nullptr;
  if (cudaMallocHost(&p, bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return p;
}
void Context::pinned_free(void* p) { (void)cudaFreeHost(p); }

void Context::synchronize() { check_cuda(cudaStreamSynchronize(stream_of(*this)), "cudaStreamSynchronize"); }

template <class T>
void gemm(Context& ctx, bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
          const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (M == 0 || N == 0) return;
  for (index_t v : {M, N, K, lda, ldb, ldc})
    if (v > INT_MAX) throw CudaError("gemm: dimension " + std::to_string(v) + " exceeds cuBLAS's 32-bit limit");
  auto h = static_cast<cublasHandle_t>(ctx.cublas());
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const cublasOperation_t ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  if constexpr (std::is_same_v<T, float>)
    check_cublas(cublasSgemm(h, ob, oa, m, n, k, &alpha, B, static_cast<int>(ldb), A, static_cast<int>(lda), &beta, C,
                             static_cast<int>(ldc)),
                 "cublasSgemm");
  else
    check_cublas(cublasDgemm(h, ob, oa, m, n, k, &alpha, B, static_cast<int>(ldb), A, static_cast<int>(lda), &beta, C,
                             static_cast<int>(ldc)),
                 "cublasDgemm");
}
template void gemm<float>(Context&, bool, bool, index_t, index_t, index_t, float, const float*, index_t, const float*,
                          index_t, float, float*, index_t);
template void gemm<double>(Context&, bool, bool, index_t, index_t, index_t, double, const double*, index_t,
                           const double*, index_t, double, double*, index_t);

}  // namespace metarec::cuda
