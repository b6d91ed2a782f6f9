#pragma once
/// @file config.hpp
/// Runtime sizes and rates of a Recommender. One struct for every backbone
/// so the command-line tool and config files map onto it directly; a backbone
/// ignores the fields it does not use. Defaults follow the S3-Rec comparison
/// (SPEC section 2).
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/nn/transformer.hpp"
#include "metarec/model/quantizer_config.hpp"

namespace metarec {

struct ModelConfig {
  index_t d = 64;              ///< hidden size = item embedding size
  int layers = 2;              ///< Transformer blocks / GRU layers
  int heads = 2;               ///< attention heads (must divide d)
  index_t inner = 256;         ///< feed-forward inner size (4d)
  index_t max_len = 50;        ///< longest history fed to the backbone
  double dropout = 0.5;        ///< hidden dropout
  double attn_dropout = 0.5;   ///< dropout on attention probabilities
  double ln_eps = 1e-12;       ///< LayerNorm epsilon (BERT / S3-Rec value)
  double init_std = 0.02;      ///< normal init of embeddings and projections
  index_t gru_hidden = 0;      ///< GRU4Rec hidden size (0 = d)
  double mask_prob = 0.2;      ///< BERT4Rec cloze probability
  quantizers::QuantizerConfig quantizer;  ///< used (and validated) by the VQ / PQ quantizers

  /// The Transformer-stack view of this config (SASRec, BERT4Rec).
  nn::TransformerConfig transformer() const {
    return {.d = d, .heads = heads, .inner = inner, .max_len = max_len, .layers = layers, .dropout = dropout,
            .attn_dropout = attn_dropout, .ln_eps = ln_eps, .init_std = init_std};
  }

  /// Throws ConfigError naming the first field out of range.
  void validate() const {
    check_range<index_t>("d", d, 1, 1 << 16);
    check_range("layers", layers, 1, 64);
    check_range("heads", heads, 1, 1024);
    if (d % heads != 0)
      throw ConfigError("heads = " + std::to_string(heads) + " does not divide d = " + std::to_string(d));
    check_range<index_t>("inner", inner, 1, 1 << 20);
    check_range<index_t>("max_len", max_len, 2, 1 << 16);
    check_range("dropout", dropout, 0.0, 0.99);
    check_range("attn_dropout", attn_dropout, 0.0, 0.99);
    check_range("mask_prob", mask_prob, 0.01, 0.99);
    check_range<index_t>("gru_hidden", gru_hidden, 0, 1 << 16);
    check_range("init_std", init_std, 0.0, 10.0);
    if (!(ln_eps > 0)) throw ConfigError("ln_eps = " + std::to_string(ln_eps) + " must be > 0");
    quantizer.validate(d);
  }
};

}  // namespace metarec
