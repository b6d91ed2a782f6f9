#pragma once
/// @file sasrec.hpp
/// SASRec: causal self-attention over the item sequence.
/// Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018;
/// post-LN blocks with GELU and a 4d feed-forward as in the S3-Rec code.
#include "metarec/model/concepts.hpp"
#include "metarec/nn/transformer.hpp"

namespace metarec::backbones {

struct SASRec {
  static constexpr const char* name = "sasrec";
  static constexpr Objective objective = Objective::next_item;

  template <class T>
  class Model {
   public:
    Model(nn::ParameterStore<T>& store, const std::string& prefix, const ModelConfig& c, Rng& rng)
        : encoder_(store, prefix, c.transformer(), rng, /*causal=*/true) {}
    Var<T> encode(Tape<T>& t, Var<T> x, const SequenceView& s) { return encoder_(t, x, s.mask); }
    Var<T> encode_packed(Tape<T>& t, Var<T> x, const PackedView& s) { return encoder_.packed(t, x, s); }

   private:
    nn::TransformerEncoder<T> encoder_;
  };
};

}  // namespace metarec::backbones
