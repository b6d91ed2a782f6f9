#pragma once
/// @file bert4rec.hpp
/// BERT4Rec: bidirectional Transformer trained with the cloze objective.
/// Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
/// Representations from Transformer", CIKM 2019. The [MASK] token is item row
/// n_items + 1 of each domain's table; at inference it is appended after the
/// history and its hidden state scores the next item.
#include "metarec/model/concepts.hpp"
#include "metarec/nn/transformer.hpp"

namespace metarec::backbones {

struct BERT4Rec {
  static constexpr const char* name = "bert4rec";
  static constexpr Objective objective = Objective::cloze;

  template <class T>
  class Model {
   public:
    Model(nn::ParameterStore<T>& store, const std::string& prefix, const ModelConfig& c, Rng& rng)
        : encoder_(store, prefix, c.transformer(), rng, /*causal=*/false) {}
    Var<T> encode(Tape<T>& t, Var<T> x, const SequenceView& s) { return encoder_(t, x, s.mask); }
    Var<T> encode_packed(Tape<T>& t, Var<T> x, const PackedView& s) { return encoder_.packed(t, x, s); }

   private:
    nn::TransformerEncoder<T> encoder_;
  };
};

}  // namespace metarec::backbones
