#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/autograd/ops/normalization.hpp"
#include "metarec/core/parallel.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

TEST_CASE("layer_norm: gradients of x, gamma, beta on odd shapes and many row blocks") {
  Rng rng(21);
  for (Shape s : {Shape{3, 5}, Shape{2, 3, 7}, Shape{1, 1}, Shape{70, 4}}) {
    const index_t d = s.cols();
    auto x = random_tensor(s, rng, -2, 2), g = random_tensor({d}, rng, 0.5, 1.5), b = random_tensor({d}, rng);
    auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::layer_norm(v[0], v[1], v[2]); }, {x, g, b});
    CHECK_MESSAGE(r.max_rel_error < 1e-6, s.str() << ": " << r.str());
    // Only x wants a gradient (frozen affine), and only the affine part.
    r = gradcheck([](Tape<double>&, Inputs v) { return ops::layer_norm(v[0], v[1], v[2]); }, {x, g, b},
                  {true, false, false});
    CHECK_MESSAGE(r.max_rel_error < 1e-6, r.str());
    r = gradcheck([](Tape<double>&, Inputs v) { return ops::layer_norm(v[0], v[1], v[2], 1e-3); }, {x, g, b},
                  {false, true, true});
    CHECK_MESSAGE(r.max_rel_error < 1e-6, r.str());
  }
}

TEST_CASE("layer_norm: constant row (variance 0) is finite and differentiable") {
  Rng rng(22);
  Tensor<double> x({2, 6}, 0.7);
  for (index_t j = 6; j < 12; ++j) x[j] = rng.uniform(-1, 1);  // second row random
  auto g = random_tensor({6}, rng), b = random_tensor({6}, rng);
  Tape<double> t;
  auto y = ops::layer_norm(t.leaf(x), t.leaf(g), t.leaf(b)).value();
  for (index_t j = 0; j < 6; ++j) CHECK(y[j] == doctest::Approx(b[j]));
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::layer_norm(v[0], v[1], v[2]); }, {x, g, b});
  CHECK_MESSAGE(r.max_rel_error < 1e-5, r.str());
}

TEST_CASE("layer_norm: hand-computed values and float agreement") {
  Tape<double> t;
  Tensor<double> x({1, 3}), g({3}), b({3});
  x[0] = 1, x[1] = 2, x[2] = 3;
  g[0] = 1, g[1] = 2, g[2] = 3;
  b[0] = 0.5, b[1] = 0, b[2] = -1;
  auto y = ops::layer_norm(t.leaf(x), t.leaf(g), t.leaf(b)).value();
  const double z = 1 / std::sqrt(2.0 / 3 + 1e-5);  // (x - 2) / sqrt(var + eps), var = 2/3
  CHECK(y[0] == doctest::Approx(0.5 - z));
  CHECK(y[1] == doctest::Approx(0.0));
  CHECK(y[2] == doctest::Approx(3 * z - 1));
  CHECK(z == doctest::Approx(1.2247357));

  Tape<float> tf;
  Tensor<float> xf({2, 3}), gf({3}, 1.f), bf({3});
  for (index_t i = 0; i < 6; ++i) xf[i] = 1000.f + static_cast<float>(i % 3);  // large mean: two-pass variance
  auto yf = ops::layer_norm(tf.leaf(xf), tf.leaf(gf), tf.leaf(bf)).value();
  CHECK(yf[0] == doctest::Approx(-z).epsilon(1e-4));
  CHECK(yf[5] == doctest::Approx(z).epsilon(1e-4));
}

TEST_CASE("layer_norm: shape and eps errors") {
  Tape<double> t;
  auto x = t.leaf(Tensor<double>({2, 4}));
  CHECK_THROWS_WITH(ops::layer_norm(x, t.leaf(Tensor<double>({3})), t.leaf(Tensor<double>({4}))),
                    doctest::Contains("layer_norm: gamma has shape [3], expected [4]"));
  CHECK_THROWS_AS(ops::layer_norm(x, t.leaf(Tensor<double>({4})), t.leaf(Tensor<double>({2, 4}))), ShapeError);
  CHECK_THROWS_AS(ops::layer_norm(x, t.leaf(Tensor<double>({4})), t.leaf(Tensor<double>({4})), 0.0), ConfigError);
  CHECK_THROWS_AS(ops::layer_norm(t.leaf(Tensor<double>(Shape{})), t.leaf(Tensor<double>({1})),
                                  t.leaf(Tensor<double>({1}))), ShapeError);
}

