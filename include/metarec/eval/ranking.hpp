#pragma once
/// @file ranking.hpp
/// Evaluation cases and the per-user ranking kernels.
///
/// Tie rule (used everywhere, also by top_k): candidates are ordered by score,
/// descending, and equal scores by item id, ascending -- the order a stable
/// descending sort of the id-ordered catalogue produces. So the target's rank
/// is (# candidates with a strictly higher score) + (# candidates with the same
/// score and a lower id). It is deterministic, HR@K == "target is in
/// top_k(K)", and a model that gives every item the same score gets the rank
/// target - 1: on average chance level, never a free HR = 1.
/// Item 0 is padding and is never a candidate.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/cuda/element_ops.hpp"

namespace metarec::eval {

/// One user's held-out interaction.
struct EvalCase {
  std::int32_t user = 0;                      ///< what the scorer is asked for (row of U, sequence index, ...)
  std::int32_t target = 0;                    ///< held-out item, 1..n_items
  std::span<const std::int32_t> history{};    ///< items seen before (0 = padding, skipped)
  std::span<const std::int32_t> negatives{};  ///< sampled protocol: the given negatives
};

/// Cases for users 0..n-1 with the given targets and histories (histories may
/// be empty). The cases view the histories' storage: keep it alive.
inline std::vector<EvalCase> make_cases(std::span<const std::int32_t> targets,
                                        std::span<const std::span<const std::int32_t>> histories = {}) {
  if (!histories.empty() && histories.size() != targets.size())
    throw ShapeError("make_cases: " + std::to_string(targets.size()) + " targets but " +
                     std::to_string(histories.size()) + " histories");
  std::vector<EvalCase> cases(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    cases[i].user = static_cast<std::int32_t>(i);
    cases[i].target = targets[i];
    if (!histories.empty()) cases[i].history = histories[i];
  }
  return cases;
}

namespace detail {

inline void check_item(const char* op, const char* what, std::size_t c, std::int32_t item, index_t lo,
                       index_t n_items) {
  if (item < lo || item > n_items)
    throw ConfigError(std::string(op) + ": case " + std::to_string(c) + ": " + what + " " + std::to_string(item) +
                      " is out of range [" + std::to_string(lo) + ", " + std::to_string(n_items) + "]");
}

/// Validates every id before any parallel work starts (no exception may leave
/// an OpenMP region). Negatives must also differ from the target.
inline void validate_cases(const char* op, std::span<const EvalCase> cases, index_t n_items) {
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const EvalCase& e = cases[c];
    check_item(op, "target", c, e.target, 1, n_items);
    for (std::int32_t h : e.history) check_item(op, "history item", c, h, 0, n_items);
    for (std::int32_t n : e.negatives) {
      check_item(op, "negative", c, n, 1, n_items);
      if (n == e.target)
        throw ConfigError(std::string(op) + ": case " + std::to_string(c) + ": negative " + std::to_string(n) +
                          " is the target itself");
    }
  }
}

template <class T>
void check_target_score(const char* op, T s, const EvalCase& e) {
  if (std::isnan(s))
    throw NumericError(std::string(op) + ": the score of target item " + std::to_string(e.target) + " for user " +
                       std::to_string(e.user) + " is NaN");
}

}  // namespace detail

/// Number of items j in [lo, hi) ahead of `target` (score st) by the tie rule:
/// s_j >= st for j < target, s_j > st for j > target; the target itself is
/// skipped. `s` holds the scores of items first, first + 1, ... (a row or a
/// tile of one). Branch-free with 32-bit counters so it vectorises (item ids
/// are int32, so a count always fits).
template <class T>
index_t count_ahead(const T* s, index_t first, index_t lo, index_t hi, T st, std::int32_t target) {
  return cuda::elem::count_ahead(s, first, lo, hi, st, target);  // the device ranking runs the same body
}

