#pragma once
/// @file dropout.hpp
/// Inverted dropout module: holds p; active only in the tape's training mode.
#include "metarec/autograd/ops/dropout.hpp"

namespace metarec::nn {

class Dropout {
 public:
  /// p in [0, 1), else ConfigError.
  explicit Dropout(double p = 0.0) : p_(p) { ops::check_dropout_p("Dropout", p); }
  template <class T, class B = backend::Cpu>
  Var<T, B> operator()(Tape<T, B>&, Var<T, B> x) const { return ops::dropout(x, p_); }
  double p() const { return p_; }

 private:
  double p_ = 0.0;
};

}  // namespace metarec::nn
