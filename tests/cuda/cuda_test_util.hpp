#pragma once
/// @file cuda_test_util.hpp
/// Shared by the host tests of the CUDA element bodies (tests/cuda/) and the
/// device tests (cuda/tests/): random inputs in any precision and a
/// per-type tolerance comparison that names the worst element.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::test {

template <class T>
Tensor<T> random_t(Shape s, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Tensor<T> t(s);
  for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

/// Relative tolerance per type: float kernels differ from the CPU's (Eigen
/// SIMD exp/erf, other summation orders) by a few ulps per operation.
template <class T>
constexpr double tol() { return std::is_same_v<T, float> ? 2e-4 : 1e-10; }

/// |got - want| <= rel * (1 + |want|) elementwise; reports the worst element.
template <class T>
void check_close(const Tensor<T>& got, const Tensor<T>& want, const std::string& what, double rel = tol<T>()) {
  REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.shape().str() << " vs " << want.shape().str());
  double worst = 0;
  index_t at = -1;
  for (index_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    double e = 0;  // equal values (also equal infinities) and NaN against NaN count as exact
    if (g != w && !(std::isnan(g) && std::isnan(w)))
      e = std::isfinite(g) && std::isfinite(w) ? std::abs(g - w) / (1.0 + std::abs(w)) : INFINITY;
    if (at < 0 || e > worst) {
      worst = e;
      at = i;
    }
  }
  std::ostringstream msg;
  msg << what << ": worst relative error " << worst << " at " << at;
  if (at >= 0) msg << " (got " << static_cast<double>(got[at]) << ", want " << static_cast<double>(want[at]) << ")";
  CHECK_MESSAGE(worst <= rel, msg.str());
}

/// Output, input gradients and the random output gradient of one CPU op.
template <class T>
struct CpuRun {
  Tensor<T> y, seed;
  std::vector<Tensor<T>> grads;  ///< zeros where no gradient arrived
};

/// Runs f(tape, leaves) on the CPU tape with every input requiring a
/// gradient, back-propagates a random output gradient (or 1 for a scalar).
template <class T, class F>
CpuRun<T> cpu_run(F&& f, const std::vector<Tensor<T>>& inputs, Rng& rng, std::uint64_t tape_seed = 0) {
  Tape<T> t(tape_seed);
  std::vector<Var<T>> vs;
  for (const Tensor<T>& x : inputs) vs.push_back(t.leaf(x, true));
  Var<T> y = f(t, vs);
  CpuRun<T> r;
  r.seed = y.value().size() == 1 ? Tensor<T>(y.shape(), T(1)) : random_t<T>(y.shape(), rng);
  t.backward(y, r.seed);
  r.y = y.value().clone();
  for (const Var<T>& v : vs) r.grads.push_back(t.grad_of(v).empty() ? Tensor<T>(v.shape()) : t.grad_of(v).clone());
  return r;
}

}  // namespace metarec::test
