#pragma once
/// @file scorer.hpp
/// How a model plugs into evaluation: a Scorer fills the scores of every item
/// for a block of users. The evaluators own the score buffer and call the
/// scorer once per block, so a model never allocates catalogue-sized memory.
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::eval {

/// Contract of a scorer for scalar type T:
///   scorer(std::span<const std::int32_t> users, T* out, index_t ld)
/// writes the score of item j (j = 0..n_items; 0 is padding and ignored) for
/// users[i] to out[i * ld + j]. `users` are the `user` fields of the cases
/// being evaluated (a row of a user matrix, an index into the model's own
/// sequences, ...). Any callable fits: a lambda, a struct with operator(),
/// a std::function.
///
/// Optional (detected, not required): `static constexpr bool concurrent = true`
/// declares that the scorer may be called from several threads at once on
/// disjoint blocks; the evaluators then give each thread its own block, so
/// scores are ranked while they are still in that core's cache. Without it the
/// scorer is called from one thread (it may parallelise internally).
template <class S, class T>
concept Scorer = requires(S& s, std::span<const std::int32_t> users, T* out, index_t ld) { s(users, out, ld); };

///
/// Optional: `scorer.score_items(users, first, count, out, ld)` writing the
/// scores of items first .. first + count - 1 to out[i * ld + (j - first)].
/// A scorer with it that is also concurrent is evaluated tile by tile
/// (FullRankingEvaluator): a tile of users x items stays in cache, where whole
/// score rows of a large catalogue would not.
template <class S>
concept ConcurrentScorer = requires {
  { S::concurrent } -> std::convertible_to<bool>;
} && static_cast<bool>(S::concurrent);
template <class S>
inline constexpr bool is_concurrent_scorer = ConcurrentScorer<S>;

template <class S, class T>
concept RangeScorer = Scorer<S, T> && requires(S& s, std::span<const std::int32_t> users, T* out, index_t ld) {
  s.score_items(users, index_t{0}, index_t{0}, out, ld);
};

/// The common case: score(u, j) = <U[u], E[j]>, a user-representation matrix
/// U [n_users, d] times an item table E [n_items + 1, d] (row 0 = padding),
/// computed per block with one GEMM. Holds views: U and E must outlive it.
template <class T>
class EmbeddingScorer {
 public:
  static constexpr bool concurrent = true;

  /// Row-major views with leading dimensions (>= dim).
  EmbeddingScorer(const T* users, index_t n_users, const T* items, index_t n_item_rows, index_t dim,
                  index_t ld_users = 0, index_t ld_items = 0)
      : u_(users), e_(items), n_users_(n_users), n_rows_(n_item_rows), dim_(dim),
        ldu_(ld_users ? ld_users : dim), lde_(ld_items ? ld_items : dim) {
    if (n_users < 0 || n_item_rows < 1 || dim < 0 || ldu_ < dim || lde_ < dim)
      throw ShapeError("EmbeddingScorer: users [" + std::to_string(n_users) + ", " + std::to_string(dim) + "] (ld " +
                       std::to_string(ldu_) + "), items [" + std::to_string(n_item_rows) + ", " +
                       std::to_string(dim) + "] (ld " + std::to_string(lde_) + ") do not describe two matrices");
  }
  /// U [n_users, d] and E [n_items + 1, d] as rank-2 tensors.
  EmbeddingScorer(const Tensor<T>& users, const Tensor<T>& items)
      : EmbeddingScorer(checked(users, items).data(), users.dim(0), items.data(), items.dim(0), users.dim(1)) {}

  index_t n_items() const { return n_rows_ - 1; }
  index_t n_users() const { return n_users_; }
  index_t dim() const { return dim_; }

  void operator()(std::span<const std::int32_t> users, T* out, index_t ld) const {
    score_items(users, 0, n_rows_, out, ld);
  }
  /// Scores of items first .. first + count - 1 (see RangeScorer).
  void score_items(std::span<const std::int32_t> users, index_t first, index_t count, T* out, index_t ld) const {
    const auto m = static_cast<index_t>(users.size());
    if (m == 0 || count == 0) return;
    if (first < 0 || count < 0 || first + count > n_rows_)
      throw ConfigError("EmbeddingScorer: items [" + std::to_string(first) + ", " + std::to_string(first + count) +
                        ") are out of range [0, " + std::to_string(n_rows_) + ")");
    bool contiguous = true;
    for (index_t i = 0; i < m; ++i) {
      const std::int32_t u = users[static_cast<std::size_t>(i)];
      if (u < 0 || u >= n_users_)
        throw ConfigError("EmbeddingScorer: user " + std::to_string(u) + " is out of range [0, " +
                          std::to_string(n_users_ - 1) + "]");
      contiguous = contiguous && u == users[0] + i;
    }
    const T* a = u_ + static_cast<index_t>(users[0]) * ldu_;
    index_t lda = ldu_;
    if (!contiguous) {  // gather the rows so the GEMM sees one matrix
      thread_local std::vector<T> rows;
      rows.resize(static_cast<std::size_t>(m * dim_));
      for (index_t i = 0; i < m; ++i)
        std::copy_n(u_ + static_cast<index_t>(users[static_cast<std::size_t>(i)]) * ldu_, dim_,
                    rows.data() + i * dim_);
      a = rows.data();
      lda = dim_;
    }
    gemm<T>(false, true, m, count, dim_, T(1), a, lda, e_ + first * lde_, lde_, T(0), out, ld);
  }

 private:
  static const Tensor<T>& checked(const Tensor<T>& users, const Tensor<T>& items) {
    expect_rank("EmbeddingScorer", "user matrix", users.shape(), 2);
    expect_rank("EmbeddingScorer", "item table", items.shape(), 2);
    if (users.dim(1) != items.dim(1))
      throw ShapeError("EmbeddingScorer: user matrix " + users.shape().str() + " and item table " +
                       items.shape().str() + " differ in their last dimension");
    return users;
  }

  const T* u_;
  const T* e_;
  index_t n_users_, n_rows_, dim_, ldu_, lde_;
};

}  // namespace metarec::eval
