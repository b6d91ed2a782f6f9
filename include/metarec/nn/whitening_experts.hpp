#pragma once
/// @file whitening_experts.hpp
/// Mixture-of-whitening-experts (MoWE) adaptor of UniSRec (Hou et al., KDD
/// 2022, "Towards Universal Sequence Representation Learning for Recommender
/// Systems", section 3.1.2; their MoEAdaptorLayer / PWLayer):
///   expert k:  e_k(x) = (drop(x) - b_k) W_k^T      b_k [in], W_k [out, in]
///   gate:      g(x)   = softmax(x W_g^T)            (deterministic, default)
///              g(x)   = softmax(x W_g^T + n (softplus(x W_n^T) + eps)),
///                       n ~ N(0, 1) per entry, in training only (noisy gate)
///   output:    sum_k g_k(x) e_k(x)
/// Computed as one GEMM for all experts plus a per-expert offset:
///   (drop(x) - b_k) W_k^T = drop(x) W_k^T - c_k,  c_k = W_k b_k,
///   output = gated_sum(drop(x) [W_1; ...; W_E]^T, g) - g C.
/// Unlike UniSRec, whose experts each draw their own dropout mask, the experts
/// share one mask: that keeps one [rows, in] copy of x instead of E and makes
/// the E products a single GEMM (the masks differ only in noise, not in
/// expectation). The gate reads x without dropout, as in UniSRec.
#include <cstdint>
#include <string>

#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/autograd/ops/embedding.hpp"
#include "metarec/autograd/ops/linear.hpp"
#include "metarec/autograd/ops/mixture.hpp"
#include "metarec/autograd/ops/shape.hpp"
#include "metarec/autograd/ops/softmax.hpp"
#include "metarec/core/error.hpp"
#include "metarec/nn/parameter_store.hpp"

