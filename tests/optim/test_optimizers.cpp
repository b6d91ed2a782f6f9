#include <doctest/doctest.h>

#include <cmath>

#include "optim/optim_fixtures.hpp"

using namespace metarec;
using namespace metarec::optim;
using optim_test::bit_equal;
using optim_test::make_param;

TEST_CASE("SGD: plain, weight decay, momentum and Nesterov match the formulas") {
  const std::vector<double> w0{1.0, -2.0, 3.0}, g1{0.5, 0.1, -1.0}, g2{-0.2, 0.4, 0.3};
  const double lr = 0.1, mu = 0.9, wd = 0.01;
  for (int variant = 0; variant < 4; ++variant) {
    CAPTURE(variant);
    const bool use_mu = variant >= 2, nesterov = variant == 3;
    const double decay = variant == 1 ? wd : 0.0;
    auto p = make_param<double>("w", w0, g1);
    SGD<double> opt({&p}, SGDConfig{lr, use_mu ? mu : 0.0, nesterov, decay});
    opt.step();
    p.grad.copy_from(make_param<double>("g", g2, g2).value);
    opt.step();
    CHECK(opt.steps() == 2);
    for (std::size_t i = 0; i < 3; ++i) {
      // Hand-unrolled two steps.
      double w = w0[i], buf = 0;
      for (double g : {g1[i], g2[i]}) {
        g += decay * w;
        if (use_mu) {
          buf = mu * buf + g;
          g = nesterov ? g + mu * buf : buf;
        }
        w -= lr * g;
      }
      CHECK(p.value[static_cast<index_t>(i)] == doctest::Approx(w).epsilon(1e-14));
    }
    CHECK(opt.state().size() == (use_mu ? 1u : 0u));
  }
  auto p = make_param<double>("w", w0, g1);
  CHECK_THROWS_AS(SGD<double>({&p}, SGDConfig{0.1, 0.0, true}), ConfigError);  // nesterov without momentum
  CHECK_THROWS_AS(SGD<double>({&p}, SGDConfig{-1.0}), ConfigError);
}

TEST_CASE("Adam and AdamW: two steps match the closed form") {
  const std::vector<double> w0{0.5, -1.5, 2.0, 0.0}, g1{0.3, -0.02, 1.5, -4.0}, g2{-0.1, 0.05, 1.0, 2.0};
  const double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-6, wd = 0.1;
  for (int variant = 0; variant < 3; ++variant) {  // plain, L2, decoupled
    CAPTURE(variant);
    auto p = make_param<double>("w", w0, g1);
    AdamConfig cfg{lr, b1, b2, eps, variant ? wd : 0.0, variant == 2};
    Adam<double> opt({&p}, cfg);
    opt.step();
    for (index_t i = 0; i < 4; ++i) p.grad[i] = g2[static_cast<std::size_t>(i)];
    opt.step();
    for (std::size_t i = 0; i < 4; ++i) {
      double w = w0[i], m = 0, v = 0;
      int t = 0;
      for (double g : {g1[i], g2[i]}) {
        ++t;
        if (variant == 1) g += wd * w;
        if (variant == 2) w *= 1 - lr * wd;
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        const double mhat = m / (1 - std::pow(b1, t)), vhat = v / (1 - std::pow(b2, t));
        w -= lr * mhat / (std::sqrt(vhat) + eps);
      }
      CHECK(p.value[static_cast<index_t>(i)] == doctest::Approx(w).epsilon(1e-12));
    }
    auto st = opt.state();
    REQUIRE(st.size() == 2);
    CHECK(st[0].first == "adam.m.w");
    CHECK(st[1].first == "adam.v.w");
  }
  // First step of Adam moves each weight by about lr * sign(g).
  auto p = make_param<float>("w", {1, 1}, {1e-3, -50});
  Adam<float> opt({&p}, AdamConfig{0.1});
  opt.step();
  CHECK(p.value[0] == doctest::Approx(0.9).epsilon(1e-4));
  CHECK(p.value[1] == doctest::Approx(1.1).epsilon(1e-4));
  // AdamW defaults: decoupled, decay 0.01.
  auto q = make_param<double>("q", {2.0}, {0.0});
  AdamW<double> adamw({&q}, [] { auto c = AdamW<double>::default_config(); c.lr = 0.5; return c; }());
  adamw.step();  // zero gradient: only the decay acts
  CHECK(q.value[0] == doctest::Approx(2.0 * (1 - 0.5 * 0.01)));
  CHECK_THROWS_AS(Adam<double>({&q}, AdamConfig{1e-3, 1.0}), ConfigError);
}

