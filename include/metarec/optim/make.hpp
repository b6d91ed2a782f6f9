#pragma once
/// @file make.hpp
/// The optimizer as a run-time choice: one name -> one of the library's
/// optimizers behind the Optimizer<T, B> interface (the trainer's policy point).
#include <memory>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/optim/sgd.hpp"

namespace metarec::optim {

enum class OptimizerKind {
  adam,   ///< Adam with L2 weight decay added to the gradient (Kingma & Ba 2015)
  adamw,  ///< Adam with decoupled weight decay (Loshchilov & Hutter 2019)
  sgd     ///< SGD with optional momentum
};

inline const char* optimizer_name(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::adamw: return "adamw";
    case OptimizerKind::sgd: return "sgd";
  }
  return "?";
}

inline OptimizerKind parse_optimizer(const std::string& name) {
  for (auto k : {OptimizerKind::adam, OptimizerKind::adamw, OptimizerKind::sgd})
    if (name == optimizer_name(k)) return k;
  throw ConfigError("unknown optimizer '" + name + "' (expected adam|adamw|sgd)");
}

/// What every optimizer takes; `momentum` is read by SGD only.
struct OptimizerSettings {
  OptimizerKind kind = OptimizerKind::adam;
  double lr = 1e-3;
  double weight_decay = 0;
  double momentum = 0;
};

template <class T, class B = backend::Cpu>
std::unique_ptr<Optimizer<T, B>> make_optimizer(std::vector<Parameter<T, B>*> params, const OptimizerSettings& s) {
  switch (s.kind) {
    case OptimizerKind::adam:
      return std::make_unique<Adam<T, B>>(std::move(params), AdamConfig{.lr = s.lr, .weight_decay = s.weight_decay});
    case OptimizerKind::adamw:
      return std::make_unique<Adam<T, B>>(std::move(params),
                                       AdamConfig{.lr = s.lr, .weight_decay = s.weight_decay, .decoupled = true});
    case OptimizerKind::sgd:
      return std::make_unique<SGD<T, B>>(std::move(params),
                                      SGDConfig{.lr = s.lr, .momentum = s.momentum, .weight_decay = s.weight_decay});
  }
  throw ConfigError("make_optimizer: unknown optimizer kind");
}

}  // namespace metarec::optim
