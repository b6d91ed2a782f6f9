#pragma once
/// @file transfer_task.hpp
/// What a meta-learner policy works on: a multi-domain model, its source
/// domains and the (limited) target domain.
#include <functional>
#include <memory>
#include <vector>

#include "metarec/meta/common.hpp"
#include "metarec/meta/source_sync.hpp"
#include "metarec/model/policy_config.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/optim/sgd.hpp"

namespace metarec::meta {

template <class Model>
struct TransferTask {
  Model& model;
  std::vector<int> sources;                       ///< domain indices in the model
  std::vector<const data::Split*> source_splits;  ///< parallel to sources
  int target;
  const data::Split* target_split;
  MetaConfig config;
  /// Target validation during the meta phase (eval_every, keep_best). Empty: full-ranking
  /// train::evaluate on target_split->valid with config.finetune.eval. Set it to select on
  /// another protocol, or to drive keep_best through a known curve in a test.
  std::function<eval::Metrics(Model&)> validate_target;
  /// Called after each logged meta iteration (MetaTransfer wires the callbacks' on_meta_iteration
  /// here); returning true ends the meta phase there, as an ensmallen callback's `true` ends
  /// optimization.
  std::function<bool(const IterationLog&)> on_iteration;
  /// Which source tasks this process computes and how their results meet
  /// (source_sync.hpp); null: one process computes them all.
  SourceSync* sync = nullptr;

  SourceSync& source_sync() const { return sync ? *sync : local_source_sync(); }

  /// Reports a finished iteration; true = stop the meta phase.
  bool report(const IterationLog& log) { return on_iteration ? on_iteration(log) : false; }

  eval::Metrics validate(tape_of<Model>& tape) {
    if (validate_target) return validate_target(model);
    return train::evaluate(model, tape, target, target_split->valid, config.finetune.eval);
  }
};

/// The source side of a task: a batch stream per source and an Adam for each
/// source's own item table (domain-specific, never meta-learned), and the
/// inner loop shared by the gradient-based meta-learners.
template <class Model>
class SourceTasks {
 public:
  using T = typename Model::Scalar;
  using B = backend_of<Model>;
  /// `inner`: the inner loop's steps and rate (unused by learners that never call adapt()).
  explicit SourceTasks(TransferTask<Model>& task, const InnerLoopConfig& inner = {})
      : task_(task), steps_(inner.inner_steps), inner_lr_(inner.inner_lr), shared_(task.model.shared_parameters()),
        inner_(shared_, optim::SGDConfig{.lr = inner.inner_lr}) {
    const MetaConfig& cfg = task.config;
    for (std::size_t i = 0; i < task.sources.size(); ++i) {
      tables_.push_back(task.model.domain_parameters(task.sources[i]));
      opt_.push_back(std::make_unique<optim::Adam<T, B>>(tables_.back(), optim::AdamConfig{.lr = cfg.finetune.lr}));
      streams_.emplace_back(task.model, *task.source_splits[i], cfg.batch_size, cfg.seed + 101 * (i + 1));
    }
  }
  std::size_t size() const { return streams_.size(); }
  BatchStream& stream(std::size_t i) { return streams_[i]; }
  const std::vector<Parameter<T, B>*>& tables(std::size_t i) const { return tables_[i]; }

  /// k_inner steps on source i from the current shared values: plain SGD
  /// (inner_lr) on the shared parameters gives phi_i; the source table follows
  /// its gradient with Adam.
  void adapt(std::size_t i, Tape<T, B>& tape) {
    for (int s = 0; s < steps_; ++s) {
      tape.reset();
      task_.model.parameters().zero_grad();
      tape.backward(task_.model.loss(tape, task_.sources[i], streams_[i].next()));
      if constexpr (B::is_host) {
        inner_.step();
      } else {
        // optim::SGD's step without momentum or weight decay (w -= lr g), on the device.
        for (Parameter<T, B>* p : shared_)
          if (optim::detail::has_gradient(*p)) memory<B>::axpy(-inner_lr_, p->grad, p->value);
      }
      opt_[i]->step();
    }
  }

 private:
  TransferTask<Model>& task_;
  int steps_;
  double inner_lr_;
  std::vector<Parameter<T, B>*> shared_;  // model.shared_parameters()
  optim::SGD<T, B> inner_;  // over shared_ (the host's inner step)
  std::vector<std::vector<Parameter<T, B>*>> tables_;
  std::vector<std::unique_ptr<optim::Adam<T, B>>> opt_;
  std::vector<BatchStream> streams_;
};

/// Contract of a meta-learner policy: a name and
/// `template <class Model> static void pretrain(TransferTask<Model>&, const Config&, TransferResult&)`
/// with its own settings `Config` (model/policy_config.hpp), or
/// `pretrain(TransferTask<Model>&, TransferResult&)` for a learner without settings;
/// run before fine-tuning on the target.
template <class P, class Model>
concept MetaLearner = requires { { P::name } -> std::convertible_to<const char*>; } &&
                      (requires(TransferTask<Model>& task, const config_of<P>& c, TransferResult& res) {
                        P::template pretrain<Model>(task, c, res);
                      } ||
                       (!has_config<P> && requires(TransferTask<Model>& task, TransferResult& res) {
                         P::template pretrain<Model>(task, res);
                       }));

/// Runs the policy's pre-training with its settings (or without, when it has none).
template <class P, class Model>
void run_pretrain(TransferTask<Model>& task, const config_of<P>& c, TransferResult& res) {
  if constexpr (requires { P::template pretrain<Model>(task, c, res); }) P::template pretrain<Model>(task, c, res);
  else P::template pretrain<Model>(task, res);
}

}  // namespace metarec::meta
