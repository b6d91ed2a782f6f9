#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "metarec/numeric/kmeans.hpp"

using namespace metarec;
using namespace metarec::numeric;

namespace {
/// n points around each of `centres` (well separated), with noise sd 0.05.
std::vector<float> blobs(const std::vector<std::vector<float>>& centres, index_t per, std::vector<int>& truth,
                         std::uint64_t seed = 1) {
  Rng rng(seed);
  std::vector<float> x;
  truth.clear();
  for (index_t i = 0; i < per; ++i)
    for (std::size_t c = 0; c < centres.size(); ++c) {  // interleaved, so order carries no information
      for (float v : centres[c]) x.push_back(v + static_cast<float>(rng.normal(0, 0.05)));
      truth.push_back(static_cast<int>(c));
    }
  return x;
}
const std::vector<std::vector<float>> kCentres{{0, 0, 0}, {5, 0, 0}, {0, 5, 0}, {0, 0, 5}, {5, 5, 5}};

/// Every true cluster maps to exactly one found cluster and vice versa.
void check_recovered(const KMeansResult<float>& r, const std::vector<int>& truth, index_t k) {
  std::vector<int> map(static_cast<std::size_t>(k), -1);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    int& m = map[static_cast<std::size_t>(truth[i])];
    if (m < 0) m = r.assignment[i];
    REQUIRE(m == r.assignment[i]);
  }
  std::set<int> distinct(map.begin(), map.end());
  CHECK(distinct.size() == static_cast<std::size_t>(k));
  for (std::size_t c = 0; c < kCentres.size(); ++c)
    for (index_t e = 0; e < 3; ++e)
      CHECK(r.centroids(map[c], e) == doctest::Approx(kCentres[c][static_cast<std::size_t>(e)]).epsilon(0.05));
}
}  // namespace

TEST_CASE("kmeans: Lloyd and mini-batch recover well-separated clusters") {
  std::vector<int> truth;
  auto x = blobs(kCentres, 200, truth);
  const index_t n = static_cast<index_t>(truth.size());
  for (auto algo : {KMeansAlgorithm::lloyd, KMeansAlgorithm::minibatch})
    for (auto init : {KMeansInit::kmeans_plus_plus, KMeansInit::random}) {
      CAPTURE(static_cast<int>(algo));
      CAPTURE(static_cast<int>(init));
      KMeansOptions o;
      o.k = 5;
      o.algorithm = algo;
      o.init = init;
      o.batch_size = 100;
      o.max_iter = algo == KMeansAlgorithm::lloyd ? 50 : 300;
      o.seed = 3;
      if (init == KMeansInit::random) {
        // Random init can merge two blobs; best of a few seeds, as usual.
        KMeansResult<float> best;
        best.inertia = 1e300;
        for (std::uint64_t s = 0; s < 5; ++s) {
          o.seed = s;
          auto r = kmeans(x.data(), n, 3, o);
          if (r.inertia < best.inertia) best = r;
        }
        check_recovered(best, truth, 5);
      } else {
        auto r = kmeans(x.data(), n, 3, o);
        check_recovered(r, truth, 5);
        CHECK(r.inertia < n * 3 * 0.05 * 0.05 * 1.5);
      }
    }
}

TEST_CASE("kmeans: deterministic for a seed, independent of thread count") {
  std::vector<int> truth;
  auto x = blobs(kCentres, 300, truth, 5);
  const index_t n = static_cast<index_t>(truth.size());
  KMeansOptions o;
  o.k = 7;
  o.seed = 11;
  for (auto algo : {KMeansAlgorithm::lloyd, KMeansAlgorithm::minibatch}) {
    o.algorithm = algo;
    const int before = num_threads();
    set_num_threads(1);
    auto a = kmeans(x.data(), n, 3, o);
    set_num_threads(std::max(2, before));
    auto b = kmeans(x.data(), n, 3, o);
    set_num_threads(before);
    CHECK(a.assignment == b.assignment);
    CHECK(a.iterations == b.iterations);
    for (index_t e = 0; e < a.centroids.size(); ++e) REQUIRE(a.centroids[e] == b.centroids[e]);
    o.seed = 12;
    auto c = kmeans(x.data(), n, 3, o);
    o.seed = 11;
    CHECK(c.inertia > 0);
  }
}

TEST_CASE("kmeans: empty clusters are re-seeded from the farthest points") {
  // 6 points: 5 at the origin (one far away). With random init picking
  // duplicates, some clusters start empty; every cluster must end non-empty.
  std::vector<double> x{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 10};
  KMeansOptions o;
  o.k = 3;
  o.init = KMeansInit::random;
  for (std::uint64_t s = 0; s < 10; ++s) {
    o.seed = s;
    auto r = kmeans(x.data(), 6, 2, o);
    std::vector<int> count(3, 0);
    for (auto a : r.assignment) ++count[static_cast<std::size_t>(a)];
    // Only 2 distinct locations exist, so one cluster holds a duplicate point
    // moved there from the origin group; none is empty.
    for (int c : count) CHECK(c > 0);
    CHECK(r.assignment[5] != r.assignment[0]);
    CHECK(r.inertia == doctest::Approx(0.0));
  }
  // A constructed case: centres 0 and 1 both far from all points -> one empty.
  std::vector<double> y{0, 1, 2, 100, 101, 102};
  o.k = 2;
  o.init = KMeansInit::kmeans_plus_plus;
  auto r = kmeans(y.data(), 6, 1, o);
  CHECK(r.assignment[0] == r.assignment[2]);
  CHECK(r.assignment[3] == r.assignment[5]);
  CHECK(r.assignment[0] != r.assignment[3]);
  CHECK(r.inertia == doctest::Approx(4.0));
}

TEST_CASE("kmeans: nearest_centroids matches brute force") {
  Rng rng(2);
  const index_t n = 150, k = 37, dim = 5;
  std::vector<double> x(n * dim), c(k * dim), norms(k), dist(n), scratch(nearest_scratch_size(k));
  for (auto& v : x) v = rng.uniform(-1, 1);
  for (auto& v : c) v = rng.uniform(-1, 1);
  std::vector<std::int32_t> out(n);
  row_norms(c.data(), k, dim, dim, norms.data());
  nearest_centroids(x.data(), n, dim, dim, c.data(), k, dim, norms.data(), out.data(), dist.data(), scratch.data());
  for (index_t i = 0; i < n; ++i) {
    double best = 1e300;
    index_t bj = -1;
    for (index_t j = 0; j < k; ++j) {
      double s = 0;
      for (index_t e = 0; e < dim; ++e) s += (x[i * dim + e] - c[j * dim + e]) * (x[i * dim + e] - c[j * dim + e]);
      if (s < best) { best = s; bj = j; }
    }
    CHECK(out[i] == bj);
    CHECK(dist[i] == doctest::Approx(best));
  }
}

TEST_CASE("kmeans: bad options") {
  std::vector<float> x(10, 0.f);
  KMeansOptions o;
  o.k = 6;
  CHECK_THROWS_WITH_AS(kmeans(x.data(), 5, 2, o), doctest::Contains("k = 6"), ConfigError);
  o.k = 0;
  CHECK_THROWS_AS(kmeans(x.data(), 5, 2, o), ConfigError);
  o.k = 2;
  CHECK_THROWS_AS(kmeans(x.data(), 0, 2, o), ShapeError);
  o.max_iter = 0;
  CHECK_THROWS_WITH_AS(kmeans(x.data(), 5, 2, o), doctest::Contains("max_iter"), ConfigError);
}
