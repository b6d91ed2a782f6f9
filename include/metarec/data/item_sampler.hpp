#pragma once
/// @file item_sampler.hpp
/// Draws item ids 1..n from a fixed distribution Q: uniform, or proportional
/// to each item's count in the training sequences ("popularity", as
/// word2vec's unigram noise and BERT4Rec's popularity-sampled evaluation).
/// Used for the negatives shared by a training batch (train/batch_inputs.hpp)
/// and for the sampled evaluation protocol (eval/sampled.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::data {

enum class Sampling { uniform, popularity };

inline const char* sampling_name(Sampling s) { return s == Sampling::uniform ? "uniform" : "popularity"; }

/// [n_items + 1] occurrences of each item in `sequences` (entry 0 unused).
inline std::vector<std::uint64_t> item_counts(const std::vector<std::vector<std::int32_t>>& sequences, index_t n_items) {
  std::vector<std::uint64_t> c(static_cast<std::size_t>(n_items + 1), 0);
  for (const auto& s : sequences)
    for (std::int32_t i : s)
      if (i > 0 && i <= n_items) ++c[static_cast<std::size_t>(i)];
  return c;
}

class ItemSampler {
 public:
  /// Uniform over 1..n_items.
  explicit ItemSampler(index_t n_items) : n_(n_items) {
    if (n_items < 1) throw ConfigError("ItemSampler: n_items = " + std::to_string(n_items) + " must be >= 1");
  }
  /// Proportional to counts[1..n] ([n + 1] entries, entry 0 ignored); items never seen are never drawn.
  explicit ItemSampler(const std::vector<std::uint64_t>& counts)
      : ItemSampler(static_cast<index_t>(counts.size()) - 1) {
    cum_.resize(static_cast<std::size_t>(n_));
    std::uint64_t total = 0;
    for (index_t j = 1; j <= n_; ++j) cum_[static_cast<std::size_t>(j - 1)] = total += counts[static_cast<std::size_t>(j)];
    if (total == 0) throw ConfigError("ItemSampler: every popularity count is zero");
  }
  ItemSampler(Sampling s, const std::vector<std::uint64_t>& counts)
      : ItemSampler(s == Sampling::uniform ? ItemSampler(static_cast<index_t>(counts.size()) - 1) : ItemSampler(counts)) {}

  index_t n_items() const { return n_; }
  bool uniform() const { return cum_.empty(); }

  std::int32_t draw(Rng& rng) const {
    if (uniform()) return static_cast<std::int32_t>(1 + rng.below(static_cast<std::uint64_t>(n_)));
    const std::uint64_t r = rng.below(cum_.back());  // the item whose cumulative range holds r
    return static_cast<std::int32_t>(1 + (std::upper_bound(cum_.begin(), cum_.end(), r) - cum_.begin()));
  }

  /// Q(j), the probability of drawing item j.
  double probability(std::int32_t j) const {
    if (uniform()) return 1.0 / static_cast<double>(n_);
    const auto i = static_cast<std::size_t>(j - 1);
    return static_cast<double>(cum_[i] - (i ? cum_[i - 1] : 0)) / static_cast<double>(cum_.back());
  }

 private:
  index_t n_ = 0;
  std::vector<std::uint64_t> cum_;  ///< popularity: cumulative counts of items 1..n; empty = uniform
};

}  // namespace metarec::data
