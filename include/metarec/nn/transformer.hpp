#pragma once
/// @file transformer.hpp
/// Post-LN Transformer encoder block (Vaswani et al. 2017, as in BERT and the
/// S3-Rec SASRec): x = LN(x + Drop(MHA(x))); x = LN(x + Drop(FFN(x))).
/// Shared by SASRec (causal) and BERT4Rec (bidirectional).
#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/model/config.hpp"
#include "metarec/nn/attention.hpp"
#include "metarec/nn/feed_forward.hpp"
#include "metarec/nn/layer_norm.hpp"
#include "metarec/autograd/ops/tensor_ops.hpp"

#include <vector>

namespace metarec::nn {

template <class T>
class TransformerBlock {
 public:
  TransformerBlock(ParameterStore<T>& store, const std::string& name, const ModelConfig& c, Rng& rng)
      : attn_(store, name + ".attn", c.d, c.heads, c.attn_dropout, rng),
        ln1_(store, name + ".ln1", c.d, c.ln_eps),
        ffn_(store, name + ".ffn", c.d, c.inner, c.dropout, rng),
        ln2_(store, name + ".ln2", c.d, c.ln_eps),
        dropout_(c.dropout) {}

  /// x [B, L, d]; `opt` carries the causal flag and the key padding mask.
  Var<T> operator()(Tape<T>& t, Var<T> x, const ops::AttentionOptions& opt) const {
    Var<T> a = ops::dropout(attn_(t, x, x, opt), dropout_);
    x = ln1_(t, ops::add(x, a));
    Var<T> f = ops::dropout(ffn_(t, x), dropout_);
    return ln2_(t, ops::add(x, f));
  }

 private:
  MultiHeadAttention<T> attn_;
  LayerNorm<T> ln1_;
  FeedForward<T> ffn_;
  LayerNorm<T> ln2_;
  double dropout_;
};

/// Learned absolute positions for windows of up to max_len items. Sequences
/// are left-padded, so the last item of every window has position max_len-1
/// whatever the batch's padded length L: rows [max_len - L, max_len) are used.
/// (Trimming a batch to its longest sequence then changes nothing for real items.)
template <class T>
class PositionalEmbedding {
 public:
  PositionalEmbedding(ParameterStore<T>& store, const std::string& name, index_t max_len, index_t d, double std,
                      Rng& rng)
      : table_(&store.add(name + ".weight", {max_len, d}, Init::normal(std), rng)) {}
  /// x [B, L, d] + positions.
  Var<T> operator()(Tape<T>& t, Var<T> x) const {
    const index_t L = x.shape()[1], max_len = table_->value.dim(0);
    if (L > max_len)
      throw ShapeError("positional embedding: length " + std::to_string(L) + " exceeds max_len " +
                       std::to_string(max_len));
    return ops::add(x, ops::slice(t.param(*table_), 0, max_len - L, max_len));
  }

 private:
  Parameter<T>* table_;
};

/// Embedding-side stack shared by SASRec and BERT4Rec:
/// positions -> LayerNorm -> dropout -> N Transformer blocks.
template <class T>
class TransformerEncoder {
 public:
  TransformerEncoder(ParameterStore<T>& store, const std::string& name, const ModelConfig& c, Rng& rng, bool causal)
      : pos_(store, name + ".pos", c.max_len, c.d, c.init_std, rng),
        ln_(store, name + ".ln", c.d, c.ln_eps),
        dropout_(c.dropout),
        causal_(causal) {
    for (int i = 0; i < c.layers; ++i) blocks_.emplace_back(store, name + ".block" + std::to_string(i), c, rng);
  }
  /// x [B, L, d] item representations; mask [B, L] (nonzero = real item).
  Var<T> operator()(Tape<T>& t, Var<T> x, const std::uint8_t* mask) const {
    x = ops::dropout(ln_(t, pos_(t, x)), dropout_);
    ops::AttentionOptions opt;
    opt.causal = causal_;
    opt.key_mask = mask;
    for (const auto& b : blocks_) x = b(t, x, opt);
    return x;
  }

 private:
  PositionalEmbedding<T> pos_;
  LayerNorm<T> ln_;
  std::vector<TransformerBlock<T>> blocks_;
  double dropout_;
  bool causal_;
};

}  // namespace metarec::nn
