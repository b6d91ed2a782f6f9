#pragma once
/// @file missrec_config.hpp
/// Runtime sizes and rates of MISSRec (SPEC section 4). Defaults are the
/// authors' except d: 300 in the paper, 64 here (2-core machines); pass 300
/// to reproduce the paper's width.
#include <cmath>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/nn/transformer.hpp"

namespace metarec::multimodal {

/// Per-modality adaptor f_m -> d: linear (the paper), or UniSRec's mixture of
/// whitening experts (nn/whitening_experts.hpp; SPEC 4 names it as an option).
enum class AdaptorKind { linear, moe };

inline const char* adaptor_name(AdaptorKind k) { return k == AdaptorKind::moe ? "moe" : "linear"; }
inline AdaptorKind parse_adaptor(const std::string& s) {
  if (s == "linear") return AdaptorKind::linear;
  if (s == "moe") return AdaptorKind::moe;
  throw ConfigError("adaptor = '" + s + "' is not one of linear, moe");
}

struct MissrecConfig {
  index_t d = 64;                     ///< hidden size (paper: 300)
  int heads = 4;                      ///< attention heads (divide d)
  index_t inner = 256;                ///< feed-forward inner size
  int encoder_layers = 1;             ///< contextual encoder layers over interest tokens
  int decoder_layers = 1;             ///< interest-aware decoder layers
  index_t max_len = 50;               ///< longest history fed to the decoder
  double dropout = 0.5;               ///< hidden dropout
  double attn_dropout = 0.5;          ///< dropout on attention probabilities
  double ln_eps = 1e-5;               ///< LayerNorm epsilon (PyTorch nn.Transformer default)
  double init_std = 0.02;             ///< normal init of encoder/decoder/position weights
  double temperature = 0.07;          ///< logits = score / temperature
  double interest_ratio = 0.5;        ///< #interests = ceil(ratio * #modality tokens); 0.02 pre-training
  bool transductive = false;          ///< ID embeddings added to item tokens and mixed into scores
  /// Training samples (fine-tuning and pre-training): every prefix of a training
  /// sequence predicts its next item (the RecBole/MISSRec train.inter rows),
  /// computed in one pass per sequence; needs decoder_layers == 1. Off: one
  /// sample per sequence (its last item).
  bool prefix_samples = true;
  std::vector<index_t> feature_dims;  ///< one input width per modality (text, image, ...)
  int kmeans_epochs = 5;              ///< mini-batch k-means steps = ceil(epochs * #tokens / batch)
  index_t kmeans_batch = 1024;        ///< mini-batch k-means batch size
  AdaptorKind adaptor = AdaptorKind::linear;
  int moe_experts = 8;                ///< MoWE experts E (UniSRec n_exps)
  double moe_dropout = 0.2;           ///< MoWE dropout on the features (UniSRec adaptor_dropout_prob)
  bool moe_noisy_gate = false;        ///< MoWE noisy gate in training (UniSRec's default), else softmax(x W_g)

  /// The fields the command-line tool offers and records (model/policy_config.hpp); feature_dims,
  /// prefix_samples and adaptor are set from the data and dedicated flags.
  template <class V>
  void visit(V&& v) {
    v("d", d, "hidden size (paper: 300)");
    v("heads", heads, "attention heads");
    v("inner", inner, "feed-forward inner size");
    v("encoder_layers", encoder_layers, "interest encoder layers");
    v("decoder_layers", decoder_layers, "interest-aware decoder layers");
    v("max_len", max_len, "longest history");
    v("dropout", dropout, "hidden dropout");
    v("attn_dropout", attn_dropout, "attention-probability dropout");
    v("temperature", temperature, "logit temperature");
    v("interest_ratio", interest_ratio, "#interests / #modality tokens, in (0, 1]");
    v("transductive", transductive, "add ID embeddings (tokens and scores)");
    v("moe_experts", moe_experts, "experts of the moe adaptor, >= 1");
    v("moe_dropout", moe_dropout, "dropout on the features inside the moe adaptor");
    v("moe_noisy_gate", moe_noisy_gate, "moe adaptor: noisy gate in training (UniSRec) instead of softmax(x W_g)");
  }

  void validate() const {
    block_config().validate();  // d, heads, inner, dropouts, ln_eps, init_std: the blocks' own ranges
    check_range("encoder_layers", encoder_layers, 1, 64);
    check_range("decoder_layers", decoder_layers, 1, 64);
    check_range<index_t>("max_len", max_len, 2, 1 << 16);
    check_range("temperature", temperature, 1e-6, 1e6);
    if (!(interest_ratio > 0.0 && interest_ratio <= 1.0))
      throw ConfigError("interest_ratio = " + std::to_string(interest_ratio) + " is out of range (0, 1]");
    if (feature_dims.empty()) throw ConfigError("MISSRec needs at least one modality (feature_dims is empty)");
    for (std::size_t m = 0; m < feature_dims.size(); ++m)
      if (feature_dims[m] < 1)
        throw ConfigError("feature_dims[" + std::to_string(m) + "] = " + std::to_string(feature_dims[m]) + " must be >= 1");
    if (feature_dims.size() > 64) throw ConfigError("at most 64 modalities, got " + std::to_string(feature_dims.size()));
    if (prefix_samples && decoder_layers != 1)
      throw ConfigError("prefix_samples needs decoder_layers = 1 (got " + std::to_string(decoder_layers) +
                        "): with more layers every prefix needs its own decoder pass");
    check_range("kmeans_epochs", kmeans_epochs, 1, 1000);
    check_range<index_t>("kmeans_batch", kmeans_batch, 1, index_t(1) << 24);
    check_range("moe_experts", moe_experts, 1, 1024);
    check_range("moe_dropout", moe_dropout, 0.0, 0.99);
  }
  index_t modalities() const { return static_cast<index_t>(feature_dims.size()); }
  /// Number of interests for `tokens` modality tokens.
  index_t interests_for(index_t tokens) const {
    const auto k = static_cast<index_t>(std::ceil(interest_ratio * static_cast<double>(tokens) - 1e-9));
    return std::clamp<index_t>(k, 1, std::max<index_t>(tokens, 1));
  }
  /// The Transformer-block view of this config (encoder and decoder blocks).
  nn::TransformerConfig block_config() const {
    return {.d = d, .heads = heads, .inner = inner, .max_len = max_len, .layers = encoder_layers,
            .dropout = dropout, .attn_dropout = attn_dropout, .ln_eps = ln_eps, .init_std = init_std};
  }
};

}  // namespace metarec::multimodal
