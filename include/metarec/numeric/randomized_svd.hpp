#pragma once
/// @file randomized_svd.hpp
/// Randomized truncated SVD of a sparse matrix: Halko, Martinsson & Tropp,
/// "Finding structure with randomness: probabilistic algorithms for
/// constructing approximate matrix decompositions", SIAM Review 53(2), 2011
/// (Alg. 4.4, randomized subspace iteration, followed by Alg. 5.1, direct SVD).
///
/// For A [n, m] (sparse, row-major), k = dim and l = k + p (oversampling p):
///   Omega [m, l] Gaussian, Q = qr(A Omega)                   (range sketch)
///   q times: Z = A^T Q, Q = qr(A Z)                          (power iterations)
///   G = Q^T A A^T Q = B B^T (l x l, accumulated in double) = W S^2 W^T,
///   U Sigma = Q W S, keeping the k largest.
/// Re-orthonormalisation (Halko et al., Sec. 4.5) happens once per power
/// iteration, on the side with fewer rows (plus a final QR of Q, which must
/// be orthonormal): between two QRs the spectrum is squared at most once
/// (sigma_j^2 / sigma_1^2 must stay above the precision, far below the
/// components kept), while a QR of the tall [m, l] side of a TF-IDF matrix
/// (m = vocabulary buckets >> n = items) would dominate the run time. The
/// small problem goes through the Gram matrix of B = Q^T A for the same
/// reason; it squares the condition number, which costs nothing for the
/// leading components we keep.
/// Omega row i comes from its own stream (see gaussian_rows), so it is
/// drawn in parallel and still depends on the seed only.
///
/// Sign convention (an SVD is unique only up to the sign of each component):
/// the entry of largest magnitude of each column of U Sigma is positive
/// (first such row on ties), as scikit-learn's svd_flip.
///
/// Determinism: bitwise identical results for the same seed, data and thread
/// count. The sparse products are parallel over output rows (no reductions
/// across threads); Eigen's QR/GEMM blocking may depend on the thread count,
/// so runs with different thread counts agree up to rounding only.
#include <Eigen/Dense>
#include <Eigen/SparseCore>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::numeric {

struct RandomizedSvdOptions {
  index_t dim = 256;       ///< k, components kept: 1 <= k <= min(rows, cols)
  index_t oversample = 10; ///< p: the sketch has l = min(k + p, rows, cols) columns
  int power_iters = 4;     ///< q in [0, 100]; more iterations sharpen a slowly decaying spectrum
  std::uint64_t seed = 0;  ///< seeds the Gaussian test matrix
};

template <class T>
struct TruncatedSvd {
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMatrix embedding;                              ///< [rows, k] = U Sigma (row r = row r of A)
  Eigen::Matrix<T, Eigen::Dynamic, 1> singular_values;  ///< [k], descending
  /// Share of ||A||_F^2 the k components capture: sum sigma_j^2 / ||A||_F^2
  /// (uncentred, like scikit-learn's TruncatedSVD on TF-IDF input).
  double explained_ratio = 0;
};

namespace detail {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using SparseRows = Eigen::SparseMatrix<T, Eigen::RowMajor>;

/// Y = A X with A sparse row-major compressed [n, m] and X row-major [m, l]: each output
/// row is an AXPY over A's non-zeros of that row (contiguous rows of X),
/// rows in parallel, so the result does not depend on the thread count.
template <class T>
void sparse_times_dense(const SparseRows<T>& A, const RowMat<T>& X, RowMat<T>& Y) {
  const index_t n = A.rows(), l = X.cols();
  Y.resize(n, l);
  const auto* outer = A.outerIndexPtr();
  const auto* inner = A.innerIndexPtr();
  const T* val = A.valuePtr();
  [[maybe_unused]] const bool parallel = static_cast<double>(A.nonZeros()) * static_cast<double>(l) > 1e6;
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 64) if (parallel)
#endif
  for (index_t i = 0; i < n; ++i) {
    auto y = Y.row(i);
    y.setZero();
    for (index_t k = outer[i]; k < outer[i + 1]; ++k) y.noalias() += val[k] * X.row(inner[k]);
  }
}

/// X [rows, cols] standard normal; row i drawn from Rng(seed_i) with
/// seed_i = seed + (i + 1) * golden-ratio constant (Rng's splitmix seeding
/// decorrelates the streams): parallel and independent of the thread count.
template <class T>
void gaussian_rows(RowMat<T>& X, index_t rows, index_t cols, std::uint64_t seed) {
  X.resize(rows, cols);
  [[maybe_unused]] const bool parallel = rows * cols > 100000;
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#endif
  for (index_t i = 0; i < rows; ++i) {
    Rng rng(seed + static_cast<std::uint64_t>(i + 1) * 0x9E3779B97F4A7C15ULL);
    for (index_t j = 0; j < cols; ++j) X(i, j) = static_cast<T>(rng.normal());
  }
}

