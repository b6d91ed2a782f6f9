// A user-defined module written only by composing metarec ops: no backward
// code. Gradients come from the tape; Adam trains it on a toy regression.
//
//   GatedResidual(x) = LayerNorm(x + sigmoid(x W_g^T + b_g) * tanh(x W_h^T + b_h))
//
// Build: part of the examples (target example_custom_module).
#include <cstdio>

#include "metarec/autograd.hpp"
#include "metarec/nn/layer_norm.hpp"
#include "metarec/nn/linear.hpp"
#include "metarec/optim/adam.hpp"

using namespace metarec;

template <class T>
class GatedResidual {
 public:
  GatedResidual(nn::ParameterStore<T>& store, const std::string& name, index_t d, Rng& rng)
      : gate_(store, name + ".gate", d, d, rng), hidden_(store, name + ".hidden", d, d, rng),
        norm_(store, name + ".norm", d) {}
  Var<T> operator()(Tape<T>& t, Var<T> x) const {
    Var<T> g = ops::sigmoid(gate_(t, x));
    Var<T> h = ops::tanh(hidden_(t, x));
    return norm_(t, ops::add(x, ops::mul(g, h)));
  }

 private:
  nn::Linear<T> gate_, hidden_;
  nn::LayerNorm<T> norm_;
};

int main() {
  const index_t n = 256, d = 8;
  Rng rng(42);
  nn::ParameterStore<float> store;
  GatedResidual<float> block(store, "block", d, rng);
  nn::Linear<float> head(store, "head", d, 1, rng);
  // Target: y = sum of the first two features squared.
  Tensor<float> x({n, d}), y({n, 1});
  for (index_t i = 0; i < n; ++i) {
    for (index_t j = 0; j < d; ++j) x(i, j) = static_cast<float>(rng.uniform(-1, 1));
    y[i] = x(i, 0) * x(i, 0) + x(i, 1) * x(i, 1);
  }
  optim::Adam<float> adam(store.all(), optim::AdamConfig{.lr = 1e-2});
  Tape<float> tape;
  float first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    tape.reset();
    store.zero_grad();
    Var<float> err = ops::sub(head(tape, block(tape, tape.leaf(x))), tape.leaf(y));
    Var<float> loss = ops::mean(ops::mul(err, err));
    tape.backward(loss);
    adam.step();
    if (step == 0) first = loss.value()[0];
    last = loss.value()[0];
  }
  std::printf("mse: first step %.4f, after 300 steps %.4f\n", first, last);
  return last < 0.5f * first ? 0 : 1;
}
