#pragma once
/// @file baselines.hpp
/// The transfer baselines of SPEC section 3.2: target-only training, joint
/// multi-source pre-training, Reptile.
#include "metarec/meta/transfer_task.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/train/joint_training.hpp"

namespace metarec::meta {

/// No pre-training: the model is trained on the target data alone.
struct TargetOnly {
  static constexpr const char* name = "target-only";
  template <class Model>
  static void pretrain(TransferTask<Model>&, TransferResult&) {}
};

/// Joint multi-source pre-training: Adam (fine-tuning's learning rate) on the
/// sources' losses, one batch of each source in turn, for `epochs` epochs of
/// the largest source; the library's joint training loop
/// (train/joint_training.hpp), which MISSRec's pre-training shares.
struct JointPretrain {
  static constexpr const char* name = "joint";
  struct Config {
    int epochs = 10;  ///< epochs over all sources
    template <class V>
    void visit(V&& v) {
      v("epochs", epochs, "joint pre-training epochs", "--joint-epochs");
    }
    void validate() const { check_range("meta.joint_epochs", epochs, 0, 100000); }
  };
  template <class Model>
  static void pretrain(TransferTask<Model>& task, const Config& c, TransferResult& res) {
    using T = typename Model::Scalar;
    using B = backend_of<Model>;
    if (task.source_sync().size() > 1)
      throw ConfigError("meta-learner 'joint' runs in one process (its sources share one Adam step sequence); "
                        "per-source meta-training over processes is for rescaled, fomaml and reptile");
    Model& model = task.model;
    std::vector<Parameter<T, B>*> params = model.shared_parameters();
    SourceTasks<Model> sources(task);
    index_t steps = 0;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      params.insert(params.end(), sources.tables(i).begin(), sources.tables(i).end());
      steps = std::max(steps, sources.stream(i).batches_per_epoch());
    }
    optim::Adam<T, B> adam(params, optim::AdamConfig{.lr = task.config.finetune.lr});
    Tape<T, B> tape(task.config.seed + 13);
    train::train_jointly(
        model, adam, tape, c.epochs, /*clip_norm=*/0.0,
        [&](int) { return train::round_robin_order(static_cast<int>(sources.size()), steps); },
        [&](Tape<T, B>& t, int i) {
          const auto k = static_cast<std::size_t>(i);
          return model.loss(t, task.sources[k], sources.stream(k).next());
        },
        [&](int epoch, double mean_loss) {
          IterationLog log;  // one entry per epoch of every source; query_loss = mean source loss
          log.iteration = epoch;
          log.query_loss = mean_loss;
          log.weight.assign(sources.size(), 1.0 / static_cast<double>(sources.size()));
          res.iterations.push_back(std::move(log));
          return task.report(res.iterations.back());
        });
  }
};

/// Reptile (Nichol et al. 2018): per iteration, k_inner SGD steps on each
/// source from theta give phi_i; theta <- theta + step * mean_i(phi_i - theta).
/// Source item tables follow their inner-loop gradients with Adam. Over
/// several processes (TransferTask::sync) each adapts its own sources and the
/// displacements are gathered and summed in source order.
struct Reptile {
  static constexpr const char* name = "reptile";
  struct Config : InnerLoopConfig {
    double step = 0.5;  ///< theta += step * mean_i(phi_i - theta)
    template <class V>
    void visit(V&& v) {
      InnerLoopConfig::visit(v);
      v("step", step, "Reptile step size on mean(phi - theta)", "--reptile-step");
    }
    void validate() const {
      InnerLoopConfig::validate();
      check_range("meta.reptile_step", step, 0.0, 10.0);
    }
  };
  template <class Model>
  static void pretrain(TransferTask<Model>& task, const Config& c, TransferResult& res) {
    using T = typename Model::Scalar;
    using B = backend_of<Model>;
    Model& model = task.model;
    const auto shared = model.shared_parameters();
    SourceTasks<Model> sources(task, c);
    SourceSync& sync = task.source_sync();
    Tape<T, B> tape(task.config.seed + 13);
    ParameterSnapshot<T, B> theta;
    // D: phi_i - theta of the shared parameters, one block of n values per source (parameter p at
    // offset[p]), gathered over processes and summed in source order.
    std::vector<std::size_t> offset;
    std::size_t n = 0;
    for (auto* p : shared) offset.push_back(n), n += static_cast<std::size_t>(p->value.size());
    const std::size_t S = task.sources.size();
    std::vector<T> D(B::is_host ? S * n : 0), delta(B::is_host ? n : 0);
    const double scale = c.step / static_cast<double>(S);
    // Device: phi_i - theta per source and shared parameter, and their sum, in B's memory.
    std::vector<std::vector<TensorOf<T, B>>> Dd;
    std::vector<TensorOf<T, B>> delta_d;
    if constexpr (!B::is_host) {
      if (sync.size() > 1)
        throw ConfigError("per-source meta-training over processes has no device path yet (backend::Cuda)");
      Dd.resize(S);
      for (auto& di : Dd)
        for (auto* p : shared) di.push_back(memory<B>::template zeros<T>(p->value.shape()));
      for (auto* p : shared) delta_d.push_back(memory<B>::template zeros<T>(p->value.shape()));
    }
    for (int it = 1; it <= c.iterations; ++it) {
      theta.take(shared);
      for (std::size_t i = 0; i < S; ++i) {
        if (!sync.owns(i)) continue;
        theta.restore(shared);
        tape.rng().reseed(source_stream_seed(task.config.seed + 13, it, i));
        sources.adapt(i, tape);
        if constexpr (!B::is_host) {
          for (std::size_t p = 0; p < shared.size(); ++p) {
            memory<B>::copy(shared[p]->value, Dd[i][p]);
            memory<B>::axpy(-1.0, theta[p], Dd[i][p]);  // phi_i - theta
          }
        } else {
          for (std::size_t p = 0; p < shared.size(); ++p)
            for (index_t e = 0; e < shared[p]->value.size(); ++e)
              D[i * n + offset[p] + static_cast<std::size_t>(e)] = shared[p]->value[e] - theta[p][e];
        }
      }
      if constexpr (!B::is_host) {
        theta.restore(shared);
        for (std::size_t p = 0; p < shared.size(); ++p) {
          memory<B>::zero(delta_d[p]);
          for (std::size_t i = 0; i < S; ++i) memory<B>::axpy(1.0, Dd[i][p], delta_d[p]);  // source order
          memory<B>::axpy(static_cast<double>(static_cast<T>(scale)), delta_d[p], shared[p]->value);
        }
      } else {
      sync.gather(D.data(), n, S);
      std::fill(delta.begin(), delta.end(), T(0));
      for (std::size_t i = 0; i < S; ++i)
        for (std::size_t e = 0; e < n; ++e) delta[e] += D[i * n + e];
      theta.restore(shared);
      for (std::size_t p = 0; p < shared.size(); ++p)
        for (index_t e = 0; e < shared[p]->value.size(); ++e)
          shared[p]->value[e] += static_cast<T>(scale) * delta[offset[p] + static_cast<std::size_t>(e)];
      }
      IterationLog log;
      log.iteration = it;
      log.weight.assign(task.sources.size(), 1.0 / static_cast<double>(task.sources.size()));
      res.iterations.push_back(std::move(log));
      if (task.report(res.iterations.back())) break;
    }
    if constexpr (B::is_host)
      for (std::size_t i = 0; i < S; ++i) sync.share(i, sources.tables(i));  // each trained by its owner only
  }
};

}  // namespace metarec::meta
