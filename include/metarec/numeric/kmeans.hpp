#pragma once
/// @file kmeans.hpp
/// Euclidean k-means: k-means++ (Arthur & Vassilvitskii 2007) or random
/// init, full-batch Lloyd or mini-batch (Sculley 2010) updates. Used by the
/// product quantizer (VQ-Rec), by MultiHeadVQ's nearest-codeword search and
/// by MISSRec's interest discovery.
///
/// Determinism: results depend only on the data and the seed, never on the
/// thread count. Assignments are per point (parallel, independent);
/// centroid sums visit each cluster's points in index order (points are
/// bucketed by cluster first, then clusters are summed in parallel); every
/// random draw happens on one thread.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::numeric {

/// Rows per block of the blocked nearest-centroid search (scratch = block x k per thread).
inline constexpr index_t nearest_block = 64;

/// Scratch elements `nearest_centroids` needs for k centroids.
inline index_t nearest_scratch_size(index_t k) { return static_cast<index_t>(num_threads()) * nearest_block * k; }

/// ||c_j||^2 for the k rows of c [k, dim] (row stride ldc).
template <class T>
void row_norms(const T* c, index_t k, index_t dim, index_t ldc, T* out) {
  for (index_t j = 0; j < k; ++j) {
    T s = 0;
    for (index_t e = 0; e < dim; ++e) s += c[j * ldc + e] * c[j * ldc + e];
    out[j] = s;
  }
}

/// For each row of x [n, dim] (row stride ldx): index of the nearest row of
/// c [k, dim] (row stride ldc), the first one on ties, and optionally the
/// exact squared distance. The search is a GEMM per block of rows,
/// argmin_j ||c_j||^2 - 2 <x, c_j> (||x||^2 is constant per row); the
/// winner's distance is then recomputed exactly (no cancellation).
/// @param c_norm   ||c_j||^2 (row_norms)
/// @param scratch  nearest_scratch_size(k) elements
template <class T>
void nearest_centroids(const T* x, index_t n, index_t dim, index_t ldx, const T* c, index_t k, index_t ldc,
                       const T* c_norm, std::int32_t* out, T* dist, T* scratch) {
  const index_t blocks = (n + nearest_block - 1) / nearest_block;
  const int threads = num_threads();
  (void)threads;
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (n * k * dim >= parallel_grain)
#endif
  for (index_t b = 0; b < blocks; ++b) {
    T* s = scratch + static_cast<index_t>(thread_id()) * nearest_block * k;
    const index_t r0 = b * nearest_block, rows = std::min(nearest_block, n - r0);
    // Eigen runs single-threaded inside a parallel region.
    gemm<T>(false, true, rows, k, dim, T(-2), x + r0 * ldx, ldx, c, ldc, T(0), s, k);
    for (index_t i = 0; i < rows; ++i) {
      const T* si = s + i * k;
      index_t best = 0;
      T bv = si[0] + c_norm[0];
      for (index_t j = 1; j < k; ++j) {
        const T v = si[j] + c_norm[j];
        if (v < bv) { bv = v; best = j; }
      }
      out[r0 + i] = static_cast<std::int32_t>(best);
      if (dist) {
        const T* xi = x + (r0 + i) * ldx;
        const T* cj = c + best * ldc;
        T acc = 0;
        for (index_t e = 0; e < dim; ++e) acc += (xi[e] - cj[e]) * (xi[e] - cj[e]);
        dist[r0 + i] = acc;
      }
    }
  }
}

enum class KMeansInit { kmeans_plus_plus, random };
enum class KMeansAlgorithm { lloyd, minibatch };

struct KMeansOptions {
  index_t k = 8;
  int max_iter = 100;        ///< Lloyd iterations, or mini-batch steps
  double tol = 1e-4;         ///< stop when inertia improves by less than tol (relative); mini-batch: centre shift
  KMeansInit init = KMeansInit::kmeans_plus_plus;
  KMeansAlgorithm algorithm = KMeansAlgorithm::lloyd;
  index_t batch_size = 1024; ///< mini-batch size
  std::uint64_t seed = 0;

