#pragma once
/// @file transformer.hpp
/// Transformer encoder (Vaswani et al. 2017). By default post-LN, as in BERT
/// and the S3-Rec SASRec: x = LN(x + Drop(MHA(x))); x = LN(x + Drop(FFN(x))).
/// With norm_first, pre-LN (Xiong et al. 2020, "On Layer Normalization in the
/// Transformer Architecture"; the original SASRec code and eSASRec):
/// x = x + Drop(MHA(LN(x))); x = x + Drop(FFN(LN(x))), usually with a final
/// LayerNorm after the last block (final_norm), since pre-LN blocks leave
/// their output unnormalised.
/// Shared by SASRec (causal) and BERT4Rec (bidirectional), in the padded
/// [B, L, d] layout or the packed [N, d] layout (core/sequence_view.hpp).
#include <optional>
#include <vector>

#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/autograd/ops/embedding.hpp"
#include "metarec/autograd/ops/tensor_ops.hpp"
#include "metarec/core/sequence_view.hpp"
#include "metarec/nn/attention.hpp"
#include "metarec/nn/feed_forward.hpp"
#include "metarec/nn/layer_norm.hpp"

namespace metarec::nn {

/// Sizes and rates of a Transformer block stack: the layer's own settings, so
/// nn/ depends on no model config (the backbones and MISSRec fill it in).
struct TransformerConfig {
  index_t d = 64;             ///< model width
  int heads = 2;              ///< attention heads (must divide d)
  index_t inner = 256;        ///< feed-forward inner size
  index_t max_len = 50;       ///< learned positions (TransformerEncoder)
  int layers = 2;             ///< blocks (TransformerEncoder)
  double dropout = 0.5;       ///< hidden dropout
  double attn_dropout = 0.5;  ///< dropout on attention probabilities
  double ln_eps = 1e-12;      ///< LayerNorm epsilon
  double init_std = 0.02;     ///< normal init of the weight matrices and positions
  bool norm_first = false;    ///< pre-LN blocks (false: post-LN)
  bool final_norm = false;    ///< LayerNorm after the last block (TransformerEncoder)

  void validate() const {
    check_range<index_t>("d", d, 1, 1 << 16);
    check_range("heads", heads, 1, 1024);
    if (d % heads != 0)
      throw ConfigError("heads = " + std::to_string(heads) + " does not divide d = " + std::to_string(d));
    check_range<index_t>("inner", inner, 1, 1 << 20);
    check_range<index_t>("max_len", max_len, 1, 1 << 16);
    check_range("layers", layers, 0, 64);
    check_range("dropout", dropout, 0.0, 0.99);
    check_range("attn_dropout", attn_dropout, 0.0, 0.99);
    if (!(ln_eps > 0)) throw ConfigError("ln_eps = " + std::to_string(ln_eps) + " must be > 0");
    check_range("init_std", init_std, 0.0, 10.0);
  }
};

template <class T, class B = backend::Cpu>
class TransformerBlock {
 public:
  TransformerBlock(ParameterStore<T, B>& store, const std::string& name, const TransformerConfig& c, Rng& rng)
      : attn_(store, name + ".attn", c.d, c.heads, c.attn_dropout, rng),
        ln1_(store, name + ".ln1", c.d, c.ln_eps),
        ffn_(store, name + ".ffn", c.d, c.inner, c.dropout, rng),
        ln2_(store, name + ".ln2", c.d, c.ln_eps),
        dropout_(c.dropout),
        norm_first_(c.norm_first) {}

  /// Padded layout x [B, L, d]; `opt` carries the causal flag and the key padding mask.
  Var<T, B> operator()(Tape<T, B>& t, Var<T, B> x, const ops::AttentionOptions& opt) const {
    return forward(t, x, [&](Var<T, B> h) { return attn_(t, h, h, opt); });
  }
  /// Packed layout x [N, d].
  Var<T, B> packed(Tape<T, B>& t, Var<T, B> x, const PackedView& pv, bool causal) const {
    return forward(t, x, [&](Var<T, B> h) { return attn_.packed(t, h, pv, causal); });
  }

 private:
  template <class Attend>
  Var<T, B> forward(Tape<T, B>& t, Var<T, B> x, Attend&& attend) const {
    if (norm_first_) {
      x = ops::add(x, ops::dropout(attend(ln1_(t, x)), dropout_));
      return ops::add(x, ops::dropout(ffn_(t, ln2_(t, x)), dropout_));
    }
    Var<T, B> a = ops::dropout(attend(x), dropout_);
    x = ln1_(t, ops::add(x, a));
    Var<T, B> f = ops::dropout(ffn_(t, x), dropout_);
    return ln2_(t, ops::add(x, f));
  }

