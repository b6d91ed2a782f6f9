#pragma once
/// @file usage.hpp
/// Codebook usage statistics of a domain's item codes (SPEC 3.1): per-head
/// perplexity and fraction of codes used, and the collision rate of full
/// code tuples (items whose tuple is shared score alike).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "metarec/core/tensor.hpp"

namespace metarec::quantizers {

struct CodebookUsage {
  index_t items = 0;                    ///< rows counted
  double perplexity = 0;                ///< mean over heads of exp(entropy of the code histogram)
  double used_fraction = 0;             ///< mean over heads of (#codes used) / K
  double collision_rate = 0;            ///< fraction of items whose code tuple another item shares
  index_t distinct_tuples = 0;          ///< number of distinct code tuples
  std::vector<double> head_perplexity;  ///< per head
  std::vector<double> head_used_fraction;
};

/// Statistics of rows [first, end) of a code array with code(h, r) =
/// codes[h * head_stride + r * row_stride], values in [0, K).
inline CodebookUsage codebook_usage(const std::int32_t* codes, index_t heads, index_t head_stride,
                                    index_t row_stride, index_t first, index_t end, index_t K) {
  CodebookUsage u;
  u.items = std::max<index_t>(end - first, 0);
  if (u.items == 0 || heads == 0) return u;
  auto code = [&](index_t h, index_t r) { return codes[h * head_stride + r * row_stride]; };
  std::vector<index_t> hist(static_cast<std::size_t>(K));
  for (index_t h = 0; h < heads; ++h) {
    std::fill(hist.begin(), hist.end(), 0);
    for (index_t r = first; r < end; ++r) ++hist[static_cast<std::size_t>(code(h, r))];
    double entropy = 0;
    index_t used = 0;
    for (index_t c : hist) {
      if (c == 0) continue;
      ++used;
      const double p = static_cast<double>(c) / static_cast<double>(u.items);
      entropy -= p * std::log(p);
    }
    u.head_perplexity.push_back(std::exp(entropy));
    u.head_used_fraction.push_back(static_cast<double>(used) / static_cast<double>(K));
  }
  u.perplexity = std::accumulate(u.head_perplexity.begin(), u.head_perplexity.end(), 0.0) / static_cast<double>(heads);
  u.used_fraction =
      std::accumulate(u.head_used_fraction.begin(), u.head_used_fraction.end(), 0.0) / static_cast<double>(heads);
  // Collisions: sort rows by tuple, then count members of groups of size >= 2.
  std::vector<index_t> rows(static_cast<std::size_t>(u.items));
  std::iota(rows.begin(), rows.end(), first);
  auto less = [&](index_t a, index_t b) {
    for (index_t h = 0; h < heads; ++h)
      if (code(h, a) != code(h, b)) return code(h, a) < code(h, b);
    return false;
  };
  std::sort(rows.begin(), rows.end(), less);
  index_t colliding = 0;
  for (std::size_t i = 0; i < rows.size();) {
    std::size_t j = i + 1;
    while (j < rows.size() && !less(rows[i], rows[j])) ++j;
    ++u.distinct_tuples;
    if (j - i > 1) colliding += static_cast<index_t>(j - i);
    i = j;
  }
  u.collision_rate = static_cast<double>(colliding) / static_cast<double>(u.items);
  return u;
}

}  // namespace metarec::quantizers