  void validate(index_t n, index_t dim) const {
    if (n < 1 || dim < 1)
      throw ShapeError("kmeans: need at least one point of dimension >= 1, got n = " + std::to_string(n) +
                       ", dim = " + std::to_string(dim));
    if (k < 1 || k > n)
      throw ConfigError("kmeans: k = " + std::to_string(k) + " is out of range [1, n = " + std::to_string(n) + "]");
    check_range("kmeans: max_iter", max_iter, 1, 1 << 30);
    check_range("kmeans: tol", tol, 0.0, 1.0);
    check_range<index_t>("kmeans: batch_size", batch_size, 1, index_t(1) << 40);
  }
};

template <class T>
struct KMeansResult {
  Tensor<T> centroids;                   ///< [k, dim]
  std::vector<std::int32_t> assignment;  ///< [n] cluster of each point
  double inertia = 0;                    ///< sum of squared distances to the assigned centroid
  int iterations = 0;
  index_t reseeded = 0;                  ///< empty clusters re-seeded from far points
};

namespace detail {

/// Nearest-centroid assignment of all points plus inertia (summed in index order).
template <class T>
double assign_all(const T* x, index_t n, index_t dim, const Tensor<T>& c, std::vector<std::int32_t>& assign,
                  std::vector<T>& dist, std::vector<T>& norms, std::vector<T>& scratch) {
  const index_t k = c.dim(0);
  row_norms(c.data(), k, dim, dim, norms.data());
  nearest_centroids(x, n, dim, dim, c.data(), k, dim, norms.data(), assign.data(), dist.data(), scratch.data());
  double inertia = 0;
  for (index_t i = 0; i < n; ++i) inertia += static_cast<double>(dist[static_cast<std::size_t>(i)]);
  return inertia;
}

/// Re-seeds every empty cluster with the point currently farthest from its
/// centroid (distinct points, largest distance first, lower index on ties),
/// moving that point to the new cluster. Returns how many were re-seeded.
template <class T>
index_t reseed_empty(const T* x, index_t n, index_t dim, const Tensor<T>& c, std::vector<std::int32_t>& assign,
                     std::vector<T>& dist) {
  const index_t k = c.dim(0);
  std::vector<index_t> count(static_cast<std::size_t>(k), 0);
  for (index_t i = 0; i < n; ++i) ++count[static_cast<std::size_t>(assign[static_cast<std::size_t>(i)])];
  std::vector<index_t> order;
  index_t next = 0, reseeded = 0;
  for (index_t j = 0; j < k; ++j) {
    if (count[static_cast<std::size_t>(j)] > 0) continue;
    if (order.empty()) {
      order.resize(static_cast<std::size_t>(n));
      std::iota(order.begin(), order.end(), index_t(0));
      std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
        return dist[static_cast<std::size_t>(a)] > dist[static_cast<std::size_t>(b)];
      });
    }
    // Take the farthest point whose cluster would not become empty.
    while (next < n && count[static_cast<std::size_t>(assign[static_cast<std::size_t>(order[static_cast<std::size_t>(next)])])] <= 1) ++next;
    if (next >= n) break;  // fewer distinct points than clusters
    const index_t p = order[static_cast<std::size_t>(next++)];
    --count[static_cast<std::size_t>(assign[static_cast<std::size_t>(p)])];
    ++count[static_cast<std::size_t>(j)];
    assign[static_cast<std::size_t>(p)] = static_cast<std::int32_t>(j);
    dist[static_cast<std::size_t>(p)] = 0;
    std::copy_n(x + p * dim, dim, c.data() + j * dim);
    ++reseeded;
  }
  return reseeded;
}

