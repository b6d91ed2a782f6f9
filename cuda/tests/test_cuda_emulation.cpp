// The runtime / cuBLAS conventions the backend relies on, checked against
// naive host loops through the same API the sources use (cuda_api.hpp): on a
// GPU that is the CUDA toolkit, in the host emulation it is the emulation, so
// both are held to one reference. The last cases check what only the
// emulation adds (bounds and direction checks, launch validation, no leaks).
#include <doctest/doctest.h>

#include <cstring>

#include "cuda_api.hpp"
#include "device_util.hpp"
#include "launch.hpp"

using namespace metarec;
using namespace metarec::test;

namespace {
/// Column-major op(X)(i, j) of a stored matrix with leading dimension ld.
template <class T>
T at(const std::vector<T>& x, bool trans, int i, int j, int ld) { return trans ? x[j + i * ld] : x[i + j * ld]; }

template <class T>
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha,
                         const T* A, int lda, const T* B, int ldb, T beta, T* C, int ldc) {
  if constexpr (std::is_same_v<T, float>) return cublasSgemm(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
  else return cublasDgemm(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
}
}  // namespace

TEST_CASE_TEMPLATE("cuda runtime: cublas gemm follows the column-major convention (transposes, leading dimensions)", T,
                   float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;  // selects the device
  cublasHandle_t h = nullptr;
  REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  Rng rng(11);
  const int m = 5, n = 4, k = 3, pad = 2;  // leading dimensions larger than the rows, to catch a swapped ld
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (T beta : {T(0), T(0.5)}) {
        const int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
        const int lda = ar + pad, ldb = br + pad, ldc = m + pad;
        std::vector<T> A(static_cast<std::size_t>(lda * ac)), B(static_cast<std::size_t>(ldb * bc)),
            C(static_cast<std::size_t>(ldc * n));
        for (auto* v : {&A, &B, &C})
          for (T& x : *v) x = static_cast<T>(rng.uniform(-1, 1));
        std::vector<T> want = C;
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) {
            double acc = 0;
            for (int p = 0; p < k; ++p) acc += static_cast<double>(at(A, ta, i, p, lda)) * at(B, tb, p, j, ldb);
            want[i + j * ldc] = static_cast<T>(1.25 * acc + static_cast<double>(beta) * C[i + j * ldc]);
          }
        auto dA = up(ctx, A), dB = up(ctx, B), dC = up(ctx, C);
        ctx.synchronize();
        REQUIRE(gemm_call<T>(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, T(1.25),
                             dA.data(), lda, dB.data(), ldb, beta, dC.data(), ldc) == CUBLAS_STATUS_SUCCESS);
        REQUIRE(cudaStreamSynchronize(nullptr) == cudaSuccess);
        Tensor<T> got = down(ctx, dC);
        Tensor<T> ref(Shape{static_cast<index_t>(want.size())});
        std::memcpy(ref.data(), want.data(), want.size() * sizeof(T));
        check_close(got, ref, "column-major gemm");
      }
  cublasDestroy(h);
}

TEST_CASE("cuda runtime: a grid-stride launch covers more elements than the largest grid") {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  const index_t n = index_t(8192) * 256 * 2 + 7;  // blocks_for caps the grid at 8192 blocks of 256 threads
  Tensor<float> x(Shape{n});
  for (index_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 1000);
  auto y = ctx.alloc<float>(x.shape());
  cuda::scale_forward(ctx, up(ctx, x), 2.0, y);
  Tensor<float> got = down(ctx, y);
  index_t wrong = 0;
  for (index_t i = 0; i < n; ++i) wrong += got[i] != 2.0f * x[i];
  CHECK(wrong == 0);
}

#if defined(METAREC_CUDA_HOST_EMULATION) && METAREC_CUDA_HOST_EMULATION
TEST_CASE("cuda emulation: one device, and what a GPU would reject is an error here too") {
  CHECK(cuda::Context::host_emulation());
  CHECK(cuda::Context::device_count() == 1);
  CHECK_THROWS_AS(cuda::Context(1), cuda::CudaError);
  // cuda::default_context() (models on backend::Cuda) may hold cached blocks of earlier cases
  const auto before = cuda::emu::live_allocations();
  {
    cuda::Context ctx;
    auto d = ctx.alloc<float>({8});
    float host[8] = {};
    // the wrong direction: host memory named as the device side
    CHECK_THROWS_WITH_AS(ctx.memcpy(host, d.data(), sizeof host, 0), doctest::Contains("cudaErrorInvalidValue"),
                         cuda::CudaError);
    // a GEMM whose B (4 x 8 row-major, ld 8) runs past its 8-element allocation
    auto c = ctx.zeros<float>({1, 8});
    CHECK_THROWS_WITH_AS(cuda::gemm<float>(ctx, false, false, 1, 8, 4, 1.f, d.data(), 4, d.data(), 8, 0.f, c.data(), 8),
                         doctest::Contains("CUBLAS_STATUS_INVALID_VALUE"), cuda::CudaError);
    // a block of more than 1024 threads
    auto ids = ctx.alloc<std::int32_t>({1, 1});
    CHECK_THROWS_WITH_AS(cuda::launch::top_k<float>(ctx.stream(), d.data(), 1, 7, 1, ids.data(), d.data(), ids.data(),
                                                    reinterpret_cast<int*>(ids.data()), 2048),
                         doctest::Contains("cudaErrorInvalidConfiguration"), cuda::CudaError);
    CHECK(cuda::emu::live_allocations() > before);
  }
  // every block of this context went back to the (emulated) driver with the last tensor and context
  CHECK(cuda::emu::live_allocations() == before);
}
#endif
