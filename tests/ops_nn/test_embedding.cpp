#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/embedding.hpp"
#include "metarec/core/parallel.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

TEST_CASE("embedding: gathers rows into ids_shape + [d]") {
  Tape<double> t;
  Tensor<double> table({4, 3});
  for (index_t i = 0; i < 12; ++i) table[i] = static_cast<double>(i);
  std::vector<std::int32_t> ids{3, 0, 3, 1, 2, 0};
  auto y = ops::embedding(t.leaf(table), ids.data(), {2, 3});
  CHECK(y.shape() == Shape{2, 3, 3});
  for (index_t i = 0; i < 6; ++i)
    for (index_t k = 0; k < 3; ++k) REQUIRE(y.value()[i * 3 + k] == table[ids[static_cast<std::size_t>(i)] * 3 + k]);
  CHECK(ops::embedding(t.leaf(table), ids.data(), {1, 2, 3}).shape() == Shape{1, 2, 3, 3});
  CHECK(ops::embedding(t.leaf(table), ids.data(), Shape{0}).shape() == Shape{0, 3});
}

TEST_CASE("embedding: gradients with repeated ids and padding rows") {
  Rng rng(41);
  auto table = random_tensor({5, 4}, rng);
  std::vector<std::int32_t> ids{2, 0, 2, 4, 2, 0, 1, 3};
  auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::embedding(v[0], ids.data(), {2, 4}); }, {table});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  // With padding_idx = 0 row 0 gets nothing; gradcheck must then *fail*
  // (the forward still depends on row 0) unless we check only the other rows.
  r = gradcheck([&](Tape<double>&, Inputs v) { return ops::embedding(v[0], ids.data(), {8}, 0); }, {table});
  CHECK(r.max_rel_error > 0.01);
  CHECK(r.element < 4);  // the mismatch is in row 0
  Tape<double> t(3);
  auto tv = t.leaf(table, true);
  auto y = ops::embedding(tv, ids.data(), {8}, 0);
  CHECK(y.value()[1 * 4] == table[0]);  // padding rows still gather their values
  t.backward(y, random_tensor({8, 4}, rng));
  const auto& g = t.grad_of(tv);
  for (index_t k = 0; k < 4; ++k) CHECK(g[k] == 0.0);
  for (index_t k = 4; k < 20; ++k) CHECK(g[k] != 0.0);
}

TEST_CASE("embedding: gather of a computed (non-parameter) matrix") {
  // Pick the real positions of a [B*L, d] hidden-state matrix, then use them.
  Rng rng(42);
  auto h = random_tensor({6, 3}, rng), w = random_tensor({3}, rng);
  std::vector<std::int32_t> last{2, 5};
  auto r = gradcheck([&](Tape<double>&, Inputs v) {
    auto hidden = ops::mul(v[0], v[1]);
    return ops::embedding(hidden, last.data(), {2});
  }, {h, w});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
}

TEST_CASE("embedding: ids out of range and bad shapes") {
  Tape<float> t;
  auto table = t.leaf(Tensor<float>({5, 2}));
  std::vector<std::int32_t> ids{1, 7, 0};
  CHECK_THROWS_WITH(ops::embedding(table, ids.data(), {3}),
                    doctest::Contains("embedding: id 7 at position 1 is out of range for a table of 5 rows"));
  ids[1] = -1;
  CHECK_THROWS_AS(ops::embedding(table, ids.data(), {3}, -1), ShapeError);
  ids[1] = 5;
  CHECK_THROWS_AS(ops::embedding(table, ids.data(), {3}), ShapeError);
  ids[1] = 4;
  CHECK_THROWS_AS(ops::embedding(t.leaf(Tensor<float>({5})), ids.data(), {3}), ShapeError);
  CHECK_THROWS_AS(ops::embedding(table, ids.data(), {1, 1, 1, 3}), ShapeError);
  CHECK_THROWS_AS(ops::embedding(table, static_cast<const std::int32_t*>(nullptr), {3}), ShapeError);
}

