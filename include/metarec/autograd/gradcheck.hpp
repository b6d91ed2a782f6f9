#pragma once
/// @file gradcheck.hpp
/// Finite-difference gradient check (mlpack's JacobianTest, dlib's test_layer).
/// `f(tape, inputs)` builds any expression from the inputs; its output y is
/// contracted with a fixed random tensor R (loss = <y, R>), so every output
/// element is checked at once. Analytic gradients come from one backward
/// pass seeded with R; numeric ones from central differences of each input
/// element. Each evaluation uses a fresh tape with the same seed, so random
/// ops (dropout) draw the same masks every time.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "metarec/autograd/tape.hpp"

namespace metarec {

struct GradCheckResult {
  double max_abs_error = 0;  ///< max |analytic - numeric|
  double max_rel_error = 0;  ///< max |a - n| / max(1, |a|, |n|)
  std::size_t input = 0;     ///< where the worst error occurred
  index_t element = 0;
  std::size_t checked = 0;   ///< number of elements compared
  std::string str() const {
    return "max abs error " + std::to_string(max_abs_error) + ", max rel error " + std::to_string(max_rel_error) +
           " at input " + std::to_string(input) + " element " + std::to_string(element) + " (" +
           std::to_string(checked) + " checked)";
  }
};

/// @param f       callable (Tape<double>&, const std::vector<Var<double>>&) -> Var<double>
/// @param inputs  points at which to check; a copy is perturbed
/// @param wants   which inputs to check (default: all)
template <class F>
GradCheckResult gradcheck(F&& f, std::vector<Tensor<double>> inputs, std::vector<bool> wants = {},
                          double eps = 1e-6, std::uint64_t seed = 7) {
  if (wants.empty()) wants.assign(inputs.size(), true);
  for (auto& x : inputs) x = x.clone();
  auto evaluate = [&](bool grads, Tensor<double>* weights, std::vector<Tensor<double>>* out_grads) {
    Tape<double> tape(seed);
    std::vector<Var<double>> vars;
    for (std::size_t i = 0; i < inputs.size(); ++i) vars.push_back(tape.leaf(inputs[i], grads && wants[i]));
    Var<double> y = f(tape, vars);
    if (weights->empty()) {
      Rng r(seed + 1);
      *weights = Tensor<double>(y.shape());
      for (auto& w : *weights) w = r.uniform(-1.0, 1.0);
    }
    double loss = 0;
    for (index_t i = 0; i < y.value().size(); ++i) loss += y.value()[i] * (*weights)[i];
    if (grads) {
      tape.backward(y, *weights);
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const Tensor<double>& g = tape.grad_of(vars[i]);
        (*out_grads)[i] = g.empty() ? Tensor<double>(inputs[i].shape()) : g.clone();
      }
    }
    return loss;
  };
  Tensor<double> weights;
  std::vector<Tensor<double>> analytic(inputs.size());
  evaluate(true, &weights, &analytic);
  GradCheckResult res;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!wants[i]) continue;
    for (index_t e = 0; e < inputs[i].size(); ++e) {
      const double x0 = inputs[i][e];
      inputs[i][e] = x0 + eps;
      const double lp = evaluate(false, &weights, nullptr);
      inputs[i][e] = x0 - eps;
      const double lm = evaluate(false, &weights, nullptr);
      inputs[i][e] = x0;
      const double num = (lp - lm) / (2 * eps), ana = analytic[i][e];
      const double abs_err = std::abs(num - ana);
      const double rel = abs_err / std::max({1.0, std::abs(num), std::abs(ana)});
      ++res.checked;
      if (rel > res.max_rel_error) {
        res.max_rel_error = rel;
        res.input = i;
        res.element = e;
      }
      res.max_abs_error = std::max(res.max_abs_error, abs_err);
    }
  }
  return res;
}

/// Largest |a[i] - b[i]|; infinity when the sizes differ (so a comparison
/// against a tolerance fails instead of reading past the shorter tensor).
inline double max_abs_difference(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double err = 0;
  for (index_t i = 0; i < a.size(); ++i) err = std::max(err, std::abs(a[i] - b[i]));
  return err;
}

/// Tensor of the given shape with entries uniform in [lo, hi).
inline Tensor<double> random_tensor(Shape s, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Tensor<double> t(s);
  for (auto& v : t) v = rng.uniform(lo, hi);
  return t;
}

}  // namespace metarec
