#include <doctest/doctest.h>

#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/core/workspace.hpp"

using namespace metarec;

TEST_CASE("tensor: shape, views share storage, clone copies") {
  Tensor<float> t({2, 3, 4});
  CHECK(t.size() == 24);
  CHECK(t.rows() == 6);
  CHECK(t.cols() == 4);
  auto v = t.reshape({6, 4});
  v[5] = 3.f;
  CHECK(t[5] == 3.f);
  auto s = t.slice(1, 2);
  CHECK(s.shape() == Shape{1, 3, 4});
  CHECK(s.data() == t.data() + 12);
  auto a = t.at(1);
  CHECK(a.shape() == Shape{3, 4});
  auto c = t.clone();
  c[5] = 0.f;
  CHECK(t[5] == 3.f);
  CHECK_THROWS_AS(t.reshape({5, 5}), ShapeError);
  CHECK_THROWS_AS(t.slice(1, 3), ShapeError);
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5}), ShapeError);
  CHECK(reinterpret_cast<std::uintptr_t>(Tensor<double>({3}).data()) % 64 == 0);
}

TEST_CASE_TEMPLATE("gemm: all transpose combinations against a naive product", T, float, double) {
  Rng rng(3);
  const index_t M = 5, N = 7, K = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor<T> a(ta ? Shape{K, M} : Shape{M, K}), b(tb ? Shape{N, K} : Shape{K, N}), c({M, N}, T(1));
      for (auto& x : a) x = static_cast<T>(rng.uniform(-1, 1));
      for (auto& x : b) x = static_cast<T>(rng.uniform(-1, 1));
      gemm<T>(ta, tb, M, N, K, T(2), a.data(), a.cols(), b.data(), b.cols(), T(0.5), c.data(), N);
      for (index_t i = 0; i < M; ++i)
        for (index_t j = 0; j < N; ++j) {
          double ref = 0.5;
          for (index_t k = 0; k < K; ++k)
            ref += 2.0 * (ta ? a(k, i) : a(i, k)) * (tb ? b(j, k) : b(k, j));
          CHECK(c(i, j) == doctest::Approx(ref).epsilon(1e-5));
        }
    }
}

TEST_CASE("workspace: merges blocks so later resets allocate nothing") {
  Workspace ws;
  for (int step = 0; step < 3; ++step) {
    ws.reset();
    for (int i = 0; i < 10; ++i) {
      auto t = ws.tensor<float>({1000, 100});
      CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    }
  }
  const auto n = ws.heap_allocations();
  ws.reset();
  for (int i = 0; i < 10; ++i) ws.tensor<float>({1000, 100});
  CHECK(ws.heap_allocations() == n);
}

TEST_CASE("rng: seeded streams are reproducible and roughly uniform/normal") {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) CHECK(a.next() == b.next());
  CHECK(a.next() != c.next());
  Rng r(1);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double z = r.normal();
    s += z;
    s2 += z * z;
  }
  CHECK(std::abs(s / n) < 0.01);
  CHECK(std::abs(s2 / n - 1) < 0.02);
  std::vector<int> hist(10, 0);
  for (int i = 0; i < 100000; ++i) ++hist[r.below(10)];
  for (int h : hist) CHECK(std::abs(h - 10000) < 500);
}

TEST_CASE("gemm: long shared dimension (split across threads) matches a naive product") {
  Rng rng(9);
  const index_t M = 5, N = 7, K = 3001;
  Tensor<double> a({K, M}), b({K, N}), c({M, N}, 1.0);
  for (auto& x : a) x = rng.uniform(-1, 1);
  for (auto& x : b) x = rng.uniform(-1, 1);
  const int before = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    Tensor<double> out = c.clone();
    gemm<double>(true, false, M, N, K, 0.5, a.data(), M, b.data(), N, 2.0, out.data(), N);
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) {
        double ref = 2.0;
        for (index_t k = 0; k < K; ++k) ref += 0.5 * a(k, i) * b(k, j);
        CHECK(out(i, j) == doctest::Approx(ref).epsilon(1e-10));
      }
  }
  set_num_threads(before);
}
