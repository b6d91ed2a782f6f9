#pragma once
// Shared helpers of the optimizer tests: parameters with chosen values and
// gradients, and a small least-squares model built from existing ops.
#include <cstring>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/nn/linear.hpp"
#include "metarec/optim/optim.hpp"

namespace optim_test {
using namespace metarec;

template <class T>
Parameter<T> make_param(const char* name, std::vector<double> value, std::vector<double> grad, bool sparse = false,
                        index_t cols = 1) {
  const auto n = static_cast<index_t>(value.size());
  Parameter<T> p(name, cols == 1 ? Shape{n} : Shape{n / cols, cols}, sparse);
  for (index_t i = 0; i < n; ++i) {
    p.value[i] = static_cast<T>(value[static_cast<std::size_t>(i)]);
    p.grad[i] = static_cast<T>(grad[static_cast<std::size_t>(i)]);
  }
  return p;
}

template <class T>
bool bit_equal(const Tensor<T>& a, const Tensor<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.size())) == 0;
}

/// y = x W^T + b regression with a hidden elementwise square: Linear(in, h),
/// h*h, Linear(h, 1), loss = mean((pred - y)^2). Data drawn from `data_seed`.
template <class T>
struct TinyModel {
  nn::ParameterStore<T> store;
  nn::Linear<T> l1, l2;
  Tensor<T> x, y;
  bool hidden_square;

  TinyModel(std::uint64_t init_seed, std::uint64_t data_seed, index_t n = 32, index_t in = 5, index_t hidden = 8,
            bool square = true)
      : hidden_square(square) {
    Rng rng(init_seed);
    l1 = nn::Linear<T>(store, "l1", in, square ? hidden : 1, rng);
    if (square) l2 = nn::Linear<T>(store, "l2", hidden, 1, rng);
    Rng data(data_seed);
    x = Tensor<T>(Shape{n, in});
    y = Tensor<T>(Shape{n, 1});
    std::vector<double> w(static_cast<std::size_t>(in));
    for (auto& v : w) v = data.normal();
    for (index_t r = 0; r < n; ++r) {
      double s = 0.3;
      for (index_t c = 0; c < in; ++c) {
        x(r, c) = static_cast<T>(data.normal());
        s += w[static_cast<std::size_t>(c)] * static_cast<double>(x(r, c));
      }
      y[r] = static_cast<T>(s);
    }
  }
  /// Forward + backward on the tape; returns the loss.
  double loss_and_grad(Tape<T>& tape) {
    tape.reset();
    auto h = l1(tape, tape.leaf(x));
    if (hidden_square) h = l2(tape, ops::mul(h, h));
    auto d = ops::sub(h, tape.leaf(y));
    auto loss = ops::mean(ops::mul(d, d));
    tape.backward(loss);
    return static_cast<double>(loss.value()[0]);
  }
  std::vector<Parameter<T>*> params() { return store.all(); }
};

}  // namespace optim_test