namespace {
/// Runs sum(embedding(p, ids) * R) twice (the table used twice in one step) and back-propagates.
template <class T>
void sparse_step(Tape<T>& t, Parameter<T>& p, const std::vector<std::int32_t>& ids, std::int32_t pad,
                 const Tensor<T>& R) {
  t.reset();
  const Shape s{static_cast<index_t>(ids.size())};
  auto a = ops::embedding(t.param(p), ids.data(), s, pad);
  auto b = ops::embedding(t.param(p), ids.data() + 1, Shape{static_cast<index_t>(ids.size() - 1)}, pad);
  auto la = ops::sum(ops::mul(a, t.leaf(R)));
  auto lb = ops::sum(ops::mul(b, t.leaf(R.slice(1, R.dim(0)))));
  t.backward(ops::add(la, lb));
}
}  // namespace

TEST_CASE("embedding: sparse parameter path touches rows and equals the dense path") {
  Rng rng(43);
  const index_t rows = 9, d = 5;
  Parameter<double> sparse("emb", {rows, d}, true), dense("emb_dense", {rows, d}, false);
  for (index_t i = 0; i < rows * d; ++i) sparse.value[i] = dense.value[i] = rng.uniform(-1, 1);
  std::vector<std::int32_t> ids{4, 1, 4, 0, 7, 1, 0, 4};
  auto R = random_tensor({static_cast<index_t>(ids.size()), d}, rng);
  Tape<double> t;
  sparse_step(t, sparse, ids, 0, R);
  sparse_step(t, dense, ids, 0, R);
  CHECK_FALSE(sparse.dense_grad);
  auto touched = sparse.touched;
  std::sort(touched.begin(), touched.end());
  CHECK(touched == std::vector<std::int32_t>{1, 4, 7});  // each once, no padding row
  for (index_t r = 0; r < rows; ++r) CHECK((sparse.row_mark[static_cast<std::size_t>(r)] != 0) == (r == 4 || r == 1 || r == 7));
  for (index_t i = 0; i < rows * d; ++i) REQUIRE(sparse.grad[i] == dense.grad[i]);
  for (index_t k = 0; k < d; ++k) {
    CHECK(sparse.grad[0 * d + k] == 0.0);  // padding
    CHECK(sparse.grad[2 * d + k] == 0.0);  // never looked up
    CHECK(sparse.grad[4 * d + k] != 0.0);
  }
  // zero_grad clears only the touched rows and the bookkeeping.
  sparse.zero_grad();
  CHECK(sparse.touched.empty());
  for (index_t i = 0; i < rows * d; ++i) REQUIRE(sparse.grad[i] == 0.0);
  // A frozen table gets neither gradient nor touched rows.
  sparse.trainable = false;
  sparse_step(t, sparse, ids, -1, R);
  CHECK(sparse.touched.empty());
}

TEST_CASE("embedding: parallel scatter is deterministic and matches serial accumulation") {
  // Large enough for the threaded path (n * d >= parallel_grain), skewed ids.
  const index_t rows = 300, d = 16, n = 4096;
  Rng rng(44);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (auto& id : ids) id = static_cast<std::int32_t>(rng.bernoulli(0.5) ? rng.below(5) : rng.below(rows));
  Tensor<float> R({n, d});
  for (auto& v : R) v = static_cast<float>(rng.uniform(-1, 1));
  Tensor<float> expect({rows, d});  // serial reference, same summation order (input order)
  for (index_t i = 0; i < n; ++i)
    if (ids[static_cast<std::size_t>(i)] != 3)
      for (index_t k = 0; k < d; ++k) expect[ids[static_cast<std::size_t>(i)] * d + k] += R[i * d + k];
  auto grad = [&](bool sparse_table) {
    Parameter<float> p("emb", {rows, d}, sparse_table);
    Tape<float> t;
    auto y = ops::embedding(t.param(p), ids.data(), {n}, 3);
    t.backward(y, R);
    return p.grad.clone();
  };
  const int threads = num_threads();
  for (int nt : {1, 2, 3}) {
    set_num_threads(nt);
    for (bool sp : {true, false}) {
      auto g = grad(sp);
      for (index_t i = 0; i < rows * d; ++i)
        if (g[i] != expect[i]) FAIL("threads " << nt << " sparse " << sp << ": element " << i);
    }
  }
  set_num_threads(threads);
}
