#include <doctest/doctest.h>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/tensor_ops.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

namespace {
Tensor<double> iota(Shape s) {
  Tensor<double> t(s);
  for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<double>(i);
  return t;
}
}  // namespace

TEST_CASE("permute: rank 3 and 4 values follow the order") {
  Tape<double> t;
  auto x4 = t.leaf(iota({2, 3, 4, 5}));  // [B, L, H, dh]
  auto y = ops::permute(x4, {0, 2, 1, 3});  // [B, H, L, dh]
  CHECK(y.shape() == Shape{2, 4, 3, 5});
  const auto& xv = x4.value();
  const auto& yv = y.value();
  bool ok = true;
  for (index_t b = 0; b < 2; ++b)
    for (index_t l = 0; l < 3; ++l)
      for (index_t h = 0; h < 4; ++h)
        for (index_t k = 0; k < 5; ++k)
          ok = ok && yv[((b * 4 + h) * 3 + l) * 5 + k] == xv[((b * 3 + l) * 4 + h) * 5 + k];
  CHECK(ok);
  auto z = ops::permute(x4, {3, 1, 0, 2});  // output dim k = input dim order[k]
  CHECK(z.shape() == Shape{5, 3, 2, 4});
  CHECK(z.value()[((4 * 3 + 2) * 2 + 1) * 4 + 3] == xv[((1 * 3 + 2) * 4 + 3) * 5 + 4]);
  auto x3 = t.leaf(iota({2, 3, 4}));
  auto w = ops::permute(x3, {2, 0, 1});
  CHECK(w.shape() == Shape{4, 2, 3});
  CHECK(w.value()[(3 * 2 + 1) * 3 + 2] == x3.value()[(1 * 3 + 2) * 4 + 3]);
  CHECK(ops::permute(x3, {0, 1, 2}).id == x3.id);  // identity: no copy, no node
}

TEST_CASE("permute: gradients for rank 2, 3 and 4 (with unit dims)") {
  Rng rng(31);
  auto check = [&](Shape s, auto perm) {
    auto r = gradcheck([&](Tape<double>&, Inputs v) { return perm(v[0]); }, {random_tensor(s, rng)});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, s.str() << ": " << r.str());
  };
  check({3, 4}, [](V v) { return ops::permute(v, {1, 0}); });
  check({2, 3, 4}, [](V v) { return ops::permute(v, {0, 2, 1}); });
  check({2, 3, 4}, [](V v) { return ops::permute(v, {2, 0, 1}); });
  check({2, 3, 1, 5}, [](V v) { return ops::permute(v, {0, 2, 1, 3}); });
  check({2, 1, 3, 2}, [](V v) { return ops::permute(v, {3, 2, 0, 1}); });
  // Round trip [B,L,H,dh] -> [B,H,L,dh] -> back is the identity.
  Tape<double> t;
  auto x = t.leaf(random_tensor({2, 3, 4, 5}, rng));
  auto back = ops::permute(ops::permute(x, {0, 2, 1, 3}), {0, 2, 1, 3});
  for (index_t i = 0; i < x.value().size(); ++i) REQUIRE(back.value()[i] == x.value()[i]);
}

TEST_CASE("permute: bad permutations are rejected") {
  Tape<float> t;
  auto x = t.leaf(Tensor<float>({2, 3, 4}));
  CHECK_THROWS_WITH(ops::permute(x, {0, 0, 1}),
                    doctest::Contains("permute: order (0, 0, 1) is not a permutation of the 3 dimensions of [2, 3, 4]"));
  CHECK_THROWS_AS(ops::permute(x, {0, 1}), ShapeError);
  CHECK_THROWS_AS(ops::permute(x, {0, 1, 3}), ShapeError);
  CHECK_THROWS_AS(ops::permute(x, {-1, 0, 1}), ShapeError);
  CHECK_THROWS_AS(ops::permute(x, {0, 1, 2, 3}), ShapeError);
}

TEST_CASE("slice: values and gradients along every dim, views along the outermost") {
  Rng rng(32);
  Tape<double> t;
  auto x = t.leaf(iota({3, 4, 5}));
  auto s0 = ops::slice(x, 0, 1, 3);
  CHECK(s0.shape() == Shape{2, 4, 5});
  CHECK(s0.value().data() == x.value().data() + 20);  // a view
  auto s1 = ops::slice(x, 1, 1, 3);
  CHECK(s1.shape() == Shape{3, 2, 5});
  CHECK(s1.value()[(2 * 2 + 1) * 5 + 4] == x.value()[(2 * 4 + 2) * 5 + 4]);
  auto s2 = ops::slice(x, -1, 4, 5);
  CHECK(s2.shape() == Shape{3, 4, 1});
  CHECK(s2.value()[7] == x.value()[7 * 5 + 4]);
  CHECK(ops::slice(x, 2, 2, 2).value().size() == 0);

  auto xr = random_tensor({3, 4, 5}, rng);
  for (auto [dim, b, e] : {std::tuple{0, 1, 3}, std::tuple{1, 0, 1}, std::tuple{2, 1, 4}, std::tuple{-1, 0, 5},
                           std::tuple{-2, 2, 4}}) {
    auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::slice(v[0], dim, b, e); }, {xr});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, "dim " << dim << ": " << r.str());
  }
  // Overlapping slices of one input accumulate.
  auto r = gradcheck([](Tape<double>&, Inputs v) {
    return ops::mul(ops::slice(v[0], 1, 0, 3), ops::slice(v[0], 1, 1, 4));
  }, {xr});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
}

