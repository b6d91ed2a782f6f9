#pragma once
/// @file sgd.hpp
/// Stochastic gradient descent with optional (Nesterov) momentum and L2 weight
/// decay, with PyTorch's conventions (dampening 0):
///   g = grad + wd * w
///   buf = momentum * buf + g                      (buf starts at 0)
///   g = nesterov ? g + momentum * buf : buf        (when momentum > 0)
///   w -= lr * lr_scale * g
/// Nesterov momentum: Sutskever, Martens, Dahl & Hinton, ICML 2013.
#include "metarec/optim/optimizer.hpp"

namespace metarec::optim {

struct SGDConfig {
  double lr = 1e-2;
  double momentum = 0;
  bool nesterov = false;
  double weight_decay = 0;  ///< L2 penalty added to the gradient
};

template <class T, class B = backend::Cpu>
class SGD : public Optimizer<T, B> {
  using Base = Optimizer<T, B>;

 public:
  /// One group holding `params` with the config's weight decay.
  SGD(std::vector<Parameter<T, B>*> params, SGDConfig cfg)
      : Base(Base::one_group(std::move(params), validated(cfg).weight_decay), cfg.lr, state_names(cfg)), cfg_(cfg) {}
  /// `SGD<float>({&w, &b}, cfg)`: a braced list of parameters is one group, too.
  SGD(std::initializer_list<Parameter<T, B>*> params, SGDConfig cfg) : SGD(std::vector<Parameter<T, B>*>(params), cfg) {}
  /// Several groups; each group's weight_decay applies (cfg.weight_decay must be 0).
  SGD(std::vector<ParamGroup<T, B>> groups, SGDConfig cfg)
      : Base(Base::check_groups(std::move(groups), validated(cfg).weight_decay, "SGD"), cfg.lr, state_names(cfg)),
        cfg_(cfg) {}

  const char* kind() const override { return "sgd"; }
  const SGDConfig& config() const { return cfg_; }

  void step() override {
    if constexpr (!B::is_host) throw ConfigError("SGD has no device path yet (backend::Cuda); use Adam");
    ++this->steps_;
    for (auto& s : this->slots_) {
      if (!detail::has_gradient(*s.p)) continue;
      const T lr = static_cast<T>(this->lr_ * s.group->lr_scale);
      const T wd = static_cast<T>(s.group->weight_decay);
      const T mu = static_cast<T>(cfg_.momentum);
      const bool use_mu = cfg_.momentum != 0, nesterov = cfg_.nesterov;
      T* w = s.p->value.data();
      const T* gr = s.p->grad.data();
      T* buf = use_mu ? s.state[0].data() : nullptr;
      detail::for_each_grad_span(*s.p, [=](index_t, index_t off, index_t len) {
        for (index_t i = off; i < off + len; ++i) {
          T g = gr[i] + wd * w[i];
          if (use_mu) {
            buf[i] = mu * buf[i] + g;
            g = nesterov ? g + mu * buf[i] : buf[i];
          }
          w[i] -= lr * g;
        }
      });
    }
  }

 private:
  static const SGDConfig& validated(const SGDConfig& c) {
    detail::check_finite_nonneg("SGD", "lr", c.lr);
    detail::check_finite_nonneg("SGD", "weight_decay", c.weight_decay);
    check_range("SGD momentum", c.momentum, 0.0, 1.0);
    if (c.nesterov && c.momentum <= 0) throw ConfigError("SGD: nesterov = true requires momentum > 0");
    return c;
  }
  static std::vector<std::string> state_names(const SGDConfig& c) {
    if (c.momentum == 0) return {};
    return {"sgd.momentum"};
  }
  SGDConfig cfg_;
};

}  // namespace metarec::optim
