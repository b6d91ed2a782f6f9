// Smoke test of the Conan package: one linear layer, forward and backward.
#include <cstdio>

#include "metarec/autograd.hpp"
#include "metarec/nn/linear.hpp"

int main() {
  using namespace metarec;
  Rng rng(1);
  nn::ParameterStore<float> store;
  nn::Linear<float> layer(store, "fc", 3, 2, rng);
  Tape<float> tape;
  Tensor<float> x({4, 3}, 0.5f);
  Var<float> loss = ops::mean(layer(tape, tape.leaf(x)));
  tape.backward(loss);
  const float g = layer.bias()->grad[0];  // d mean / d b_j = 1 / out_features
  std::printf("metarec test_package: loss %.4f, d loss / d bias0 = %.4f\n", loss.value()[0], g);
  return g > 0.49f && g < 0.51f ? 0 : 1;
}
