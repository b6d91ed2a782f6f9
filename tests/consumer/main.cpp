// A user-defined module built only from library ops: no backward code here,
// the tape differentiates it. Trains a few steps on a synthetic regression
// with the library's Adam and exits non-zero unless the loss goes down.
#include <cstdio>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/nn/parameter_store.hpp"
#include "metarec/optim/adam.hpp"

namespace {

using namespace metarec;
using T = float;

/// y = W_out ((W_a x + b_a) * (W_b x)) + b_out: a bilinear "gated" layer.
/// The store owns the weights; the module keeps pointers (stable addresses).
class GatedRegressor {
 public:
  GatedRegressor(nn::ParameterStore<T>& store, index_t in, index_t hidden, Rng& rng) {
    const auto init = nn::Init::xavier_uniform();
    wa_ = &store.add("gated.a.weight", {hidden, in}, init, rng);
    ba_ = &store.add("gated.a.bias", {hidden}, nn::Init::zeros(), rng);
    wb_ = &store.add("gated.b.weight", {hidden, in}, init, rng);
    wo_ = &store.add("gated.out.weight", {1, hidden}, init, rng);
    bo_ = &store.add("gated.out.bias", {1}, nn::Init::zeros(), rng);
  }
  Var<T> operator()(Tape<T>& t, Var<T> x) const {
    Var<T> a = ops::linear(x, t.param(*wa_), t.param(*ba_));
    Var<T> b = ops::linear(x, t.param(*wb_));
    return ops::linear(ops::mul(a, b), t.param(*wo_), t.param(*bo_));
  }

 private:
  Parameter<T>*wa_, *ba_, *wb_, *wo_, *bo_;
};

/// Mean squared error built from ops as well.
Var<T> mse(Var<T> pred, Var<T> target) {
  Var<T> d = ops::sub(pred, target);
  return ops::mean(ops::mul(d, d));
}

}  // namespace

int main() {
  constexpr index_t n = 64, in = 5, hidden = 8;
  Rng rng(7);
  Tensor<T> x({n, in}), y({n, 1});
  for (auto& v : x) v = static_cast<T>(rng.uniform(-1, 1));
  for (index_t i = 0; i < n; ++i)  // a target the model can represent: x0*x1 + 0.5*x2
    y[i] = x(i, 0) * x(i, 1) + T(0.5) * x(i, 2);

  nn::ParameterStore<T> store;
  GatedRegressor model(store, in, hidden, rng);
  optim::Adam<T> adam(store.all(), optim::AdamConfig{.lr = 0.03});
  Tape<T> tape;
  std::vector<double> losses;
  for (int step = 0; step < 60; ++step) {
    tape.reset();
    store.zero_grad();
    Var<T> loss = mse(model(tape, tape.leaf(x)), tape.leaf(y));
    tape.backward(loss);
    losses.push_back(loss.value()[0]);
    adam.step();
  }
  std::printf("consumer: %zu parameters (%lld weights), loss %.5f -> %.5f over %zu steps\n", store.size(),
              static_cast<long long>(store.numel()), losses.front(), losses.back(), losses.size());
  if (!(losses.back() < 0.5 * losses.front())) {
    std::fprintf(stderr, "consumer: FAILED: loss did not halve\n");
    return 1;
  }
  return 0;
}