TEST_CASE("l2_normalize: values, gradients, rows below eps") {
  Tape<double> t;
  Tensor<double> x({2, 2});
  x[0] = 3, x[1] = 4;  // second row all zero
  auto y = ops::l2_normalize(t.leaf(x)).value();
  CHECK(y[0] == doctest::Approx(0.6));
  CHECK(y[1] == doctest::Approx(0.8));
  CHECK(y[2] == 0.0);
  CHECK(y[3] == 0.0);
  Rng rng(23);
  for (Shape s : {Shape{4, 6}, Shape{2, 3, 1}, Shape{5}}) {
    auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::l2_normalize(v[0]); }, {random_tensor(s, rng)});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
  // A row whose norm is below eps is divided by eps (the clamp has zero slope).
  auto tiny = random_tensor({2, 3}, rng, -1e-3, 1e-3);
  for (index_t j = 0; j < 3; ++j) tiny[j] *= 1000;  // first row above eps, second below
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::l2_normalize(v[0], 1e-2); }, {tiny}, {}, 1e-7);
  CHECK_MESSAGE(r.max_rel_error < 1e-6, r.str());
  Tape<double> t2;
  auto yt = ops::l2_normalize(t2.leaf(tiny), 1e-2).value();
  CHECK(yt[3] == doctest::Approx(tiny[3] / 1e-2));
}

TEST_CASE("dropout: p out of range, identity in eval mode and for p = 0") {
  Tape<float> t;
  auto x = t.leaf(Tensor<float>({4, 4}, 1.f), true);
  for (double p : {-0.1, 1.0, 1.5, std::numeric_limits<double>::quiet_NaN()})
    CHECK_THROWS_AS(ops::dropout(x, p), ConfigError);
  CHECK_THROWS_WITH(ops::dropout(x, 1.0), doctest::Contains("dropout: drop probability p = 1.0"));
  const auto nodes = t.size();
  CHECK(ops::dropout(x, 0.0).id == x.id);
  {
    EvalModeGuard<float> eval(t);
    CHECK(ops::dropout(x, 0.5).id == x.id);
    CHECK_THROWS_AS(ops::dropout(x, 2.0), ConfigError);  // still validated in eval mode
  }
  CHECK(t.size() == nodes);
}

TEST_CASE("dropout: fixed seed gives a reproducible, correctly scaled mask") {
  const double p = 0.3;
  const index_t n = 100000;
  auto run = [&](std::uint64_t seed) {
    Tape<float> t(seed);
    return ops::dropout(t.leaf(Tensor<float>({n / 100, 100}, 2.f)), p).value().clone();
  };
  auto a = run(5), b = run(5), c = run(6);
  index_t dropped = 0, same_as_c = 0;
  double sum = 0;
  for (index_t i = 0; i < n; ++i) {
    CHECK((a[i] == 0.f || a[i] == doctest::Approx(2.0 / (1 - p))));
    if (a[i] != b[i]) FAIL("same seed, different mask at " << i);
    dropped += a[i] == 0.f;
    same_as_c += a[i] == c[i];
    sum += a[i];
  }
  CHECK(static_cast<double>(dropped) / n == doctest::Approx(p).epsilon(0.02));
  CHECK(sum / n == doctest::Approx(2.0).epsilon(0.02));  // inverted scaling keeps the mean
  CHECK(same_as_c < n * 0.7);                             // another seed draws another mask
#ifdef METAREC_WITH_OPENMP
  const int threads = num_threads();
  set_num_threads(1);
  auto serial = run(5);
  set_num_threads(threads);
  for (index_t i = 0; i < n; ++i)
    if (serial[i] != a[i]) FAIL("mask depends on the thread count at " << i);
#endif
}

TEST_CASE("dropout: gradients in train and eval mode") {
  Rng rng(24);
  auto x = random_tensor({3, 5, 4}, rng);
  // gradcheck replays every evaluation on a tape with the same seed: same mask.
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::dropout(ops::mul(v[0], v[0]), 0.4); }, {x});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  Tape<double> t(7);
  auto xv = t.leaf(x, true);
  auto y = ops::dropout(xv, 0.4);
  t.backward(ops::sum(y));
  const auto& g = t.grad_of(xv);
  index_t zeros = 0;
  for (index_t i = 0; i < x.size(); ++i) {
    CHECK(g[i] == doctest::Approx(y.value()[i] == 0 ? 0.0 : 1 / 0.6));
    zeros += g[i] == 0;
  }
  CHECK(zeros > 0);
  r = gradcheck([](Tape<double>& tp, Inputs v) {
        tp.set_training(false);
        return ops::dropout(ops::mul(v[0], v[0]), 0.4);
      }, {x});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
}
