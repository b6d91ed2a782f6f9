#pragma once
/// @file transformer_blocks.hpp
/// What SASRec and BERT4Rec share: a stack of Transformer blocks
/// (nn/transformer.hpp; post-LN by default, pre-LN with norm_first), its
/// settings and its Model. One definition, so the two
/// backbones differ only in the attention mask and the objective;
/// nn::TransformerConfig::validate is the one range check.
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/sequence_view.hpp"
#include "metarec/model/config.hpp"
#include "metarec/nn/transformer.hpp"

namespace metarec::backbones {

struct TransformerBlocksConfig {
  int layers = 2;             ///< Transformer blocks
  int heads = 2;              ///< attention heads (must divide d)
  index_t inner = 256;        ///< feed-forward inner size (4d)
  double dropout = 0.5;       ///< hidden dropout (embedding, sub-layer outputs)
  double attn_dropout = 0.5;  ///< dropout on attention probabilities
  double ln_eps = 1e-12;      ///< LayerNorm epsilon (BERT / S3-Rec value)
  bool norm_first = false;    ///< pre-LN blocks; false = post-LN (S3-Rec, BERT)
  bool final_norm = false;    ///< LayerNorm after the last block (pairs with norm_first)

  template <class V>
  void visit(V&& v) {
    v("layers", layers, "Transformer blocks or GRU layers");
    v("heads", heads, "attention heads (divide d)");
    v("inner", inner, "feed-forward inner size");
    v("dropout", dropout, "hidden dropout");
    v("attn_dropout", attn_dropout, "attention-probability dropout");
    v("ln_eps", ln_eps, "LayerNorm epsilon");
    v("norm_first", norm_first, "pre-LN Transformer blocks x + f(LN(x)) (default: post-LN LN(x + f(x)))");
    v("final_norm", final_norm, "LayerNorm after the last Transformer block (the usual pairing with --norm-first)");
  }

  /// The layer-level view, with the model's width, positions and initialisation.
  nn::TransformerConfig layer_config(const ModelConfig& m) const {
    return {.d = m.d, .heads = heads, .inner = inner, .max_len = m.max_len, .layers = layers, .dropout = dropout,
            .attn_dropout = attn_dropout, .ln_eps = ln_eps, .init_std = m.init_std,
            .norm_first = norm_first, .final_norm = final_norm};
  }
  void validate(const ModelConfig& m) const {
    check_range("layers", layers, 1, 64);
    layer_config(m).validate();
  }
};

/// The Model of a Transformer-stack backbone; Causal masks attention to the past.
template <class T, class B, bool Causal>
class TransformerStack {
 public:
  TransformerStack(nn::ParameterStore<T, B>& store, const std::string& prefix, const ModelConfig& m,
                   const TransformerBlocksConfig& c, Rng& rng)
      : encoder_(store, prefix, c.layer_config(m), rng, Causal) {}
  Var<T, B> encode(Tape<T, B>& t, Var<T, B> x, const SequenceView& s) { return encoder_(t, x, s.mask); }
  Var<T, B> encode_packed(Tape<T, B>& t, Var<T, B> x, const PackedView& s) { return encoder_.packed(t, x, s); }

 private:
  nn::TransformerEncoder<T, B> encoder_;
};

}  // namespace metarec::backbones
