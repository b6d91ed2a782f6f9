#pragma once
/// @file sasrec.hpp
/// SASRec: causal self-attention over the item sequence.
/// Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018;
/// post-LN blocks with GELU and a 4d feed-forward as in the S3-Rec code.
#include "metarec/backbones/transformer_blocks.hpp"
#include "metarec/model/contract.hpp"

namespace metarec::backbones {

struct SASRec {
  static constexpr const char* name = "sasrec";
  static constexpr Objective objective = Objective::next_item;
  using Config = TransformerBlocksConfig;
  template <class T, class B = backend::Cpu>
  using Model = TransformerStack<T, B, /*Causal=*/true>;
};

}  // namespace metarec::backbones
