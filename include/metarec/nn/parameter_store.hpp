#pragma once
/// @file parameter_store.hpp
/// Owner of a model's parameters. Modules register their tensors here under
/// hierarchical names ("backbone.block0.attn.q.weight"); optimizers,
/// checkpoints and the meta-learners iterate the store. Addresses are stable
/// (std::deque), so modules keep plain pointers.
#include <deque>
#include <string>
#include <vector>

#include "metarec/autograd/parameter.hpp"
#include "metarec/core/error.hpp"
#include "metarec/core/random.hpp"

namespace metarec::nn {

/// How a new parameter is filled.
struct Init {
  enum class Kind { zeros, ones, constant, normal, uniform, xavier_uniform } kind = Kind::zeros;
  double a = 0, b = 0;
  static Init zeros() { return {Kind::zeros}; }
  static Init ones() { return {Kind::ones}; }
  static Init constant(double v) { return {Kind::constant, v}; }
  static Init normal(double stddev, double mean = 0) { return {Kind::normal, mean, stddev}; }
  static Init uniform(double lo, double hi) { return {Kind::uniform, lo, hi}; }
  /// Glorot & Bengio 2010: U(-sqrt(6/(fan_in+fan_out)), +...) for a [out, in] matrix.
  static Init xavier_uniform() { return {Kind::xavier_uniform}; }

  /// Fills a device tensor with the same draws as a host one (drawn on the host, then copied).
  template <class T>
  void apply(const cuda::DeviceTensor<T>& t, Rng& rng) const {
    Tensor<T> host(t.shape());
    apply(host, rng);
    memory<backend::Cuda>::upload(host, t);
  }
  template <class T>
  void apply(const Tensor<T>& t, Rng& rng) const {
    switch (kind) {
      case Kind::zeros: t.zero(); break;
      case Kind::ones: t.fill(T(1)); break;
      case Kind::constant: t.fill(static_cast<T>(a)); break;
      case Kind::normal: for (auto& v : t) v = static_cast<T>(rng.normal(a, b)); break;
      case Kind::uniform: for (auto& v : t) v = static_cast<T>(rng.uniform(a, b)); break;
      case Kind::xavier_uniform: {
        const double fan_out = static_cast<double>(t.rank() >= 2 ? t.dim(0) : 1);
        const double fan_in = static_cast<double>(t.rank() >= 2 ? t.size() / t.dim(0) : t.size());
        const double lim = std::sqrt(6.0 / (fan_in + fan_out));
        for (auto& v : t) v = static_cast<T>(rng.uniform(-lim, lim));
        break;
      }
    }
  }
};

template <class T, class B = backend::Cpu>
class ParameterStore {
 public:
  /// Registers a new parameter; names must be unique.
  Parameter<T, B>& add(const std::string& name, Shape shape, const Init& init, Rng& rng, bool sparse_rows = false) {
    if (find(name)) throw ConfigError("parameter '" + name + "' is registered twice");
    params_.emplace_back(name, shape, sparse_rows);
    init.apply(params_.back().value, rng);
    return params_.back();
  }
  Parameter<T, B>* find(const std::string& name) {
    for (auto& p : params_)
      if (p.name == name) return &p;
    return nullptr;
  }
  Parameter<T, B>& at(const std::string& name) {
    if (auto* p = find(name)) return *p;
    throw ConfigError("no parameter named '" + name + "'");
  }
  /// Every parameter, in registration order.
  std::vector<Parameter<T, B>*> all() {
    std::vector<Parameter<T, B>*> out;
    for (auto& p : params_) out.push_back(&p);
    return out;
  }
  /// Parameters whose name starts with `prefix`.
  std::vector<Parameter<T, B>*> with_prefix(const std::string& prefix) {
    std::vector<Parameter<T, B>*> out;
    for (auto& p : params_)
      if (p.name.compare(0, prefix.size(), prefix) == 0) out.push_back(&p);
    return out;
  }
  std::size_t size() const { return params_.size(); }
  /// Total number of scalar weights.
  index_t numel() const {
    index_t n = 0;
    for (auto& p : params_) n += p.value.size();
    return n;
  }
  void zero_grad() {
    for (auto& p : params_) p.zero_grad();
  }
  /// Freezes (trainable = false) or unfreezes every parameter under a prefix.
  void set_trainable(const std::string& prefix, bool on) {
    for (auto* p : with_prefix(prefix)) p->trainable = on;
  }

 private:
  std::deque<Parameter<T, B>> params_;
};

}  // namespace metarec::nn
