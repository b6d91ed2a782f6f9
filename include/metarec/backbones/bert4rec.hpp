#pragma once
/// @file bert4rec.hpp
/// BERT4Rec: bidirectional Transformer trained with the cloze objective.
/// Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
/// Representations from Transformer", CIKM 2019. The [MASK] token is item row
/// n_items + 1 of each domain's table; at inference it is appended after the
/// history and its hidden state scores the next item.
#include "metarec/backbones/transformer_blocks.hpp"
#include "metarec/model/contract.hpp"

namespace metarec::backbones {

struct BERT4Rec {
  static constexpr const char* name = "bert4rec";
  static constexpr Objective objective = Objective::cloze;

  struct Config : TransformerBlocksConfig {
    double mask_prob = 0.2;  ///< cloze probability of a training position

    template <class V>
    void visit(V&& v) {
      TransformerBlocksConfig::visit(v);
      v("mask_prob", mask_prob, "BERT4Rec cloze probability");
    }
    void validate(const ModelConfig& m) const {
      TransformerBlocksConfig::validate(m);
      check_range("mask_prob", mask_prob, 0.01, 0.99);
    }
  };
  template <class T, class B = backend::Cpu>
  using Model = TransformerStack<T, B, /*Causal=*/false>;
};

}  // namespace metarec::backbones
