#pragma once
/// @file attention.hpp
/// Multi-head attention module (Vaswani et al. 2017): q/k/v projections, the
/// fused attention op, an output projection. Initialised like PyTorch's
/// nn.MultiheadAttention (the model of the SASRec and MISSRec reference code):
/// q/k/v weights Xavier-uniform over their stacked [3d, d] matrix, output
/// weight like nn.Linear, all biases zero.
#include <cmath>
#include <string>

#include "metarec/autograd/ops/attention.hpp"
#include "metarec/nn/linear.hpp"

#include "metarec/core/sequence_view.hpp"

namespace metarec::nn {

template <class T, class B = backend::Cpu>
class MultiHeadAttention {
 public:
  MultiHeadAttention() = default;
  /// Registers `<name>.q`, `.k`, `.v`, `.out` (each `.weight` [d, d] and `.bias` [d]).
  /// @param dropout on the attention probabilities, in [0, 1) (active in training mode only)
  MultiHeadAttention(ParameterStore<T, B>& store, const std::string& name, index_t d, int heads, double dropout,
                     Rng& rng)
      : heads_(heads), dropout_(dropout) {
    if (heads < 1 || d < 1 || d % heads != 0)
      throw ConfigError(name + ": heads = " + std::to_string(heads) + " must be >= 1 and divide d = " +
                        std::to_string(d));
    if (!(dropout >= 0.0 && dropout < 1.0))
      throw ConfigError(name + ": dropout = " + std::to_string(dropout) + " is out of range [0, 1)");
    q_ = Linear<T, B>(store, name + ".q", d, d, rng);
    k_ = Linear<T, B>(store, name + ".k", d, d, rng);
    v_ = Linear<T, B>(store, name + ".v", d, d, rng);
    out_ = Linear<T, B>(store, name + ".out", d, d, rng);
    const double lim = std::sqrt(6.0 / static_cast<double>(4 * d));  // fan_in d, fan_out 3d
    for (const Linear<T, B>* l : {&q_, &k_, &v_}) Init::uniform(-lim, lim).apply(l->weight().value, rng);
    for (const Linear<T, B>* l : {&q_, &k_, &v_, &out_}) memory<B>::zero(l->bias()->value);
  }

  /// Attention of `query_input` [B, Lq, d] over `kv_input` [B, Lk, d] (pass the same Var twice for
  /// self-attention). `opt` supplies causal and key_mask; the dropout rate is the module's.
  Var<T, B> operator()(Tape<T, B>& tape, Var<T, B> query_input, Var<T, B> kv_input, ops::AttentionOptions opt = {}) const {
    opt.dropout = dropout_;
    Var<T, B> q = q_(tape, query_input);
    Var<T, B> k = k_(tape, kv_input);
    Var<T, B> v = v_(tape, kv_input);
    return out_(tape, ops::attention(q, k, v, heads_, opt));
  }

  /// Self-attention within each sequence of a packed batch x [N, d].
  Var<T, B> packed(Tape<T, B>& tape, Var<T, B> x, const PackedView& pv, bool causal) const {
    Var<T, B> q = q_(tape, x);
    Var<T, B> k = k_(tape, x);
    Var<T, B> v = v_(tape, x);
    return out_(tape, ops::packed_attention(q, k, v, heads_, pv.offsets, pv.sequences, causal, dropout_));
  }

  int heads() const { return heads_; }
  double dropout() const { return dropout_; }
  const Linear<T, B>& q_proj() const { return q_; }
  const Linear<T, B>& k_proj() const { return k_; }
  const Linear<T, B>& v_proj() const { return v_; }
  const Linear<T, B>& out_proj() const { return out_; }

 private:
  Linear<T, B> q_, k_, v_, out_;
  int heads_ = 1;
  double dropout_ = 0.0;
};

}  // namespace metarec::nn
