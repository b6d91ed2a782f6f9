#pragma once
/// @file gemm.hpp
/// BLAS-style GEMM on row-major buffers through Eigen maps (Eigen's blocked,
/// vectorised kernel; threaded by Eigen when OpenMP is on).
#include <Eigen/Core>
#include <vector>

#include "metarec/core/parallel.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec {

/// C = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
/// op(A) is M x K, op(B) is K x N. beta == 0 never reads C.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
          const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const Mat, Eigen::Unaligned, Eigen::OuterStride<>>;
  using OMap = Eigen::Map<Mat, Eigen::Unaligned, Eigen::OuterStride<>>;
  if (M == 0 || N == 0) return;
  OMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == T(0)) c.setZero(); else c *= beta;
    return;
  }
#ifdef METAREC_WITH_OPENMP
  // Weight gradients (C = A^T B with a long shared dimension, e.g. [64 x 64]
  // summed over thousands of rows) leave Eigen's threading, which splits C,
  // nothing to split: split K instead, one partial product per thread, summed
  // in a fixed order (deterministic for a given thread count).
  if (trans_a && !trans_b && !omp_in_parallel() && num_threads() > 1 && K >= 256 && K >= 8 * std::max(M, N) &&
      M * N <= 512 * 512) {
    const int P = num_threads();
    thread_local std::vector<T> partial;
    partial.resize(static_cast<std::size_t>(P * M * N));
    T* const buf = partial.data();  // thread_local: other threads must use this thread's buffer
    int used = 1;
#pragma omp parallel num_threads(P)
    {
      const int p = omp_get_thread_num(), np = omp_get_num_threads();
#pragma omp single
      used = np;
      const index_t k0 = K * p / np, k1 = K * (p + 1) / np;
      T* c_p = buf + static_cast<index_t>(p) * M * N;
      Eigen::Map<Mat> cp(c_p, M, N);
      if (k1 > k0) {
        CMap a_p(A + k0 * lda, k1 - k0, M, Eigen::OuterStride<>(lda));
        CMap b_p(B + k0 * ldb, k1 - k0, N, Eigen::OuterStride<>(ldb));
        cp.noalias() = a_p.transpose() * b_p;
      } else {
        cp.setZero();
      }
    }
    const int P_used = used;
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) {
        T acc = 0;
        for (int p = 0; p < P_used; ++p) acc += buf[(p * M + i) * N + j];
        C[i * ldc + j] = (beta == T(0) ? T(0) : beta * C[i * ldc + j]) + alpha * acc;
      }
    return;
  }
#endif
  CMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  CMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (beta == T(0)) {
    if (!trans_a && !trans_b) c.noalias() = alpha * a * b;
    else if (!trans_a && trans_b) c.noalias() = alpha * a * b.transpose();
    else if (trans_a && !trans_b) c.noalias() = alpha * a.transpose() * b;
    else c.noalias() = alpha * a.transpose() * b.transpose();
    return;
  }
  if (beta != T(1)) c *= beta;
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  else c.noalias() += alpha * a.transpose() * b.transpose();
}

}  // namespace metarec
