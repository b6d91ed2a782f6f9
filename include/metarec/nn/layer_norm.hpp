#pragma once
/// @file layer_norm.hpp
/// Layer normalisation over the last dimension (Ba, Kiros & Hinton 2016) with
/// learned scale `<name>.weight` (ones) and shift `<name>.bias` (zeros).
#include <string>

#include "metarec/autograd/ops/normalization.hpp"
#include "metarec/nn/parameter_store.hpp"

namespace metarec::nn {

template <class T, class B = backend::Cpu>
class LayerNorm {
 public:
  LayerNorm() = default;
  LayerNorm(ParameterStore<T, B>& store, const std::string& name, index_t dim, double eps = 1e-5) : eps_(eps) {
    if (dim < 1) throw ConfigError("LayerNorm '" + name + "': dim = " + std::to_string(dim) + " must be >= 1");
    if (!(eps > 0)) throw ConfigError("LayerNorm '" + name + "': eps = " + std::to_string(eps) + " must be > 0");
    Rng unused;  // deterministic inits draw nothing
    weight_ = &store.add(name + ".weight", {dim}, Init::ones(), unused);
    bias_ = &store.add(name + ".bias", {dim}, Init::zeros(), unused);
  }
  Var<T, B> operator()(Tape<T, B>& tape, Var<T, B> x) const {
    return ops::layer_norm(x, tape.param(*weight_), tape.param(*bias_), eps_);
  }
  Parameter<T, B>& weight() const { return *weight_; }
  Parameter<T, B>& bias() const { return *bias_; }
  double eps() const { return eps_; }

 private:
  Parameter<T, B>* weight_ = nullptr;
  Parameter<T, B>* bias_ = nullptr;
  double eps_ = 1e-5;
};

}  // namespace metarec::nn
