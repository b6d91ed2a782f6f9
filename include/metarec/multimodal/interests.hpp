#pragma once
/// @file interests.hpp
/// MISSRec interest tokens (Wang et al., ACM MM 2023, section 3.2):
/// - discovery: mini-batch k-means (Sculley 2010; kmeans.hpp) over every
///   adapted modality token of a domain's items, run once per epoch; each
///   (modality, item) token maps to its cluster;
/// - per sample, the de-duplicated clusters of its items' tokens are its
///   interest tokens (first-occurrence order; the encoder has no positions,
///   so the order does not change any result), stored packed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/sequence_view.hpp"
#include "metarec/numeric/kmeans.hpp"

namespace metarec::multimodal {

/// Samples of one forward pass, all in the tape's arena.
struct InterestSamples {
  index_t n = 0;                       ///< samples
  std::int32_t* query_row = nullptr;   ///< [n] row of the [B*L] decoder states that represents the sample
  std::int32_t* targets = nullptr;     ///< [n] next item (0 = none)
  std::int32_t* offsets = nullptr;     ///< [n + 1] segment of each sample's interest ids
  std::int32_t* ids = nullptr;         ///< [offsets[n]] interest ids in 1..K (0 is the padding row)
  std::int32_t* query_offsets = nullptr;  ///< [n + 1] = 0, 1, ..., n (one decoder query per sample)
  index_t tokens() const { return offsets[n]; }
};

/// De-duplicating interest sets with a stamp per cluster (no per-sample allocation).
class InterestIndex {
 public:
  /// Sizes the stamp table for interest ids up to `max_id`.
  void reserve(index_t max_id) {
    if (static_cast<index_t>(seen_.size()) < max_id + 1) seen_.resize(static_cast<std::size_t>(max_id + 1), 0);
  }

  /// Builds the samples of a left- or right-padded batch.
  /// @param lookup  [M, n_items + 1] interest id of each (modality, item) token, 0 = missing token
  /// @param prefixes  true: one sample per real position with a target (the prefix ending there);
  ///                  false: one sample per row, at its last real position
  template <class T>
  InterestSamples build(Tape<T>& t, const SequenceView& s, const std::int32_t* targets, bool prefixes,
                        const Tensor<T>& lookup) {
    const index_t B = s.batch, L = s.length, M = lookup.dim(0), rows = lookup.dim(1);
    std::int32_t* set = t.template alloc_n<std::int32_t>(std::max<index_t>(L * M, 1));
    // Pass 1 counts, pass 2 fills: the walk is cheap next to the model.
    InterestSamples out;
    index_t n = 0, total = 0;
    for (int pass = 0; pass < 2; ++pass) {
      n = 0;
      total = 0;
      for (index_t b = 0; b < B; ++b) {
        const std::uint32_t stamp = next_stamp();
        index_t size = 0, last = -1;
        for (index_t j = 0; j < L; ++j)
          if (s.mask[b * L + j]) last = j;
        for (index_t j = 0; j < L; ++j) {
          const index_t i = b * L + j;
          if (!s.mask[i]) continue;
          const std::int32_t item = s.items[i];
          if (item < 0 || item >= rows)
            throw ShapeError("MISSRec: item " + std::to_string(item) + " at row " + std::to_string(b) +
                             " is outside the domain's " + std::to_string(rows - 1) + " items");
          for (index_t m = 0; m < M; ++m) {
            const auto c = static_cast<std::int32_t>(lookup[m * rows + item]);
            if (c > 0 && seen_[static_cast<std::size_t>(c)] != stamp) {
              seen_[static_cast<std::size_t>(c)] = stamp;
              set[size++] = c;
            }
          }
          const bool emit = prefixes ? (targets && targets[i] > 0) : j == last;
          if (!emit) continue;
          if (pass == 1) {
            out.query_row[n] = static_cast<std::int32_t>(i);
            out.targets[n] = targets ? targets[i] : 0;
            out.offsets[n] = static_cast<std::int32_t>(total);
            std::copy_n(set, size, out.ids + total);
          }
          ++n;
          total += size;
        }
        if (!prefixes && last < 0) {  // a row without items still gets a (query-only) sample
          if (pass == 1) {
            out.query_row[n] = static_cast<std::int32_t>(b * L + L - 1);
            out.targets[n] = 0;
            out.offsets[n] = static_cast<std::int32_t>(total);
          }
          ++n;
        }
      }
      if (pass == 0) {
        out.n = n;
        out.query_row = t.template alloc_n<std::int32_t>(std::max<index_t>(n, 1));
        out.targets = t.template alloc_n<std::int32_t>(std::max<index_t>(n, 1));
        out.offsets = t.template alloc_n<std::int32_t>(n + 1);
        out.ids = t.template alloc_n<std::int32_t>(std::max<index_t>(total, 1));
        out.query_offsets = t.template alloc_n<std::int32_t>(n + 1);
        for (index_t q = 0; q <= n; ++q) out.query_offsets[q] = static_cast<std::int32_t>(q);
      }
    }
    out.offsets[n] = static_cast<std::int32_t>(total);
    return out;
  }

 private:
  std::uint32_t next_stamp() {
    if (++stamp_ == 0) {  // wrapped: old stamps could collide
      std::fill(seen_.begin(), seen_.end(), 0u);
      stamp_ = 1;
    }
    return stamp_;
  }
  std::vector<std::uint32_t> seen_;
  std::uint32_t stamp_ = 0;
};

/// Result of one interest discovery.
template <class T>
struct InterestClusters {
  Tensor<T> centroids;                   ///< [K, d]
  std::vector<std::int32_t> assignment;  ///< [tokens] cluster (0-based) of each present token
  double inertia = 0;
};

/// Mini-batch k-means over the rows of `tokens` [P, d] (present modality
/// tokens only) with K clusters, ceil(epochs * P / batch) steps, k-means++ init.
template <class T>
InterestClusters<T> cluster_tokens(const Tensor<T>& tokens, index_t K, int epochs, index_t batch, std::uint64_t seed) {
  const index_t P = tokens.dim(0), d = tokens.dim(1);
  numeric::KMeansOptions o;
  o.k = K;
  o.algorithm = numeric::KMeansAlgorithm::minibatch;
  o.init = numeric::KMeansInit::kmeans_plus_plus;
  o.batch_size = std::min(batch, P);
  o.max_iter = static_cast<int>(std::max<index_t>(1, (static_cast<index_t>(epochs) * P + o.batch_size - 1) / o.batch_size));
  o.tol = 0.0;
  o.seed = seed;
  numeric::KMeansResult<T> r = numeric::kmeans(tokens.data(), P, d, o);
  return {r.centroids, std::move(r.assignment), r.inertia};
}

}  // namespace metarec::multimodal
