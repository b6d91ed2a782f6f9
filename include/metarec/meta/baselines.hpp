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
  static void pretrain(TransferTask<Model>& task, TransferResult& res) {
    using T = typename Model::Scalar;
    Model& model = task.model;
    const MetaConfig& cfg = task.config;
    std::vector<Parameter<T>*> params = model.shared_parameters();
    SourceTasks<Model> sources(task);
    index_t steps = 0;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      params.insert(params.end(), sources.tables(i).begin(), sources.tables(i).end());
      steps = std::max(steps, sources.stream(i).batches_per_epoch());
    }
    optim::Adam<T> adam(params, optim::AdamConfig{.lr = cfg.finetune.lr});
    Tape<T> tape(cfg.seed + 13);
    for (int epoch = 1; epoch <= cfg.joint_epochs; ++epoch) {
      IterationLog log;  // one entry per epoch of every source; query_loss = mean source loss
      log.iteration = epoch;
      for (index_t s = 0; s < steps; ++s)
        for (std::size_t i = 0; i < sources.size(); ++i) {
          tape.reset();
          model.parameters().zero_grad();
          Var<T> loss = model.loss(tape, task.sources[i], sources.stream(i).next());
          log.query_loss += static_cast<double>(loss.value()[0]) / static_cast<double>(steps * sources.size());
          tape.backward(loss);
          adam.step();
        }
      log.weight.assign(sources.size(), 1.0 / static_cast<double>(sources.size()));
      res.iterations.push_back(std::move(log));
      if (task.report(res.iterations.back())) break;
    }
  }
};

/// Reptile (Nichol et al. 2018): per iteration, k_inner SGD steps on each
/// source from theta give phi_i; theta <- theta + step * mean_i(phi_i - theta).
/// Source item tables follow their inner-loop gradients with Adam.
struct Reptile {
  static constexpr const char* name = "reptile";
  template <class Model>
  static void pretrain(TransferTask<Model>& task, TransferResult& res) {
    using T = typename Model::Scalar;
    Model& model = task.model;
    const MetaConfig& cfg = task.config;
    const auto shared = model.shared_parameters();
    SourceTasks<Model> sources(task);
    Tape<T> tape(cfg.seed + 13);
    ParameterSnapshot<T> theta;
    std::vector<Tensor<T>> delta;
    for (auto* p : shared) delta.emplace_back(p->value.shape());
    const double scale = cfg.reptile_step / static_cast<double>(task.sources.size());
    for (int it = 1; it <= cfg.iterations; ++it) {
      theta.take(shared);
      for (auto& d : delta) d.zero();
      for (std::size_t i = 0; i < task.sources.size(); ++i) {
        theta.restore(shared);
        sources.adapt(i, tape);
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
      if (task.report(res.iterations.back())) break;
    }
  }
};

}  // namespace metarec::meta
