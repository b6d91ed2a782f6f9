#pragma once
/// @file score_blocks.hpp
/// The loop shared by every evaluator: score users a block at a time into a
/// reused buffer and hand each score row to a per-user function, in parallel.
#include <algorithm>
#include <atomic>
#include <exception>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/eval/ranking.hpp"
#include "metarec/eval/scorer.hpp"

namespace metarec::eval::detail {

/// Keeps the first exception thrown inside an OpenMP region (none may escape
/// one) and rethrows it after the region; later iterations are skipped.
class FirstError {
 public:
  template <class F>
  void guard(F&& f) {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      f();
    } catch (...) {
#ifdef METAREC_WITH_OPENMP
#pragma omp critical(metarec_eval_first_error)
#endif
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

template <class T>
class ScoreBlocks {
 public:
  ScoreBlocks(index_t n_items, index_t block_users)
      : n_items_(n_items), block_(block_users),
        // rows start on 64-byte boundaries so the ranking loop runs on aligned data
        ld_((n_items + 1 + 15) / 16 * 16) {
    if (n_items < 1) throw ConfigError("evaluator: n_items = " + std::to_string(n_items) + " is out of range [1, inf)");
    check_range<index_t>("evaluator: block_users", block_users, 1, index_t(1) << 20);
  }
  index_t n_items() const { return n_items_; }
  index_t block_users() const { return block_; }
  /// Upper bound of the `slot` argument handed to fn, for per-thread state.
  static int slots() { return num_threads(); }

  /// Calls fn(case_index, score_row, slot) once per case. A scorer marked
  /// `concurrent` is called by each thread on its own block (scores stay in
  /// that core's cache); any other scorer is called from one thread per block
  /// and the rows are then processed in parallel.
  template <class S, class Fn>
  void run(std::span<const EvalCase> cases, S& scorer, Fn&& fn) {
    const auto n = static_cast<index_t>(cases.size());
    if (n == 0) return;
    const index_t n_blocks = (n + block_ - 1) / block_;
    FirstError err;
    if constexpr (is_concurrent_scorer<std::remove_cvref_t<S>>) {
      const int threads = slots();
      reserve(threads);
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel num_threads(threads)
#endif
      {
        const int slot = thread_id();
        T* buf = buf_.data() + static_cast<index_t>(slot) * block_ * ld_;
        std::int32_t* users = users_.data() + static_cast<index_t>(slot) * block_;
#ifdef METAREC_WITH_OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (index_t b = 0; b < n_blocks; ++b)
          err.guard([&] { score_block(cases, b, scorer, buf, users, fn, slot); });
      }
    } else {
      reserve(1);
      for (index_t b = 0; b < n_blocks; ++b) {
        const index_t lo = b * block_, m = std::min(block_, n - lo);
        for (index_t i = 0; i < m; ++i) users_[static_cast<std::size_t>(i)] = cases[static_cast<std::size_t>(lo + i)].user;
        scorer(std::span<const std::int32_t>(users_.data(), static_cast<std::size_t>(m)), buf_.data(), ld_);
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(static) if (m > 1)
#endif
        for (index_t i = 0; i < m; ++i) err.guard([&] { fn(lo + i, buf_.data() + i * ld_, thread_id()); });
        err.rethrow();
      }
    }
    err.rethrow();
  }

 private:
  template <class S, class Fn>
  void score_block(std::span<const EvalCase> cases, index_t b, S& scorer, T* buf, std::int32_t* users, Fn& fn,
                   int slot) {
    const index_t lo = b * block_, m = std::min(block_, static_cast<index_t>(cases.size()) - lo);
    for (index_t i = 0; i < m; ++i) users[i] = cases[static_cast<std::size_t>(lo + i)].user;
    scorer(std::span<const std::int32_t>(users, static_cast<std::size_t>(m)), buf, ld_);
    for (index_t i = 0; i < m; ++i) fn(lo + i, buf + i * ld_, slot);
  }
  void reserve(int threads) {
    const index_t rows = static_cast<index_t>(threads) * block_;
    if (buf_.size() < rows * ld_) buf_ = Tensor<T>({rows, ld_});
    if (static_cast<index_t>(users_.size()) < rows) users_.resize(static_cast<std::size_t>(rows));
  }

  index_t n_items_, block_, ld_;
  Tensor<T> buf_;
  std::vector<std::int32_t> users_;
};

}  // namespace metarec::eval::detail