/// Rank of `target` among items 1..n_items of one score row (scores[0] is
/// ignored). O(n_items); no sort.
template <class T>
index_t target_rank(const T* scores, index_t n_items, std::int32_t target) {
  return count_ahead(scores, 0, 1, n_items + 1, scores[target], target);
}

/// Rank of `target` among itself and `negatives` (each listed negative counts,
/// duplicates included), same tie rule.
template <class T>
index_t sampled_rank(const T* scores, std::int32_t target, std::span<const std::int32_t> negatives) {
  const T st = scores[target];
  index_t ahead = 0;
  for (std::int32_t n : negatives) ahead += scores[n] > st || (scores[n] == st && n < target);
  return ahead;
}

/// Excludes the history from a score row by setting it to -inf; the target
/// stays a candidate even if it was seen before (repeat consumption).
/// `scores` holds items first .. first + count - 1 (a whole row: first = 0).
template <class T>
void mask_history(T* scores, std::span<const std::int32_t> history, std::int32_t target, index_t first = 0,
                  index_t count = std::numeric_limits<index_t>::max()) {
  for (std::int32_t h : history)
    if (h != 0 && h != target && h >= first && h - first < count) scores[h - first] = -std::numeric_limits<T>::infinity();
}

/// Top-k selection with a reusable work buffer: std::nth_element then a sort
/// of the k winners, O(n_items + k log k), never a full sort.
template <class T>
class TopK {
 public:
  /// Writes up to k item ids (best first, tie rule above) from `scores`
  /// (items 0..n_items, 0 ignored) skipping `exclude`; returns how many.
  index_t select(std::span<const T> scores, index_t k, std::span<const std::int32_t> exclude,
                 std::span<std::int32_t> out) {
    if (scores.empty()) throw ShapeError("top_k: empty score row (expected items 0..n_items)");
    const auto n_items = static_cast<index_t>(scores.size()) - 1;
    if (k < 0) throw ConfigError("top_k: k = " + std::to_string(k) + " is out of range [0, inf)");
    sorted_exclude_.assign(exclude.begin(), exclude.end());
    std::sort(sorted_exclude_.begin(), sorted_exclude_.end());
    ids_.clear();
    auto ex = sorted_exclude_.begin();
    for (std::int32_t j = 1; j <= n_items; ++j) {
      while (ex != sorted_exclude_.end() && *ex < j) ++ex;
      if (ex == sorted_exclude_.end() || *ex != j) ids_.push_back(j);
    }
    const index_t m = std::min<index_t>(k, static_cast<index_t>(ids_.size()));
    if (static_cast<index_t>(out.size()) < m)
      throw ShapeError("top_k: output holds " + std::to_string(out.size()) + " ids, need " + std::to_string(m));
    const T* s = scores.data();
    // NaN compares as the lowest score so the order stays a strict weak order.
    auto key = [s](std::int32_t j) { return std::isnan(s[j]) ? -std::numeric_limits<T>::infinity() : s[j]; };
    auto better = [&key](std::int32_t a, std::int32_t b) {
      const T ka = key(a), kb = key(b);
      return ka > kb || (ka == kb && a < b);
    };
    const auto mid = ids_.begin() + m;
    if (m < static_cast<index_t>(ids_.size())) std::nth_element(ids_.begin(), mid, ids_.end(), better);
    std::sort(ids_.begin(), mid, better);
    std::copy(ids_.begin(), mid, out.begin());
    return m;
  }

 private:
  std::vector<std::int32_t> ids_, sorted_exclude_;
};

/// Convenience form: the best k item ids of one score row, best first.
template <class T>
std::vector<std::int32_t> top_k(std::span<const T> scores, index_t k, std::span<const std::int32_t> exclude = {}) {
  TopK<T> sel;
  std::vector<std::int32_t> out(static_cast<std::size_t>(std::max<index_t>(k, 0)));
  out.resize(static_cast<std::size_t>(sel.select(scores, k, exclude, out)));
  return out;
}

}  // namespace metarec::eval