namespace metarec::nn {

struct WhiteningExpertsOptions {
  int experts = 8;          ///< E (UniSRec n_exps)
  double dropout = 0.2;     ///< dropout on the experts' input (UniSRec adaptor_dropout_prob)
  bool noisy_gate = false;  ///< add the trained noise to the gate logits in training mode
  double noise_eps = 1e-2;  ///< floor of the noise scale (UniSRec noise_epsilon)
  double init_std = 0.02;   ///< N(0, std) init of the expert matrices (UniSRec PWLayer)
  void validate() const {
    check_range("experts", experts, 1, 1024);
    ops::check_dropout_p("WhiteningExperts", dropout);
    check_range("noise_eps", noise_eps, 0.0, 1e3);
    check_range("init_std", init_std, 0.0, 1e3);
  }
};

/// The MoWE map on explicit tensors (for modules and gradient checks).
/// x [..., in]; weight [E * out, in] (expert k = rows [k out, (k + 1) out));
/// center [E, in] (b_k); gate [E, in]; noise [E, in] or invalid (deterministic
/// gate). Returns [..., out].
template <class T, class B = backend::Cpu>
Var<T, B> whitening_experts(Var<T, B> x, Var<T, B> weight, Var<T, B> center, Var<T, B> gate, Var<T, B> noise, double dropout,
                         double noise_eps = 1e-2) {
  Tape<T, B>& t = *x.tape;
  const Shape xs = x.shape();
  const index_t E = center.shape().rank == 2 ? center.shape()[0] : 0;
  const index_t in = xs.rank >= 1 ? xs[-1] : 0;
  const bool ok = E >= 1 && center.shape() == Shape{E, in} && gate.shape() == Shape{E, in} &&
                  weight.shape().rank == 2 && weight.shape()[1] == in && weight.shape()[0] % E == 0 &&
                  weight.shape()[0] > 0 && (!noise.valid() || noise.shape() == Shape{E, in});
  if (!ok)
    throw ShapeError("whitening_experts: input " + xs.str() + ", weight " + weight.shape().str() + ", center " +
                     center.shape().str() + ", gate " + gate.shape().str() +
                     (noise.valid() ? ", noise " + noise.shape().str() : std::string()) +
                     " do not fit (expected x [..., in], weight [E * out, in], center/gate/noise [E, in], E >= 1)");
  const index_t out = weight.shape()[0] / E, rows = x.value().rows();
  Var<T, B> x2 = xs.rank == 2 ? x : ops::reshape(x, Shape{rows, in});
  // Gate on the clean input.
  Var<T, B> logits = ops::linear(x2, gate);
  if (noise.valid() && t.training()) {
    Tensor<T> n = t.alloc(logits.shape());
    for (auto& v : n) v = static_cast<T>(t.rng().normal());
    Tensor<T> floor = t.alloc(Shape{E});
    floor.fill(static_cast<T>(noise_eps));
    Var<T, B> scale = ops::add(ops::softplus(ops::linear(x2, noise)), t.leaf(floor));
    logits = ops::add(logits, ops::mul(scale, t.leaf(n)));
  }
  Var<T, B> g = ops::softmax(logits);  // [rows, E]
  // All experts in one GEMM: [rows, E * out].
  Var<T, B> y = ops::linear(ops::dropout(x2, dropout), weight);
  // Offsets c_k = W_k b_k: the diagonal blocks of center W^T ([E, E * out]; E^2 out in flops, tiny).
  auto* diag = t.template alloc_n<std::int32_t>(E);
  for (index_t k = 0; k < E; ++k) diag[k] = static_cast<std::int32_t>(k * E + k);
  Var<T, B> c = ops::embedding(ops::reshape(ops::linear(center, weight), Shape{E * E, out}), diag, Shape{E});
  Var<T, B> r = ops::sub(ops::gated_sum(y, g), ops::matmul(g, c));
  if (xs.rank == 2) return r;
  Shape os = xs;
  os[-1] = out;
  return ops::reshape(r, os);
}

/// MoWE adaptor module: registers `<name>.experts.weight` [E * out, in],
/// `<name>.experts.center` [E, in], `<name>.gate.weight` [E, in] and, with
/// the noisy gate, `<name>.gate.noise` [E, in]. Init as UniSRec: expert
/// matrices N(0, init_std), centers and gates zero (uniform gate at start).
template <class T, class B = backend::Cpu>
class WhiteningExperts {
 public:
  WhiteningExperts() = default;
  WhiteningExperts(ParameterStore<T, B>& store, const std::string& name, index_t in, index_t out,
                   const WhiteningExpertsOptions& opt, Rng& rng)
      : opt_((opt.validate(), opt)) {
    check_range<index_t>("WhiteningExperts in", in, 1, index_t(1) << 24);
    check_range<index_t>("WhiteningExperts out", out, 1, index_t(1) << 24);
    const index_t E = opt.experts;
    weight_ = &store.add(name + ".experts.weight", {E * out, in}, Init::normal(opt.init_std), rng);
    center_ = &store.add(name + ".experts.center", {E, in}, Init::zeros(), rng);
    gate_ = &store.add(name + ".gate.weight", {E, in}, Init::zeros(), rng);
    if (opt.noisy_gate) noise_ = &store.add(name + ".gate.noise", {E, in}, Init::zeros(), rng);
  }
  /// x [..., in] -> [..., out]. Dropout and gate noise only in training mode.
  Var<T, B> operator()(Tape<T, B>& t, Var<T, B> x) const {
    return whitening_experts(x, t.param(*weight_), t.param(*center_), t.param(*gate_),
                             noise_ ? t.param(*noise_) : Var<T, B>{}, opt_.dropout, opt_.noise_eps);
  }
  int experts() const { return opt_.experts; }
  index_t in_features() const { return weight_->value.dim(1); }
  index_t out_features() const { return weight_->value.dim(0) / opt_.experts; }
  const WhiteningExpertsOptions& options() const { return opt_; }
  Parameter<T, B>& weight() const { return *weight_; }
  Parameter<T, B>& center() const { return *center_; }
  Parameter<T, B>& gate() const { return *gate_; }
  Parameter<T, B>* noise() const { return noise_; }

 private:
  WhiteningExpertsOptions opt_;
  Parameter<T, B>* weight_ = nullptr;
  Parameter<T, B>* center_ = nullptr;
  Parameter<T, B>* gate_ = nullptr;
  Parameter<T, B>* noise_ = nullptr;
};

}  // namespace metarec::nn
