#include <doctest/doctest.h>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

TEST_CASE("linear: gradients with and without bias, odd sizes") {
  Rng rng(1);
  for (auto [rows, in, out] : {std::tuple{1, 1, 1}, std::tuple{3, 5, 7}, std::tuple{2, 4, 3}}) {
    auto x = random_tensor({2, rows, in}, rng), w = random_tensor({out, in}, rng), b = random_tensor({out}, rng);
    auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::linear(v[0], v[1], v[2]); }, {x, w, b});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    r = gradcheck([](Tape<double>&, Inputs v) { return ops::linear(v[0], v[1]); }, {x, w});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
}

TEST_CASE("linear: values match a hand computation") {
  Tape<double> t;
  Tensor<double> x({1, 2}), w({2, 2}), b({2});
  x[0] = 1; x[1] = 2;
  w[0] = 1; w[1] = 0; w[2] = 3; w[3] = -1;  // rows = outputs
  b[0] = 0.5; b[1] = -0.5;
  auto y = ops::linear(t.leaf(x), t.leaf(w), t.leaf(b)).value();
  CHECK(y[0] == doctest::Approx(1.5));
  CHECK(y[1] == doctest::Approx(0.5));
}

TEST_CASE("matmul: plain and transposed right operand") {
  Rng rng(2);
  auto a = random_tensor({3, 4}, rng), b = random_tensor({4, 5}, rng), bt = random_tensor({5, 4}, rng);
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::matmul(v[0], v[1]); }, {a, b});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  r = gradcheck([](Tape<double>&, Inputs v) { return ops::matmul(v[0], v[1], true); }, {a, bt});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
}

TEST_CASE("elementwise: same-shape and broadcast add/sub/mul, scale") {
  Rng rng(3);
  auto a = random_tensor({2, 3, 4}, rng), b = random_tensor({2, 3, 4}, rng), c = random_tensor({4}, rng),
       d = random_tensor({3, 4}, rng);
  for (auto& rhs : {b, c, d}) {
    auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::add(v[0], v[1]); }, {a, rhs});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    r = gradcheck([](Tape<double>&, Inputs v) { return ops::sub(v[0], v[1]); }, {a, rhs});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    r = gradcheck([](Tape<double>&, Inputs v) { return ops::mul(v[0], v[1]); }, {a, rhs});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::scale(v[0], -2.5); }, {a});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  // A variable used twice accumulates both gradients.
  r = gradcheck([](Tape<double>&, Inputs v) { return ops::mul(v[0], v[0]); }, {a});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
}

TEST_CASE("reductions and reshape") {
  Rng rng(4);
  auto a = random_tensor({2, 3}, rng);
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::sum(ops::mul(v[0], v[0])); }, {a});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  r = gradcheck([](Tape<double>&, Inputs v) { return ops::mean(v[0]); }, {a});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  r = gradcheck([](Tape<double>&, Inputs v) { return ops::mul(ops::reshape(v[0], {3, 2}), v[1]); },
                {a, random_tensor({2}, rng)});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
}

TEST_CASE("gradcheck detects a wrong gradient") {
  // A deliberately broken op: forward 2x, backward claims 3.
  struct Broken {
    static void bw(Tape<double>& t, Node<double>& n) {
      auto& g = t.grad(n.in[0]);
      for (index_t i = 0; i < g.size(); ++i) g[i] += 3 * n.grad[i];
    }
  };
  Rng rng(5);
  auto r = gradcheck(
      [](Tape<double>& t, Inputs v) {
        auto y = t.alloc(v[0].shape());
        for (index_t i = 0; i < y.size(); ++i) y[i] = 2 * v[0].value()[i];
        return t.record("broken", y, {v[0]}, &Broken::bw);
      },
      {random_tensor({4}, rng)});
  CHECK(r.max_rel_error > 0.1);
}

TEST_CASE("shape errors name the op and the shapes") {
  Tape<float> t;
  auto x = t.leaf(Tensor<float>({2, 3})), w = t.leaf(Tensor<float>({4, 5}));
  CHECK_THROWS_AS(ops::linear(x, w), ShapeError);
  CHECK_THROWS_WITH(ops::add(x, t.leaf(Tensor<float>({2}))), doctest::Contains("add: cannot broadcast [2] to [2, 3]"));
  CHECK_THROWS_AS(ops::matmul(x, t.leaf(Tensor<float>({3}))), ShapeError);
}

TEST_CASE("no-grad mode records no backward; check_finite names the op") {
  Tape<float> t;
  Parameter<float> p("w", {2, 2});
  {
    NoGradGuard<float> g(t);
    auto y = ops::linear(t.leaf(Tensor<float>({1, 2}, 1.f)), t.param(p));
    CHECK_FALSE(t.node(y).requires_grad);
    CHECK_FALSE(static_cast<bool>(t.node(y).backward));
  }
  t.reset();
  t.set_check_finite(true);
  Tensor<float> bad({2}, 1.f);
  bad[1] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(ops::scale(t.leaf(bad), 2.0), doctest::Contains("op 'scale'"));
}

TEST_CASE("parameters: gradients accumulate into Parameter::grad, steady state allocates nothing") {
  Tape<float> t;
  Parameter<float> w("w", {8, 16});
  for (auto& v : w.value) v = 0.01f;
  Tensor<float> x({32, 16}, 1.f);
  std::size_t allocs_after_warmup = 0;
  for (int step = 0; step < 5; ++step) {
    t.reset();
    w.zero_grad();
    auto loss = ops::mean(ops::linear(t.leaf(x), t.param(w)));
    t.backward(loss);
    if (step == 1) allocs_after_warmup = t.workspace().heap_allocations();
  }
  CHECK(t.workspace().heap_allocations() == allocs_after_warmup);
  CHECK(w.grad[0] == doctest::Approx(1.0 / 8));  // d mean / dW = x^T 1 / (32*8) summed over 32 rows
}