/// Centroids = means of their points (clusters bucketed, then summed in index order).
template <class T>
void update_means(const T* x, index_t n, index_t dim, const Tensor<T>& c, const std::vector<std::int32_t>& assign) {
  const index_t k = c.dim(0);
  std::vector<index_t> start(static_cast<std::size_t>(k + 1), 0), members(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) ++start[static_cast<std::size_t>(assign[static_cast<std::size_t>(i)]) + 1];
  for (index_t j = 0; j < k; ++j) start[static_cast<std::size_t>(j + 1)] += start[static_cast<std::size_t>(j)];
  std::vector<index_t> fill(start.begin(), start.end() - 1);
  for (index_t i = 0; i < n; ++i) members[static_cast<std::size_t>(fill[static_cast<std::size_t>(assign[static_cast<std::size_t>(i)])]++)] = i;
  METAREC_PARALLEL_FOR(n * dim)
  for (index_t j = 0; j < k; ++j) {
    const index_t a = start[static_cast<std::size_t>(j)], b = start[static_cast<std::size_t>(j + 1)];
    if (a == b) continue;  // empty: keep the old centroid (reseed_empty handles it)
    std::vector<double> acc(static_cast<std::size_t>(dim), 0.0);
    for (index_t m = a; m < b; ++m) {
      const T* xi = x + members[static_cast<std::size_t>(m)] * dim;
      for (index_t e = 0; e < dim; ++e) acc[static_cast<std::size_t>(e)] += static_cast<double>(xi[e]);
    }
    for (index_t e = 0; e < dim; ++e) c.data()[j * dim + e] = static_cast<T>(acc[static_cast<std::size_t>(e)] / static_cast<double>(b - a));
  }
}

template <class T>
void init_centroids(const T* x, index_t n, index_t dim, const KMeansOptions& o, Rng& rng, const Tensor<T>& c) {
  const index_t k = o.k;
  if (o.init == KMeansInit::random) {  // k distinct points (partial Fisher-Yates)
    std::vector<index_t> idx(static_cast<std::size_t>(n));
    std::iota(idx.begin(), idx.end(), index_t(0));
    for (index_t j = 0; j < k; ++j) {
      const index_t r = j + static_cast<index_t>(rng.below(static_cast<std::uint64_t>(n - j)));
      std::swap(idx[static_cast<std::size_t>(j)], idx[static_cast<std::size_t>(r)]);
      std::copy_n(x + idx[static_cast<std::size_t>(j)] * dim, dim, c.data() + j * dim);
    }
    return;
  }
  // k-means++: next centre drawn with probability proportional to D(x)^2.
  std::vector<double> d2(static_cast<std::size_t>(n), std::numeric_limits<double>::infinity());
  index_t pick = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(n)));
  for (index_t j = 0; j < k; ++j) {
    std::copy_n(x + pick * dim, dim, c.data() + j * dim);
    const T* cj = c.data() + j * dim;
    METAREC_PARALLEL_FOR(n * dim)
    for (index_t i = 0; i < n; ++i) {
      double s = 0;
      for (index_t e = 0; e < dim; ++e) {
        const double v = static_cast<double>(x[i * dim + e]) - static_cast<double>(cj[e]);
        s += v * v;
      }
      d2[static_cast<std::size_t>(i)] = std::min(d2[static_cast<std::size_t>(i)], s);
    }
    if (j + 1 == k) break;
    double total = 0;
    for (double v : d2) total += v;
    if (!(total > 0)) {  // all points coincide with centres: take any point
      pick = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(n)));
      continue;
    }
    double u = rng.uniform() * total;
    pick = n - 1;
    for (index_t i = 0; i < n; ++i) {
      u -= d2[static_cast<std::size_t>(i)];
      if (u < 0 && d2[static_cast<std::size_t>(i)] > 0) { pick = i; break; }
    }
  }
}

}  // namespace detail