  MultiHeadAttention<T, B> attn_;
  LayerNorm<T, B> ln1_;
  FeedForward<T, B> ffn_;
  LayerNorm<T, B> ln2_;
  double dropout_;
  bool norm_first_;
};

/// Learned absolute positions for windows of up to max_len items, counted
/// from the end: the last item of every sequence has position max_len - 1
/// (left padding in the padded layout; PackedView::positions in the packed one).
template <class T, class B = backend::Cpu>
class PositionalEmbedding {
 public:
  PositionalEmbedding(ParameterStore<T, B>& store, const std::string& name, index_t max_len, index_t d, double std,
                      Rng& rng)
      : table_(&store.add(name + ".weight", {max_len, d}, Init::normal(std), rng)) {}
  /// x [B, L, d] + rows [max_len - L, max_len) of the table.
  Var<T, B> operator()(Tape<T, B>& t, Var<T, B> x) const {
    const index_t L = x.shape()[1], max_len = table_->value.dim(0);
    if (L > max_len)
      throw ShapeError("positional embedding: length " + std::to_string(L) + " exceeds max_len " +
                       std::to_string(max_len));
    return ops::add(x, ops::slice(t.param(*table_), 0, max_len - L, max_len));
  }
  /// x [N, d] + the rows named by pv.positions.
  Var<T, B> packed(Tape<T, B>& t, Var<T, B> x, const PackedView& pv) const {
    return ops::add(x, ops::embedding(t.param(*table_), pv.positions, Shape{pv.rows}));
  }
  index_t max_len() const { return table_->value.dim(0); }

 private:
  Parameter<T, B>* table_;
};

/// Embedding-side stack shared by SASRec and BERT4Rec:
/// positions -> LayerNorm -> dropout -> N Transformer blocks [-> final LayerNorm].
template <class T, class B = backend::Cpu>
class TransformerEncoder {
 public:
  TransformerEncoder(ParameterStore<T, B>& store, const std::string& name, const TransformerConfig& c, Rng& rng, bool causal)
      : pos_(store, name + ".pos", c.max_len, c.d, c.init_std, rng),
        ln_(store, name + ".ln", c.d, c.ln_eps),
        dropout_(c.dropout),
        causal_(causal) {
    for (int i = 0; i < c.layers; ++i) blocks_.emplace_back(store, name + ".block" + std::to_string(i), c, rng);
    // Registered only when asked for, so that a default model has the parameters (and checkpoints) it always had.
    if (c.final_norm) final_ln_.emplace(store, name + ".final_ln", c.d, c.ln_eps);
    // BERT-style initialisation (as the S3-Rec and RecBole code): every weight
    // matrix N(0, init_std), biases 0, LayerNorm scale 1.
    for (auto* p : store.with_prefix(name + ".block")) {
      if (p->value.rank() == 2) Init::normal(c.init_std).apply(p->value, rng);
      else if (p->name.size() >= 5 && p->name.compare(p->name.size() - 5, 5, ".bias") == 0) memory<B>::zero(p->value);
    }
  }
  /// Padded layout: x [B, L, d] item representations; mask [B, L] (nonzero = real item).
  Var<T, B> operator()(Tape<T, B>& t, Var<T, B> x, const std::uint8_t* mask) const {
    x = ops::dropout(ln_(t, pos_(t, x)), dropout_);
    ops::AttentionOptions opt;
    opt.causal = causal_;
    opt.key_mask = mask;
    for (const auto& b : blocks_) x = b(t, x, opt);
    return final_ln_ ? (*final_ln_)(t, x) : x;
  }
  /// Packed layout: x [N, d].
  Var<T, B> packed(Tape<T, B>& t, Var<T, B> x, const PackedView& pv) const {
    x = ops::dropout(ln_(t, pos_.packed(t, x, pv)), dropout_);
    for (const auto& b : blocks_) x = b.packed(t, x, pv, causal_);
    return final_ln_ ? (*final_ln_)(t, x) : x;
  }

 private:
  PositionalEmbedding<T, B> pos_;
  LayerNorm<T, B> ln_;
  std::vector<TransformerBlock<T, B>> blocks_;
  std::optional<LayerNorm<T, B>> final_ln_;
  double dropout_;
  bool causal_;
};

}  // namespace metarec::nn