TEST_CASE("slice: bad ranges and dims") {
  Tape<float> t;
  auto x = t.leaf(Tensor<float>({2, 3}));
  CHECK_THROWS_WITH(ops::slice(x, 1, 2, 4), doctest::Contains("slice: range [2, 4) along dim 1 is out of bounds for shape [2, 3]"));
  CHECK_THROWS_AS(ops::slice(x, 1, 2, 1), ShapeError);
  CHECK_THROWS_AS(ops::slice(x, 0, -1, 1), ShapeError);
  CHECK_THROWS_WITH(ops::slice(x, 2, 0, 1), doctest::Contains("slice: dim 2 is out of range for shape [2, 3]"));
  CHECK_THROWS_AS(ops::slice(x, -3, 0, 1), ShapeError);
}

TEST_CASE("concat: values along several dims, inverse of slice") {
  Tape<double> t;
  auto a = t.leaf(iota({2, 3, 2}));
  auto b = t.leaf(iota({2, 1, 2}));
  auto c = ops::concat({a, b}, 1);
  CHECK(c.shape() == Shape{2, 4, 2});
  CHECK(c.value()[(1 * 4 + 3) * 2 + 1] == b.value()[(1 * 1 + 0) * 2 + 1]);
  CHECK(c.value()[(1 * 4 + 2) * 2 + 0] == a.value()[(1 * 3 + 2) * 2 + 0]);
  auto back = ops::slice(c, 1, 0, 3);
  for (index_t i = 0; i < a.value().size(); ++i) REQUIRE(back.value()[i] == a.value()[i]);
  auto d = ops::concat({a, a, a}, -1);
  CHECK(d.shape() == Shape{2, 3, 6});
  CHECK(d.value()[5] == a.value()[1]);
  std::vector<V> one{a};
  CHECK(ops::concat(one, 0).shape() == a.shape());
}

TEST_CASE("concat: gradients along every dim, repeated and many (> 4) inputs") {
  Rng rng(33);
  auto a = random_tensor({2, 3, 4}, rng), b = random_tensor({2, 3, 1}, rng), c = random_tensor({2, 3, 3}, rng);
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::concat({v[0], v[1], v[2]}, 2); }, {a, b, c});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  auto p = random_tensor({1, 3, 4}, rng), q = random_tensor({2, 2, 4}, rng);
  r = gradcheck([](Tape<double>&, Inputs v) { return ops::concat({v[0], v[1]}, 0); }, {a, p});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  r = gradcheck([](Tape<double>&, Inputs v) { return ops::concat({v[1], v[0], v[1]}, 1); }, {a, q});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  // Six inputs (more than a node's four input slots); only some want gradients.
  std::vector<Tensor<double>> many;
  for (int i = 0; i < 6; ++i) many.push_back(random_tensor({2, static_cast<index_t>(i % 3 + 1)}, rng));
  auto f = [](Tape<double>&, Inputs v) { return ops::concat(v, 1); };
  r = gradcheck(f, many);
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  r = gradcheck(f, many, {false, false, false, false, false, true});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  Tape<double> t;
  std::vector<V> vs;
  for (auto& m : many) vs.push_back(t.leaf(m, true));
  auto y = ops::concat(vs, 1);
  t.backward(ops::sum(y));
  CHECK(t.grad_of(vs[5])[0] == 1.0);
}

TEST_CASE("concat: mismatched shapes and empty lists are rejected") {
  Tape<float> t;
  auto a = t.leaf(Tensor<float>({2, 3})), b = t.leaf(Tensor<float>({3, 3})), c = t.leaf(Tensor<float>({2, 3, 1}));
  CHECK_THROWS_WITH(ops::concat({a, b}, 1), doctest::Contains("concat: input 1 has shape [3, 3], incompatible with [2, 3] along dim 1"));
  CHECK(ops::concat({a, b}, 0).shape() == Shape{5, 3});
  CHECK_THROWS_AS(ops::concat({a, c}, 0), ShapeError);
  CHECK_THROWS_AS(ops::concat({a, b}, 2), ShapeError);
  CHECK_THROWS_AS(ops::concat(std::span<const Var<float>>(), 0), ShapeError);
}
