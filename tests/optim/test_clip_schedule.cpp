#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "optim/optim_fixtures.hpp"

using namespace metarec;
using namespace metarec::optim;
using optim_test::make_param;

TEST_CASE("clip_grad_norm: global norm, scaling, frozen and sparse parameters") {
  auto a = make_param<double>("a", {3, 4}, {3, 4});
  auto b = make_param<double>("b", {0}, {12});
  auto frozen = make_param<double>("f", {0}, {1000});
  frozen.trainable = false;
  // Sparse table: only touched row 1 counts; row 0's stale value must be ignored and kept.
  auto table = make_param<double>("t", {0, 0, 0, 0}, {1e6, 0, 0, 0}, true, 2);
  table.touch_row(1);
  std::vector<Parameter<double>*> ps{&a, &b, &frozen, &table};

  CHECK(grad_norm(ps) == doctest::Approx(13.0));
  CHECK(clip_grad_norm(ps, 20.0) == doctest::Approx(13.0));
  CHECK(a.grad[0] == 3.0);  // below the threshold: untouched

  const double before = clip_grad_norm(ps, 6.5);
  CHECK(before == doctest::Approx(13.0));
  const double coef = 6.5 / (13.0 + 1e-6);
  CHECK(a.grad[0] == doctest::Approx(3 * coef));
  CHECK(a.grad[1] == doctest::Approx(4 * coef));
  CHECK(b.grad[0] == doctest::Approx(12 * coef));
  CHECK(frozen.grad[0] == 1000.0);
  CHECK(table.grad[0] == 1e6);
  CHECK(grad_norm(ps) == doctest::Approx(6.5).epsilon(1e-6));

  // Touched rows do count.
  table.grad(1, 0) = 5;
  CHECK(grad_norm<double>({&table}) == doctest::Approx(5.0));
  table.dense_grad = true;  // now the whole table is the gradient
  CHECK(grad_norm<double>({&table}) == doctest::Approx(std::hypot(1e6, 5.0)));

  b.grad[0] = std::nan("");
  try {
    clip_grad_norm(ps, 1.0);
    FAIL("expected NumericError");
  } catch (const NumericError& e) {
    CHECK(std::string(e.what()).find("'b'") != std::string::npos);
  }
  CHECK_THROWS_AS(clip_grad_norm(ps, 0.0), ConfigError);
}

TEST_CASE("schedules: values at chosen steps") {
  CHECK(Constant{}(0) == 1.0);
  CHECK(Constant{}(12345) == 1.0);

  LinearWarmup w{4};
  CHECK(w(0) == doctest::Approx(0.25));
  CHECK(w(1) == doctest::Approx(0.5));
  CHECK(w(3) == 1.0);
  CHECK(w(100) == 1.0);
  CHECK(LinearWarmup{0}(0) == 1.0);

  Cosine c{2, 12, 0.1};
  CHECK(c(0) == doctest::Approx(0.5));
  CHECK(c(1) == doctest::Approx(1.0));
  CHECK(c(2) == doctest::Approx(1.0));
  CHECK(c(7) == doctest::Approx(0.1 + 0.9 * 0.5));  // half way through the decay
  CHECK(c(4) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * 0.2))));
  CHECK(c(12) == doctest::Approx(0.1));
  CHECK(c(1000) == doctest::Approx(0.1));
  CHECK(Cosine{0, 10}(10) == doctest::Approx(0.0));
  CHECK_THROWS_AS((Cosine{5, 5}(0)), ConfigError);
  CHECK_THROWS_AS((Cosine{0, 5, 2.0}(0)), ConfigError);

  AnySchedule any = Cosine{2, 12, 0.1};
  CHECK(multiplier(any, 7) == doctest::Approx(c(7)));
  any = LinearWarmup{4};
  CHECK(multiplier(any, 1) == doctest::Approx(0.5));
}

TEST_CASE("Scheduler follows the optimizer's step counter") {
  auto p = make_param<double>("w", {1.0}, {1.0});
  SGD<double> opt({&p}, SGDConfig{0.2});
  Scheduler sched(opt, Cosine{2, 6});
  CHECK(sched.base_lr() == 0.2);
  CHECK(sched.apply() == doctest::Approx(0.1));  // step 0 of a 2-step warmup
  opt.step();
  CHECK(p.value[0] == doctest::Approx(0.9));
  CHECK(sched.apply() == doctest::Approx(0.2));
  opt.step();
  opt.set_steps(4);  // e.g. restored from a checkpoint: half way through the decay
  CHECK(sched.apply() == doctest::Approx(0.1));
  CHECK(opt.lr() == doctest::Approx(0.1));

  Scheduler<double> dyn(opt, AnySchedule{LinearWarmup{10}}, 1.0);
  opt.set_steps(4);
  CHECK(dyn.apply() == doctest::Approx(0.5));
}
