#include <doctest/doctest.h>

#include <xtensor/xmath.hpp>

#include "metarec/core/xtensor_interop.hpp"

using namespace metarec;

TEST_CASE("xtensor interop: views share memory both ways, copies do not") {
  Tensor<float> t({2, 3});
  for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  auto v = as_xtensor(t);
  CHECK(v.dimension() == 2);
  CHECK(v(1, 2) == 5.f);
  CHECK(xt::sum(v)() == doctest::Approx(15.0));
  v(0, 1) = 42.f;
  CHECK(t(0, 1) == 42.f);
  auto copy = to_xarray(t);
  copy(0, 0) = -1.f;
  CHECK(t(0, 0) == 0.f);

  xt::xarray<double> a = {{1.0, 2.0}, {3.0, 4.0}};
  Tensor<double> w = tensor_view(a);
  CHECK(w.shape() == Shape{2, 2});
  w(1, 1) = 9.0;
  CHECK(a(1, 1) == 9.0);
  xt::xarray<double> big = xt::zeros<double>({1, 1, 1, 1, 2});
  CHECK_THROWS_AS(tensor_view(big), ShapeError);
}
