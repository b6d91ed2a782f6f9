#pragma once
/// @file gemm.hpp
/// BLAS-style GEMM on row-major buffers through Eigen maps (Eigen's blocked,
/// vectorised kernel; threaded by Eigen when OpenMP is on).
#include <Eigen/Core>

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
