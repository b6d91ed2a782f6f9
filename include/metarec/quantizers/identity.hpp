#pragma once
/// @file identity.hpp
/// No quantization: an item is its embedding row.
#include "metarec/model/concepts.hpp"

namespace metarec::quantizers {

struct Identity {
  static constexpr const char* name = "none";
  template <class T, class B = backend::Cpu>
  class Model {
   public:
    Model(nn::ParameterStore<T, B>&, const ModelConfig&, Rng&) {}
    QuantizedItems<T, B> apply(Tape<T, B>&, Var<T, B> table, int /*domain*/) { return {table, {}}; }
  };
};

}  // namespace metarec::quantizers