/// k-means of the n rows of x [n, dim] (row-major). Empty clusters are
/// re-seeded from the farthest points; the final assignment and inertia are
/// those of the returned centroids.
template <class T>
KMeansResult<T> kmeans(const T* x, index_t n, index_t dim, const KMeansOptions& o) {
  o.validate(n, dim);
  if (x == nullptr) throw ShapeError("kmeans: data pointer is null");
  Rng rng(o.seed);
  KMeansResult<T> r;
  r.centroids = Tensor<T>(Shape{o.k, dim});
  r.assignment.assign(static_cast<std::size_t>(n), 0);
  std::vector<T> dist(static_cast<std::size_t>(n)), norms(static_cast<std::size_t>(o.k)),
      scratch(static_cast<std::size_t>(nearest_scratch_size(o.k)));
  detail::init_centroids(x, n, dim, o, rng, r.centroids);
  const Tensor<T>& c = r.centroids;
  if (o.algorithm == KMeansAlgorithm::lloyd) {
    double prev = std::numeric_limits<double>::infinity();
    for (int it = 0; it < o.max_iter; ++it) {
      detail::assign_all(x, n, dim, c, r.assignment, dist, norms, scratch);
      r.reseeded += detail::reseed_empty(x, n, dim, c, r.assignment, dist);
      detail::update_means(x, n, dim, c, r.assignment);
      r.iterations = it + 1;
      double inertia = 0;
      for (T v : dist) inertia += static_cast<double>(v);
      if (prev - inertia <= o.tol * std::max(inertia, 1e-300)) break;
      prev = inertia;
    }
  } else {
    // Sculley (2010): per-centre learning rate 1 / (points seen by the centre).
    const index_t b = std::min(o.batch_size, n);
    std::vector<index_t> counts(static_cast<std::size_t>(o.k), 0), batch(static_cast<std::size_t>(b));
    std::vector<T> xb(static_cast<std::size_t>(b * dim)), db(static_cast<std::size_t>(b));
    std::vector<std::int32_t> ab(static_cast<std::size_t>(b));
    for (int it = 0; it < o.max_iter; ++it) {
      for (index_t i = 0; i < b; ++i) {
        batch[static_cast<std::size_t>(i)] = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(n)));
        std::copy_n(x + batch[static_cast<std::size_t>(i)] * dim, dim, xb.data() + i * dim);
      }
      row_norms(c.data(), o.k, dim, dim, norms.data());
      nearest_centroids(xb.data(), b, dim, dim, c.data(), o.k, dim, norms.data(), ab.data(), db.data(), scratch.data());
      double shift = 0, scale = 0;
      for (index_t i = 0; i < b; ++i) {
        const index_t j = ab[static_cast<std::size_t>(i)];
        const double eta = 1.0 / static_cast<double>(++counts[static_cast<std::size_t>(j)]);
        T* cj = c.data() + j * dim;
        for (index_t e = 0; e < dim; ++e) {
          const double step = eta * (static_cast<double>(xb[static_cast<std::size_t>(i * dim + e)]) - cj[e]);
          cj[e] = static_cast<T>(cj[e] + step);
          shift += step * step;
        }
      }
      for (index_t e = 0; e < o.k * dim; ++e) scale += static_cast<double>(c.data()[e]) * c.data()[e];
      r.iterations = it + 1;
      if (shift <= o.tol * o.tol * std::max(scale, 1e-300)) break;
    }
    detail::assign_all(x, n, dim, c, r.assignment, dist, norms, scratch);
    if ((r.reseeded = detail::reseed_empty(x, n, dim, c, r.assignment, dist)) > 0) {
      detail::update_means(x, n, dim, c, r.assignment);  // one Lloyd step to settle the re-seeded centres
    }
  }
  detail::assign_all(x, n, dim, c, r.assignment, dist, norms, scratch);
  r.reseeded += detail::reseed_empty(x, n, dim, c, r.assignment, dist);  // no cluster is left empty
  r.inertia = 0;
  for (T v : dist) r.inertia += static_cast<double>(v);
  return r;
}

}  // namespace metarec::numeric
