#pragma once
/// @file gru.hpp
/// Stacked GRU module (PyTorch nn.GRU with batch_first = true, h0 = 0), the
/// recurrent layer of GRU4Rec (Hidasi et al. 2016).
#include <cmath>
#include <string>
#include <vector>

#include "metarec/autograd/ops/gru.hpp"
#include "metarec/nn/parameter_store.hpp"

namespace metarec::nn {

template <class T, class B = backend::Cpu>
class GRU {
 public:
  GRU() = default;
  /// Registers, for each layer l, `<name>.weight_ih_l<l>` [3h, in_l], `.weight_hh_l<l>` [3h, h],
  /// `.bias_ih_l<l>` [3h], `.bias_hh_l<l>` [3h] (PyTorch names; in_0 = in, in_l = h above),
  /// all uniform(-1/sqrt(h), 1/sqrt(h)) like PyTorch.
  GRU(ParameterStore<T, B>& store, const std::string& name, index_t in, index_t hidden, Rng& rng, int layers = 1) {
    if (in < 1 || hidden < 1 || layers < 1)
      throw ConfigError(name + ": in = " + std::to_string(in) + ", hidden = " + std::to_string(hidden) +
                        ", layers = " + std::to_string(layers) + " must all be >= 1");
    const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
    const Init init = Init::uniform(-bound, bound);
    for (int l = 0; l < layers; ++l) {
      const std::string s = "_l" + std::to_string(l);
      const index_t lin = l == 0 ? in : hidden;
      layers_.push_back({&store.add(name + ".weight_ih" + s, {3 * hidden, lin}, init, rng),
                         &store.add(name + ".weight_hh" + s, {3 * hidden, hidden}, init, rng),
                         &store.add(name + ".bias_ih" + s, {3 * hidden}, init, rng),
                         &store.add(name + ".bias_hh" + s, {3 * hidden}, init, rng)});
    }
  }

  /// x [B, L, in] -> hidden states of the last layer [B, L, hidden].
  /// @param mask optional [B, L], nonzero = real step (see ops::gru); borrowed until backward.
  Var<T, B> operator()(Tape<T, B>& tape, Var<T, B> x, const std::uint8_t* mask = nullptr) const {
    for (const Layer& l : layers_)
      x = ops::gru(x, tape.param(*l.w_ih), tape.param(*l.w_hh), tape.param(*l.b_ih), tape.param(*l.b_hh), mask);
    return x;
  }

  int num_layers() const { return static_cast<int>(layers_.size()); }
  index_t hidden_size() const { return layers_.empty() ? 0 : layers_.front().w_hh->value.dim(1); }

 private:
  struct Layer {
    Parameter<T, B>* w_ih;
    Parameter<T, B>* w_hh;
    Parameter<T, B>* b_ih;
    Parameter<T, B>* b_hh;
  };
  std::vector<Layer> layers_;
};

}  // namespace metarec::nn
