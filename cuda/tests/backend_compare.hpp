#pragma once
/// @file backend_compare.hpp
/// The same model on backend::Cuda and backend::Cpu from one seed: identical
/// initial parameters (drawn on the host, then copied) and dropout masks, so
/// a few optimiser steps on the same batches must agree to float rounding
/// (cuBLAS / kernel summation orders differ from Eigen's).
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "device_util.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/optim/clip.hpp"
#include "metarec/optim/sgd.hpp"
#include "metarec/recommender/recommender.hpp"

namespace metarec::test {

/// Left-padded next-item batch: rows of a ring walk with lengths 6, 4, 2, 5
/// (L = 6); with a mask token, a cloze batch (every third real position
/// masked and predicted). Negatives: one per position; shared: 4 per batch.
struct RingBatch {
  std::vector<std::int32_t> items, targets, negatives, shared;
  std::vector<double> log_q;
  std::vector<std::uint8_t> mask;
  index_t B = 4, L = 6;
  NegativeScope scope;
  RingBatch(int step, std::int32_t n_items, std::int32_t mask_token, NegativeScope scope_ = NegativeScope::batch)
      : scope(scope_) {
    const int lens[4] = {6, 4, 2, 5};
    for (index_t b = 0; b < B; ++b) {
      const int len = lens[b];
      for (index_t j = 0; j < L; ++j) {
        const index_t pos = j - (L - len);
        const bool real = pos >= 0;
        const auto item = static_cast<std::int32_t>((b * 3 + step + pos) % n_items + 1);
        items.push_back(real ? item : 0);
        mask.push_back(real ? 1 : 0);
        targets.push_back(real ? item % n_items + 1 : 0);
        negatives.push_back(static_cast<std::int32_t>((item * 5 + step) % n_items + 1));
      }
    }
    if (mask_token > 0)  // cloze: mask every third real position, predict the item there
      for (std::size_t i = 0; i < items.size(); ++i) {
        targets[i] = mask[i] && i % 3 == 0 ? items[i] : 0;
        if (targets[i]) items[i] = mask_token;
      }
    const std::int32_t draws = scope == NegativeScope::batch ? 4 : 4 * static_cast<std::int32_t>(B);
    for (std::int32_t j = 0; j < draws; ++j) {
      shared.push_back(static_cast<std::int32_t>((step * 7 + j * 2 + j / 4) % n_items + 1));
      log_q.push_back(-2.0 + 0.1 * j);
    }
  }
  TrainInputs inputs() {
    TrainInputs in{SequenceView{B, L, items.data(), mask.data()}, targets.data(), negatives.data()};
    in.shared_negatives = shared.data();
    in.n_shared = 4;
    in.shared_scope = scope;
    in.log_q = log_q.data();
    return in;
  }
};

enum class CompareOptimizer { adam, sgd_momentum, sgd_nesterov };

struct CompareOptions {
  double dropout = 0.0;
  int steps = 4;
  LossKind loss = LossKind::ce;
  NegativeScope negatives_per = NegativeScope::batch;  ///< sampled_softmax / gbce draws per batch or per sequence
  double tolerance = 2e-4;  ///< relative to 1 + |x|, for losses, gradients and trained values
  CompareOptimizer optimizer = CompareOptimizer::adam;
  double clip = 0;  ///< > 0: clip_grad_norm(params, clip) before each step on both (the norms must agree)
};

/// Optimizer o over params on backend B (the same settings on both backends).
template <class B>
std::unique_ptr<optim::Optimizer<float, B>> make_optimizer(CompareOptimizer o,
                                                           const std::vector<Parameter<float, B>*>& params) {
  if (o == CompareOptimizer::adam) return std::make_unique<optim::Adam<float, B>>(params, optim::AdamConfig{.lr = 1e-2});
  return std::make_unique<optim::SGD<float, B>>(
      params, optim::SGDConfig{.lr = 0.1, .momentum = 0.9, .nesterov = o == CompareOptimizer::sgd_nesterov,
                               .weight_decay = 1e-3});
}

/// Leaves the model Config as config<Model>(sizes) made it.
struct KeepConfig {
  template <class C>
  void operator()(C&) const {}
};

/// Trains Recommender<Backbone, Quantizer> on both backends with the chosen
/// optimizer (Adam by default; optionally clipping the gradient norm) and
/// checks every loss, every gradient at every step and every trained value.
/// `configure(config)` runs on both models' Configs (e.g. to set the quantizer's).
template <class Backbone, class Quantizer = quantizers::Identity, class Configure = KeepConfig>
void train_on_both(const CompareOptions& o, Configure configure = {}) {
  METAREC_REQUIRE_GPU();
  using CpuModel = RecommenderType<Backbone, Quantizer, backend::Cpu, float>;
  using GpuModel = RecommenderType<Backbone, Quantizer, backend::Cuda, float>;
  Sizes sizes{.d = 8, .layers = 2, .heads = 2, .inner = 16, .max_len = 6, .dropout = o.dropout,
              .ln_eps = 1e-5, .init_std = 0.3};
  auto cfg_c = config<CpuModel>(sizes);
  auto cfg_g = config<GpuModel>(sizes);
  configure(cfg_c);
  configure(cfg_g);
  CpuModel cpu(cfg_c, 11);
  GpuModel gpu(cfg_g, 11);
  const std::int32_t n_items = 9;
  const int dc = cpu.add_domain("ring", n_items), dg = gpu.add_domain("ring", n_items);
  const std::int32_t mask_token = CpuModel::objective == Objective::cloze ? n_items + 1 : 0;
  auto pc = cpu.parameters().all();
  auto pg = gpu.parameters().all();
  REQUIRE(pc.size() == pg.size());
  for (std::size_t i = 0; i < pc.size(); ++i)  // same draws, copied to the device
    check_close(memory<backend::Cuda>::to_host(pg[i]->value), pc[i]->value, "initial " + pc[i]->name, 0.0);
  auto opt_c = make_optimizer<backend::Cpu>(o.optimizer, pc);
  auto opt_g = make_optimizer<backend::Cuda>(o.optimizer, pg);
  Tape<float> tc(5);
  Tape<float, backend::Cuda> tg(5);
  for (int s = 0; s < o.steps; ++s) {
    RingBatch batch(s, n_items, mask_token, o.negatives_per);
    tc.reset();
    tg.reset();
    opt_c->zero_grad();
    opt_g->zero_grad();
    Var<float> lc = cpu.loss(tc, dc, batch.inputs(), o.loss);
    Var<float, backend::Cuda> lg = gpu.loss(tg, dg, batch.inputs(), o.loss);
    CHECK(lg.item() == doctest::Approx(lc.item()).epsilon(o.tolerance));
    tc.backward(lc);
    tg.backward(lg);
    for (std::size_t i = 0; i < pc.size(); ++i)
      check_close(memory<backend::Cuda>::to_host(pg[i]->grad), pc[i]->grad,
                  "step " + std::to_string(s) + " grad " + pc[i]->name, o.tolerance);
    if (o.clip > 0) {
      const double nc = optim::clip_grad_norm(pc, o.clip), ng = optim::clip_grad_norm(pg, o.clip);
      CHECK(ng == doctest::Approx(nc).epsilon(o.tolerance));
      CHECK(nc > o.clip);  // the clipping branch ran (the test's clip is below every step's norm)
    }
    opt_c->step();
    opt_g->step();
  }
  // The key bias gets an exactly zero gradient (it adds the same q.b to every logit of a row, which the
  // softmax ignores), so its Adam steps follow the sign of rounding noise and differ between backends;
  // its gradient matched above (to noise), every other trained value must match.
  for (std::size_t i = 0; i < pc.size(); ++i)
    if (pc[i]->name.find(".attn.k.bias") == std::string::npos)
      check_close(memory<backend::Cuda>::to_host(pg[i]->value), pc[i]->value, "trained " + pc[i]->name, o.tolerance);
}

}  // namespace metarec::test