TEST_CASE("Adam/SGD: lazy sparse update equals the dense update when every row is touched") {
  Rng rng(11);
  const index_t rows = 7, cols = 5;
  Parameter<double> sparse("table", {rows, cols}, true), dense("table", {rows, cols}, false);
  for (index_t i = 0; i < rows * cols; ++i) sparse.value[i] = dense.value[i] = rng.normal();
  auto fill_grads = [&](std::uint64_t seed) {
    Rng g(seed);
    for (index_t i = 0; i < rows * cols; ++i) sparse.grad[i] = dense.grad[i] = g.normal();
    for (index_t r : {3, 0, 6, 1, 5, 2, 4}) sparse.touch_row(r);  // any order
  };
  Adam<double> a_sparse({&sparse}, AdamConfig{0.05, 0.9, 0.99, 1e-8, 0.1, true});
  Adam<double> a_dense({&dense}, AdamConfig{0.05, 0.9, 0.99, 1e-8, 0.1, true});
  for (std::uint64_t s = 0; s < 4; ++s) {
    REQUIRE_FALSE(sparse.grad_is_dense());
    fill_grads(s);
    a_sparse.step();
    a_dense.step();
    sparse.zero_grad();
    dense.zero_grad();
  }
  CHECK(bit_equal(sparse.value, dense.value));
  CHECK(bit_equal(*a_sparse.state()[0].second, *a_dense.state()[0].second));
  CHECK(bit_equal(*a_sparse.state()[1].second, *a_dense.state()[1].second));

  SGD<double> s_sparse({&sparse}, SGDConfig{0.1, 0.9, true, 0.01}), s_dense({&dense}, SGDConfig{0.1, 0.9, true, 0.01});
  for (std::uint64_t s = 10; s < 13; ++s) {
    fill_grads(s);
    s_sparse.step();
    s_dense.step();
    sparse.zero_grad();
    dense.zero_grad();
  }
  CHECK(bit_equal(sparse.value, dense.value));
}

TEST_CASE("Adam: lazy rows -- untouched rows and their moments stay as they were") {
  Parameter<double> t("emb", {4, 2}, true);
  for (index_t i = 0; i < 8; ++i) t.value[i] = 0.1 * static_cast<double>(i);
  const Tensor<double> before = t.value.clone();
  Adam<double> opt({&t}, AdamConfig{0.1});
  // Step 1 touches rows 1 and 3; untouched row 2 carries a stale gradient that must be ignored.
  t.grad(1, 0) = 1; t.grad(1, 1) = -1; t.grad(3, 0) = 0.5; t.grad(2, 0) = 100;
  t.touch_row(1);
  t.touch_row(3);
  opt.step();
  t.grad(2, 0) = 0;
  t.zero_grad();
  CHECK(t.value(0, 0) == before(0, 0));
  CHECK(t.value(2, 0) == before(2, 0));
  CHECK(t.value(1, 0) == doctest::Approx(before(1, 0) - 0.1));
  const Tensor<double> m = *opt.state()[0].second;
  const double m1 = m(1, 0);
  CHECK(m1 == doctest::Approx(0.1));
  // Step 2 touches row 0 only: row 1's moment is not decayed (SparseAdam semantics).
  t.grad(0, 1) = 2;
  t.touch_row(0);
  opt.step();
  CHECK(m(1, 0) == m1);
  CHECK(m(0, 1) == doctest::Approx(0.2));
  // Bias correction uses the global step t = 2 for row 0's first update.
  const double vhat = 0.001 * 4 / (1 - 0.999 * 0.999), mhat = 0.2 / (1 - 0.81);
  CHECK(t.value(0, 1) == doctest::Approx(before(0, 1) - 0.1 * mhat / (std::sqrt(vhat) + 1e-8)));
  // A dense write (tied output weights) makes the whole table update.
  t.zero_grad();
  t.dense_grad = true;
  t.grad(2, 1) = 1;
  opt.step();
  CHECK(t.value(2, 1) != before(2, 1));
}

