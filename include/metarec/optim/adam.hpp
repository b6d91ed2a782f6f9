#pragma once
/// @file adam.hpp
/// Adam (Kingma & Ba, ICLR 2015) and AdamW, decoupled weight decay
/// (Loshchilov & Hutter, ICLR 2019), in PyTorch's formulation:
///   g = grad (+ wd * w when not decoupled: L2 penalty)
///   w *= 1 - lr * wd                              (decoupled only)
///   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
///   w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// with t = steps() after the increment and lr = lr() * group lr_scale.
/// Sparse embedding tables are updated lazily (see optimizer.hpp): untouched
/// rows keep their moments undecayed and the bias correction uses the global
/// step t, as torch.optim.SparseAdam does. This is what makes a 20k-row table
/// cheap per step; it differs from dense Adam only for rows that skip steps.
#include "metarec/optim/optimizer.hpp"

namespace metarec::optim {

struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  ///< L2 added to the gradient, or decoupled decay when `decoupled`
  bool decoupled = false;   ///< true = AdamW
};

template <class T, class B = backend::Cpu>
class Adam : public Optimizer<T, B> {
  using Base = Optimizer<T, B>;

 public:
  /// One group holding `params` with the config's weight decay.
  explicit Adam(std::vector<Parameter<T, B>*> params, AdamConfig cfg = {})
      : Base(Base::one_group(std::move(params), validated(cfg).weight_decay), cfg.lr, {"adam.m", "adam.v"}),
        cfg_(cfg) {}
  /// `Adam<float>({&w, &b})`: a braced list of parameters is one group, too.
  explicit Adam(std::initializer_list<Parameter<T, B>*> params, AdamConfig cfg = {})
      : Adam(std::vector<Parameter<T, B>*>(params), cfg) {}
  /// Several groups; each group's weight_decay applies (cfg.weight_decay must be 0).
  explicit Adam(std::vector<ParamGroup<T, B>> groups, AdamConfig cfg = {})
      : Base(Base::check_groups(std::move(groups), validated(cfg).weight_decay, "Adam"), cfg.lr,
             {"adam.m", "adam.v"}),
        cfg_(cfg) {}

  const char* kind() const override { return "adam"; }
  const AdamConfig& config() const { return cfg_; }

  void step() override {
    ++this->steps_;
    const double t = static_cast<double>(this->steps_);
    const double bc1 = 1 - std::pow(cfg_.beta1, t);
    const T inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(1 - std::pow(cfg_.beta2, t)));
    const T b1 = static_cast<T>(cfg_.beta1), c1 = static_cast<T>(1 - cfg_.beta1);
    const T b2 = static_cast<T>(cfg_.beta2), c2 = static_cast<T>(1 - cfg_.beta2);
    const T eps = static_cast<T>(cfg_.eps);
    const bool decoupled = cfg_.decoupled;
    for (auto& s : this->slots_) {
      if (!detail::has_gradient(*s.p)) continue;
      const double lr = this->lr_ * s.group->lr_scale;
      const T step_size = static_cast<T>(lr / bc1);
      const T l2 = decoupled ? T(0) : static_cast<T>(s.group->weight_decay);
      const T shrink = static_cast<T>(1 - (decoupled ? lr * s.group->weight_decay : 0.0));
      if constexpr (!B::is_host) {  // device gradients are dense (autograd/parameter.hpp)
        const cuda::elem::AdamScalars<T> a{b1, c1, b2, c2, eps, step_size, inv_sqrt_bc2, l2, shrink};
        cuda::adam_step(memory<B>::context(), a, s.p->value, s.p->grad, s.state[0], s.state[1]);
        continue;
      }
      T* w = s.p->value.data();
      const T* gr = s.p->grad.data();
      T* m = s.state[0].data();
      T* v = s.state[1].data();
      detail::for_each_grad_span(*s.p, [=](index_t, index_t off, index_t len) {
        detail::ArraySpan<T> W(w + off, len), M(m + off, len), V(v + off, len);
        const auto G = detail::ConstArraySpan<T>(gr + off, len) + l2 * W;  // lazy: evaluated per element
        M = b1 * M + c1 * G;
        V = b2 * V + c2 * G.square();
        W = shrink * W - step_size * M / (V.sqrt() * inv_sqrt_bc2 + eps);
      });
    }
  }

 protected:
  static AdamConfig with_decoupled(AdamConfig c) {
    c.decoupled = true;
    return c;
  }

 private:
  static const AdamConfig& validated(const AdamConfig& c) {
    detail::check_finite_nonneg("Adam", "lr", c.lr);
    detail::check_finite_nonneg("Adam", "weight_decay", c.weight_decay);
    check_range("Adam beta1", c.beta1, 0.0, 0.999999999);
    check_range("Adam beta2", c.beta2, 0.0, 0.999999999);
    if (!(c.eps > 0 && std::isfinite(c.eps))) throw ConfigError("Adam: eps = " + std::to_string(c.eps) + " must be > 0");
    return c;
  }
  AdamConfig cfg_;
};

/// Adam with decoupled weight decay (always `decoupled = true`; default decay
/// 0.01 as in PyTorch for a plain parameter list).
template <class T, class B = backend::Cpu>
class AdamW : public Adam<T, B> {
 public:
  explicit AdamW(std::vector<Parameter<T, B>*> params, AdamConfig cfg = default_config())
      : Adam<T, B>(std::move(params), Adam<T, B>::with_decoupled(cfg)) {}
  explicit AdamW(std::initializer_list<Parameter<T, B>*> params, AdamConfig cfg = default_config())
      : AdamW(std::vector<Parameter<T, B>*>(params), cfg) {}
  explicit AdamW(std::vector<ParamGroup<T, B>> groups, AdamConfig cfg = {})
      : Adam<T, B>(std::move(groups), Adam<T, B>::with_decoupled(cfg)) {}
  static AdamConfig default_config() {
    AdamConfig c;
    c.weight_decay = 0.01;
    c.decoupled = true;
    return c;
  }
};

}  // namespace metarec::optim
