#pragma once
/// @file gru4rec.hpp
/// GRU4Rec: embedding -> dropout -> GRU layer(s) -> dense back to d.
/// Hidasi et al., "Session-based Recommendations with Recurrent Neural
/// Networks", ICLR 2016 (full-softmax variant, as in RecBole and S3-Rec).
/// Left padding is held out of the recurrence by the GRU's step mask.
#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/model/config.hpp"
#include "metarec/model/contract.hpp"
#include "metarec/nn/gru.hpp"
#include "metarec/nn/linear.hpp"

namespace metarec::backbones {

struct GRU4Rec {
  static constexpr const char* name = "gru4rec";
  static constexpr Objective objective = Objective::next_item;

  struct Config {
    int layers = 2;        ///< stacked GRU layers
    index_t hidden = 0;    ///< GRU hidden size (0 = d)
    double dropout = 0.5;  ///< dropout on the input embeddings

    template <class V>
    void visit(V&& v) {
      v("layers", layers, "Transformer blocks or GRU layers");
      v("gru_hidden", hidden, "GRU4Rec hidden size (0 = d)");
      v("dropout", dropout, "hidden dropout");
    }
    void validate(const ModelConfig&) const {
      check_range("layers", layers, 1, 64);
      check_range<index_t>("gru_hidden", hidden, 0, 1 << 16);
      check_range("dropout", dropout, 0.0, 0.99);
    }
  };

  template <class T, class B = backend::Cpu>
  class Model {
   public:
    Model(nn::ParameterStore<T, B>& store, const std::string& prefix, const ModelConfig& m, const Config& c, Rng& rng)
        : gru_(store, prefix + ".gru", m.d, hidden(m, c), rng, c.layers),
          dense_(store, prefix + ".dense", hidden(m, c), m.d, rng),
          dropout_(c.dropout) {}
    Var<T, B> encode(Tape<T, B>& t, Var<T, B> x, const SequenceView& s) {
      return dense_(t, gru_(t, ops::dropout(x, dropout_), s.mask));
    }

   private:
    static index_t hidden(const ModelConfig& m, const Config& c) { return c.hidden > 0 ? c.hidden : m.d; }
    nn::GRU<T, B> gru_;
    nn::Linear<T, B> dense_;
    double dropout_;
  };
};

}  // namespace metarec::backbones