TEST_CASE("optimizers skip frozen parameters") {
  auto a = make_param<double>("a", {1, 2}, {1, 1});
  auto b = make_param<double>("b", {3, 4}, {1, 1});
  b.trainable = false;
  Adam<double> adam({&a, &b}, AdamConfig{0.1, 0.9, 0.999, 1e-8, 0.5});
  SGD<double> sgd({&a, &b}, SGDConfig{0.1, 0.9, false, 0.5});
  for (int i = 0; i < 3; ++i) {
    adam.step();
    sgd.step();
  }
  CHECK(b.value[0] == 3.0);
  CHECK(b.value[1] == 4.0);
  CHECK(a.value[0] != 1.0);
  CHECK(adam.state()[1].second->vec().cwiseAbs().sum() == 0.0);  // "adam.m.b" never written
}

TEST_CASE("parameter groups: lr_scale and per-group weight decay") {
  auto a = make_param<double>("a", {1.0}, {0.5});
  auto b = make_param<double>("b", {1.0}, {0.5});
  SGD<double> opt(std::vector<ParamGroup<double>>{{{&a}, 1.0, 0.0}, {{&b}, 0.1, 0.2}}, SGDConfig{0.4});
  opt.step();
  CHECK(a.value[0] == doctest::Approx(1.0 - 0.4 * 0.5));
  CHECK(b.value[0] == doctest::Approx(1.0 - 0.04 * (0.5 + 0.2)));
  opt.set_lr(0.0);
  opt.step();
  CHECK(a.value[0] == doctest::Approx(0.8));
  // Ambiguous or inconsistent setups are rejected.
  CHECK_THROWS_AS(SGD<double>(std::vector<ParamGroup<double>>{{{&a}}}, SGDConfig{0.1, 0, false, 0.1}), ConfigError);
  CHECK_THROWS_AS(SGD<double>(std::vector<ParamGroup<double>>{{{&a}}, {{&a}}}, SGDConfig{0.1}), ConfigError);
  auto a2 = make_param<double>("a", {1.0}, {0.5});
  CHECK_THROWS_AS(Adam<double>({&a, &a2}), ConfigError);  // duplicate names
  CHECK_THROWS_AS(Adam<double>(std::vector<ParamGroup<double>>{{{&a}, -1.0}}), ConfigError);
}

TEST_CASE("least squares converges with Adam and with SGD + momentum") {
  for (int which = 0; which < 2; ++which) {
    CAPTURE(which);
    optim_test::TinyModel<double> model(1, 2, 64, 5, 1, false);
    Tape<double> tape;
    std::unique_ptr<Optimizer<double>> opt;
    if (which == 0) opt = std::make_unique<Adam<double>>(model.params(), AdamConfig{0.05});
    else opt = std::make_unique<SGD<double>>(model.params(), SGDConfig{0.05, 0.9});
    const double first = model.loss_and_grad(tape);
    double loss = first;
    for (int it = 0; it < 400; ++it) {
      opt->step();
      opt->zero_grad();
      loss = model.loss_and_grad(tape);
    }
    MESSAGE("least squares, optimizer " << which << ": loss " << first << " -> " << loss);
    CHECK(first > 0.5);
    CHECK(loss < 1e-6);
  }
}

TEST_CASE("optimizer and clipping give the same bits on 1 and several threads") {
  const index_t n = 3 * parallel_grain + 17;  // dense path takes the OpenMP branch
  Rng rng(5);
  Parameter<float> p1("big", {n}), p2("big", {n});
  for (index_t i = 0; i < n; ++i) {
    p1.value[i] = p2.value[i] = static_cast<float>(rng.normal());
    p1.grad[i] = p2.grad[i] = static_cast<float>(rng.normal());
  }
  const int threads = num_threads();
  Adam<float> o1({&p1}, AdamConfig{0.01}), o2({&p2}, AdamConfig{0.01});
  set_num_threads(1);
  const double n1 = clip_grad_norm<float>({&p1}, 1.0);
  o1.step();
  set_num_threads(std::max(2, threads));
  const double n2 = clip_grad_norm<float>({&p2}, 1.0);
  o2.step();
  set_num_threads(threads);
  CHECK(n1 == n2);
  CHECK(bit_equal(p1.value, p2.value));
  CHECK(bit_equal(p1.grad, p2.grad));
}
