#pragma once
/// @file linear.hpp
/// Fully connected layer y = x W^T + b (PyTorch layout and initialisation).
#include <cmath>

#include "metarec/autograd/ops/linear.hpp"
#include "metarec/nn/parameter_store.hpp"

namespace metarec::nn {

template <class T, class B = backend::Cpu>
class Linear {
 public:
  Linear() = default;
  /// Registers `<name>.weight` [out, in] and `<name>.bias` [out] (if bias).
  Linear(ParameterStore<T, B>& store, const std::string& name, index_t in, index_t out, Rng& rng, bool bias = true) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    weight_ = &store.add(name + ".weight", {out, in}, Init::uniform(-bound, bound), rng);
    if (bias) bias_ = &store.add(name + ".bias", {out}, Init::uniform(-bound, bound), rng);
  }
  Var<T, B> operator()(Tape<T, B>& tape, Var<T, B> x) const {
    return bias_ ? ops::linear(x, tape.param(*weight_), tape.param(*bias_)) : ops::linear(x, tape.param(*weight_));
  }
  Parameter<T, B>& weight() const { return *weight_; }
  Parameter<T, B>* bias() const { return bias_; }
  index_t in_features() const { return weight_->value.dim(1); }
  index_t out_features() const { return weight_->value.dim(0); }

 private:
  Parameter<T, B>* weight_ = nullptr;
  Parameter<T, B>* bias_ = nullptr;
};

}  // namespace metarec::nn
