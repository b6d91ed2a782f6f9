#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/activation.hpp"
#include "metarec/autograd/ops/softmax.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

namespace {
template <class T>
Tensor<T> vec(std::initializer_list<double> v, Shape s = {}) {
  Tensor<T> t(s.rank ? s : Shape{static_cast<index_t>(v.size())});
  index_t i = 0;
  for (double x : v) t[i++] = static_cast<T>(x);
  return t;
}
}  // namespace

TEST_CASE("activations: gradients on several shapes") {
  Rng rng(11);
  for (Shape s : {Shape{1}, Shape{3, 5}, Shape{2, 3, 7}}) {
    auto x = random_tensor(s, rng, -3.0, 3.0);
    auto check = [&](auto op) {
      auto r = gradcheck([&](Tape<double>&, Inputs v) { return op(v[0]); }, {x});
      CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    };
    check([](V v) { return ops::relu(v); });
    check([](V v) { return ops::gelu(v); });
    check([](V v) { return ops::tanh(v); });
    check([](V v) { return ops::sigmoid(v); });
  }
}

TEST_CASE("activations: hand-computed values, float and double agree") {
  Tape<double> t;
  auto x = t.leaf(vec<double>({-10, -1, 0, 1, 2, 10}));
  auto g = ops::gelu(x).value();
  CHECK(g[0] == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(g[1] == doctest::Approx(-0.1586553).epsilon(1e-6));
  CHECK(g[2] == 0.0);
  CHECK(g[3] == doctest::Approx(0.8413447).epsilon(1e-6));
  CHECK(g[4] == doctest::Approx(1.9544997).epsilon(1e-6));
  CHECK(g[5] == doctest::Approx(10.0));
  auto r = ops::relu(x).value();
  CHECK(r[1] == 0.0);
  CHECK(r[4] == 2.0);
  CHECK(ops::tanh(x).value()[3] == doctest::Approx(0.7615942));
  CHECK(ops::sigmoid(x).value()[2] == 0.5);
  CHECK(ops::sigmoid(x).value()[4] == doctest::Approx(0.8807971));
  CHECK(ops::sigmoid(x).value()[0] == doctest::Approx(4.5397868e-05));

  Tape<float> tf;  // float uses Eigen's vectorised erf / tanh / logistic
  Rng rng(3);
  Tensor<double> xd = random_tensor({20000}, rng, -6.0, 6.0);
  Tensor<float> xf(xd.shape());
  for (index_t i = 0; i < xd.size(); ++i) xf[i] = static_cast<float>(xd[i]);
  auto xv = t.leaf(xd);
  auto fv = tf.leaf(xf);
  const Tensor<double> ref[] = {ops::gelu(xv).value(), ops::tanh(xv).value(), ops::sigmoid(xv).value()};
  const Tensor<float> got[] = {ops::gelu(fv).value(), ops::tanh(fv).value(), ops::sigmoid(fv).value()};
  for (int k = 0; k < 3; ++k) {
    double worst = 0;
    for (index_t i = 0; i < xd.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(got[k][i]) - ref[k][i]) / std::max(1.0, std::abs(ref[k][i])));
    CHECK_MESSAGE(worst < 2e-6, "activation " << k << " float error " << worst);
  }
}

TEST_CASE("activation backward accumulates and skips inputs without gradient") {
  Tape<double> t;
  auto x = t.leaf(vec<double>({-1, 0.5, 2}), true);
  auto y = ops::add(ops::relu(x), ops::sigmoid(x));  // x used twice
  t.backward(ops::sum(y));
  const auto& g = t.grad_of(x);
  auto s = [](double v) { double e = 1 / (1 + std::exp(-v)); return e * (1 - e); };
  CHECK(g[0] == doctest::Approx(s(-1)));
  CHECK(g[1] == doctest::Approx(1 + s(0.5)));
  CHECK(g[2] == doctest::Approx(1 + s(2)));
  auto c = t.leaf(vec<double>({1, 2}));  // constant: no node backward
  CHECK_FALSE(t.node(ops::gelu(c)).requires_grad);
}

TEST_CASE("softmax / log_softmax: values of [1, 2, 3] and of huge logits") {
  for (double shift : {0.0, 1000.0, -1000.0}) {
    Tape<double> t;
    auto x = t.leaf(vec<double>({1 + shift, 2 + shift, 3 + shift}));
    auto p = ops::softmax(x).value();
    auto lp = ops::log_softmax(x).value();
    CHECK(p[0] == doctest::Approx(0.09003057));
    CHECK(p[1] == doctest::Approx(0.24472847));
    CHECK(p[2] == doctest::Approx(0.66524096));
    CHECK(lp[0] == doctest::Approx(-2.40760596));
    CHECK(lp[2] == doctest::Approx(-0.40760596));
  }
  Tape<float> tf;
  auto p = ops::softmax(tf.leaf(vec<float>({88, 89, 90, 1e4f}))).value();
  CHECK(p[3] == 1.0f);
  CHECK(p[0] == 0.0f);
  auto lp = ops::log_softmax(tf.leaf(vec<float>({1e4f, 1e4f}))).value();
  CHECK(lp[0] == doctest::Approx(-std::log(2.0)));
}

TEST_CASE("softmax / log_softmax: gradients, including rows of large values and length-1 rows") {
  Rng rng(12);
  auto big = random_tensor({3, 6}, rng, 500.0, 510.0);
  for (const auto& x : {random_tensor({4, 7}, rng), random_tensor({2, 3, 5}, rng, -4, 4), random_tensor({5, 1}, rng), big}) {
    auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::softmax(v[0]); }, {x});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    r = gradcheck([](Tape<double>&, Inputs v) { return ops::log_softmax(v[0]); }, {x});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
}

TEST_CASE("softmax: fully masked row is zero, errors on scalars and empty rows") {
  Tape<double> t;
  const double inf = std::numeric_limits<double>::infinity();
  auto p = ops::softmax(t.leaf(vec<double>({-inf, -inf, 0, -inf}, {2, 2}))).value();
  CHECK(p[0] == 0.0);
  CHECK(p[1] == 0.0);
  CHECK(p[2] == 1.0);
  CHECK(p[3] == 0.0);
  CHECK_THROWS_AS(ops::softmax(t.leaf(Tensor<double>(Shape{}))), ShapeError);
  CHECK_THROWS_WITH(ops::log_softmax(t.leaf(Tensor<double>({3, 0}))), doctest::Contains("log_softmax: input [3, 0]"));
}
