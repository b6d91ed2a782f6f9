#pragma once
/// @file gru4rec.hpp
/// GRU4Rec: embedding -> dropout -> GRU layer(s) -> dense back to d.
/// Hidasi et al., "Session-based Recommendations with Recurrent Neural
/// Networks", ICLR 2016 (full-softmax variant, as in RecBole and S3-Rec).
/// Left padding is held out of the recurrence by the GRU's step mask.
#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/model/concepts.hpp"
#include "metarec/nn/gru.hpp"
#include "metarec/nn/linear.hpp"

namespace metarec::backbones {

struct GRU4Rec {
  static constexpr const char* name = "gru4rec";
  static constexpr Objective objective = Objective::next_item;

  template <class T>
  class Model {
   public:
    Model(nn::ParameterStore<T>& store, const std::string& prefix, const ModelConfig& c, Rng& rng)
        : gru_(store, prefix + ".gru", c.d, hidden(c), rng, c.layers),
          dense_(store, prefix + ".dense", hidden(c), c.d, rng),
          dropout_(c.dropout) {}
    Var<T> encode(Tape<T>& t, Var<T> x, const SequenceView& s) {
      return dense_(t, gru_(t, ops::dropout(x, dropout_), s.mask));
    }

   private:
    static index_t hidden(const ModelConfig& c) { return c.gru_hidden > 0 ? c.gru_hidden : c.d; }
    nn::GRU<T> gru_;
    nn::Linear<T> dense_;
    double dropout_;
  };
};

}  // namespace metarec::backbones