/// Replaces the columns of Y [r, l] (r >= l) by an orthonormal basis of
/// their span (Householder QR, thin Q).
template <class T>
void orthonormalize(RowMat<T>& Y) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  Mat a = Y;  // column-major copy: the blocked Householder kernels work on columns
  const Eigen::HouseholderQR<Eigen::Ref<Mat>> qr(a);  // in place in `a`
  Mat q = Mat::Identity(Y.rows(), Y.cols());
  q.applyOnTheLeft(qr.householderQ());
  Y = q;
}

}  // namespace detail

/// Randomized truncated SVD of A [n, m] (see the file comment).
/// @throws ConfigError when dim is outside [1, min(n, m)], oversample < 0 or
///         power_iters outside [0, 100].
template <class T>
TruncatedSvd<T> randomized_svd(const Eigen::SparseMatrix<T, Eigen::RowMajor>& input, const RandomizedSvdOptions& opt = {}) {
  detail::SparseRows<T> copy;
  if (!input.isCompressed()) (copy = input).makeCompressed();
  const detail::SparseRows<T>& A = input.isCompressed() ? input : copy;
  const index_t n = A.rows(), m = A.cols(), cap = std::min(n, m);
  if (opt.dim < 1 || opt.dim > cap)
    throw ConfigError("randomized_svd: dim = " + std::to_string(opt.dim) + " must be in [1, min(rows, cols)] = [1, " +
                      std::to_string(cap) + "] for a " + std::to_string(n) + " x " + std::to_string(m) + " matrix" +
                      (m == 0 ? " (no column used: every text is empty)" : ""));
  if (opt.oversample < 0) throw ConfigError("randomized_svd: oversample = " + std::to_string(opt.oversample) + " must be >= 0");
  check_range("randomized_svd: power_iters", opt.power_iters, 0, 100);
  const index_t k = opt.dim, l = std::min(k + opt.oversample, cap);

  // A^T in row-major form, so that A^T X is also a row-parallel product.
  const detail::SparseRows<T> At = A.transpose();
  detail::RowMat<T> omega, Y, Z;
  detail::gaussian_rows(omega, m, l, opt.seed);
  const bool rows_side = n <= m;  // orthonormalise on the side with fewer rows
  const int q = opt.power_iters;
  detail::sparse_times_dense(A, omega, Y);
  omega.resize(0, 0);
  if (rows_side || q == 0) detail::orthonormalize(Y);
  for (int it = 0; it < q; ++it) {
    detail::sparse_times_dense(At, Y, Z);
    if (!rows_side) detail::orthonormalize(Z);
    detail::sparse_times_dense(A, Z, Y);
    if (rows_side || it + 1 == q) detail::orthonormalize(Y);  // Q must end orthonormal
  }
  // G = Q^T (A (A^T Q)) in double, symmetrised.
  detail::sparse_times_dense(At, Y, Z);
  detail::RowMat<T> AZ;
  detail::sparse_times_dense(A, Z, AZ);
  Z.resize(0, 0);
  Eigen::MatrixXd gram = Y.template cast<double>().transpose() * AZ.template cast<double>();
  AZ.resize(0, 0);
  gram = (0.5 * (gram + gram.transpose())).eval();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);  // ascending eigenvalues
  Eigen::MatrixXd ws(l, k);                                  // W S, largest first
  TruncatedSvd<T> out;
  out.singular_values.resize(k);
  double kept = 0;
  for (index_t j = 0; j < k; ++j) {
    const double s = std::sqrt(std::max(eig.eigenvalues()(l - 1 - j), 0.0));
    out.singular_values(j) = static_cast<T>(s);
    ws.col(j) = eig.eigenvectors().col(l - 1 - j) * s;
    kept += s * s;
  }
  out.embedding = Y * ws.cast<T>();
  // A zero row of A has a zero row in U Sigma; the QR leaves rounding there.
  for (index_t i = 0; i < n; ++i)
    if (A.outerIndexPtr()[i] == A.outerIndexPtr()[i + 1]) out.embedding.row(i).setZero();

  for (index_t j = 0; j < k; ++j) {  // sign fix: largest-|value| entry positive
    index_t best = 0;
    for (index_t i = 1; i < n; ++i)
      if (std::abs(out.embedding(i, j)) > std::abs(out.embedding(best, j))) best = i;
    if (out.embedding(best, j) < T(0)) out.embedding.col(j) *= T(-1);
  }
  double fro = 0;
  for (index_t e = 0; e < A.nonZeros(); ++e) fro += static_cast<double>(A.valuePtr()[e]) * static_cast<double>(A.valuePtr()[e]);
  out.explained_ratio = fro > 0 ? std::min(kept / fro, 1.0) : 0.0;
  return out;
}

}  // namespace metarec::numeric
