#pragma once
/// @file identity.hpp
/// No quantization: an item is its embedding row.
#include "metarec/model/concepts.hpp"

namespace metarec::quantizers {

struct Identity {
  static constexpr const char* name = "none";
  template <class T>
  class Model {
   public:
    Model(nn::ParameterStore<T>&, const ModelConfig&, Rng&) {}
    QuantizedItems<T> apply(Tape<T>&, Var<T> table, int /*domain*/) { return {table, {}}; }
  };
};

}  // namespace metarec::quantizers
