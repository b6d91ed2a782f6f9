#pragma once
/// @file feed_forward.hpp
/// Position-wise feed-forward network of a Transformer block (Vaswani et al.
/// 2017): Linear(d, inner) -> activation -> dropout -> Linear(inner, d),
/// as PyTorch's TransformerEncoderLayer (parameter names `<name>.linear1`,
/// `<name>.linear2`). Residual and LayerNorm belong to the enclosing block.
#include <string>

#include "metarec/autograd/ops/activation.hpp"
#include "metarec/nn/dropout.hpp"
#include "metarec/nn/linear.hpp"

namespace metarec::nn {

enum class Activation { relu, gelu };

template <class T, class B = backend::Cpu>
class FeedForward {
 public:
  FeedForward() = default;
  FeedForward(ParameterStore<T, B>& store, const std::string& name, index_t d, index_t inner, double dropout, Rng& rng,
              Activation act = Activation::gelu)
      : dropout_(dropout),  // validated before any parameter is registered
        act_(act),
        fc1_(store, name + ".linear1", checked(name, "d", d), checked(name, "inner", inner), rng),
        fc2_(store, name + ".linear2", inner, d, rng) {}
  Var<T, B> operator()(Tape<T, B>& tape, Var<T, B> x) const {
    Var<T, B> h = fc1_(tape, x);
    h = act_ == Activation::relu ? ops::relu(h) : ops::gelu(h);
    return fc2_(tape, dropout_(tape, h));
  }
  const Linear<T, B>& linear1() const { return fc1_; }
  const Linear<T, B>& linear2() const { return fc2_; }
  Activation activation() const { return act_; }
  double dropout() const { return dropout_.p(); }

 private:
  static index_t checked(const std::string& name, const char* what, index_t v) {
    if (v < 1) throw ConfigError("FeedForward '" + name + "': " + what + " = " + std::to_string(v) + " must be >= 1");
    return v;
  }
  Dropout dropout_;
  Activation act_ = Activation::gelu;
  Linear<T, B> fc1_, fc2_;
};

}  // namespace metarec::nn
