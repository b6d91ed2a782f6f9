#pragma once
/// @file sgd.hpp
/// Stochastic gradient descent with optional (Nesterov) momentum and L2 weight
/// decay, with PyTorch's conventions (dampening 0):
///   g = grad + wd * w
///   buf = momentum * buf + g                      (buf starts at 0)
///   g = nesterov ? g + momentum * buf : buf        (when momentum > 0)
///   w -= lr * lr_scale * g
/// Nesterov momentum: Sutskever, Martens, Dahl & Hinton, ICML 2013.
#include "metarec/cuda/ops_losses.hpp"
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
    ++this->steps_;
    for (auto& s : this->slots_) {
      if (!detail::has_gradient(*s.p)) continue;
      const bool use_mu = cfg_.momentum != 0;
      // One element body (cuda::elem::sgd_update_at) for the host loop and the device kernel.
      const cuda::elem::SgdScalars<T> a{static_cast<T>(this->lr_ * s.group->lr_scale),
                                        static_cast<T>(s.group->weight_decay), static_cast<T>(cfg_.momentum),
                                        cfg_.nesterov};
      if constexpr (!B::is_host) {  // device gradients are dense (autograd/parameter.hpp)
        cuda::sgd_step(memory<B>::context(), a, s.p->value, s.p->grad, use_mu ? s.state[0] : TensorOf<T, B>());
        continue;
      } else {
        T* w = s.p->value.data();
        const T* gr = s.p->grad.data();
        T* buf = use_mu ? s.state[0].data() : nullptr;
        detail::for_each_grad_span(*s.p, [=](index_t, index_t off, index_t len) {
          for (index_t i = off; i < off + len; ++i) cuda::elem::sgd_update_at(a, w, gr, buf, i);
        });
      }
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
