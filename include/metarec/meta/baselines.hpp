#pragma once
/// @file baselines.hpp
/// The transfer baselines of SPEC section 3.2: target-only training, joint
/// multi-source pre-training, Reptile.
#include "metarec/meta/transfer_task.hpp"
#include "metarec/optim/adam.hpp"

namespace metarec::meta {

/// No pre-training: the model is trained on the target data alone.
struct TargetOnly {
  static constexpr const char* name = "target-only";
  template <class Model>
  static void pretrain(TransferTask<Model>&, TransferResult&) {}
};

/// Joint multi-source pre-training: Adam on the sum of source tasks, batches
/// taken from the sources in turn, for `joint_epochs` epochs of every source.
struct JointPretrain {
  static constexpr const char* name = "joint";
  template <class Model>
  static void pretrain(TransferTask<Model>& task, TransferResult&) {
    using T = typename Model::Scalar;
    Model& model = task.model;
    const MetaConfig& cfg = task.config;
    std::vector<Parameter<T>*> params = model.shared_parameters();
    std::vector<BatchStream> streams;
    index_t steps = 0;
    for (std::size_t i = 0; i < task.sources.size(); ++i) {
      auto tables = model.domain_parameters(task.sources[i]);
      params.insert(params.end(), tables.begin(), tables.end());
      streams.emplace_back(model, *task.source_splits[i], cfg.batch_size, cfg.seed + 101 * (i + 1));
      steps = std::max(steps, streams.back().batches_per_epoch());
    }
    optim::Adam<T> adam(params, optim::AdamConfig{.lr = cfg.finetune.lr});
    Tape<T> tape(cfg.seed + 13);
    for (index_t s = 0; s < steps * cfg.joint_epochs; ++s)
      for (std::size_t i = 0; i < streams.size(); ++i) {
        tape.reset();
        model.parameters().zero_grad();
        tape.backward(model.loss(tape, task.sources[i], streams[i].next()));
        adam.step();
      }
  }
};

/// Reptile (Nichol et al. 2018): per iteration, k_inner SGD steps on each
/// source from theta give phi_i; theta <- theta + step * mean_i(phi_i - theta).
/// Source item tables follow their inner-loop gradients with Adam.
struct Reptile {
  static constexpr const char* name = "reptile";
  static constexpr double step = 0.5;
  template <class Model>
  static void pretrain(TransferTask<Model>& task, TransferResult& res) {
    using T = typename Model::Scalar;
    Model& model = task.model;
    const MetaConfig& cfg = task.config;
    const auto shared = model.shared_parameters();
    std::vector<std::unique_ptr<optim::Adam<T>>> source_opt;
    std::vector<BatchStream> streams;
    for (std::size_t i = 0; i < task.sources.size(); ++i) {
      source_opt.push_back(std::make_unique<optim::Adam<T>>(model.domain_parameters(task.sources[i]),
                                                           optim::AdamConfig{.lr = cfg.finetune.lr}));
      streams.emplace_back(model, *task.source_splits[i], cfg.batch_size, cfg.seed + 101 * (i + 1));
    }
    Tape<T> tape(cfg.seed + 13);
    ValueSnapshot<T> theta;
    std::vector<Tensor<T>> delta;
    for (auto* p : shared) delta.emplace_back(p->value.shape());
    const double scale = step / static_cast<double>(task.sources.size());
    for (int it = 1; it <= cfg.iterations; ++it) {
      theta.take(shared);
      for (auto& d : delta) d.zero();
      for (std::size_t i = 0; i < task.sources.size(); ++i) {
        theta.restore(shared);
        for (int s = 0; s < cfg.inner_steps; ++s) {
          tape.reset();
          model.parameters().zero_grad();
          tape.backward(model.loss(tape, task.sources[i], streams[i].next()));
          sgd_step(shared, cfg.inner_lr);
          source_opt[i]->step();
        }
        for (std::size_t p = 0; p < shared.size(); ++p)
          for (index_t e = 0; e < delta[p].size(); ++e) delta[p][e] += shared[p]->value[e] - theta[p][e];
      }
      theta.restore(shared);
      for (std::size_t p = 0; p < shared.size(); ++p)
        for (index_t e = 0; e < delta[p].size(); ++e) shared[p]->value[e] += static_cast<T>(scale) * delta[p][e];
      IterationLog log;
      log.iteration = it;
      log.weight.assign(task.sources.size(), 1.0 / static_cast<double>(task.sources.size()));
      res.iterations.push_back(std::move(log));
    }
  }
};

}  // namespace metarec::meta
