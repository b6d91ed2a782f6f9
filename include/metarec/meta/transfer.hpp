#pragma once
/// @file transfer.hpp
/// MetaTransfer<Model, Policy>: pre-train on the source domains with a
/// meta-learner policy, then fine-tune on the (limited) target data and
/// select on the target's validation set (SPEC section 3.2).
#include <chrono>

#include "metarec/meta/baselines.hpp"
#include "metarec/meta/first_order.hpp"
#include "metarec/meta/transfer_task.hpp"
#include "metarec/train/trainer.hpp"

namespace metarec::meta {

namespace detail {
template <class C>
bool call_meta_iteration(C& c, const IterationLog& log) {
  if constexpr (requires { { c.on_meta_iteration(log) } -> std::convertible_to<bool>; }) return c.on_meta_iteration(log);
  else if constexpr (requires { c.on_meta_iteration(log); }) c.on_meta_iteration(log);
  return false;
}
}  // namespace detail

template <class Model, class Policy>
class MetaTransfer {
  static_assert(check_transferable_model<Model>(), "meta::MetaTransfer needs a TransferableModel (model/contract.hpp)");
  static_assert(MetaLearner<Policy, Model>,
                "Meta-learner policy must define `name` and `template <class Model> static void "
                "pretrain(TransferTask<Model>&, const Config&, TransferResult&)` (or, without settings, "
                "`pretrain(TransferTask<Model>&, TransferResult&)`)");

 public:
  using PolicyConfig = config_of<Policy>;
  /// @param config  what every transfer run needs (batches, seed, meta-phase validation, fine-tuning)
  /// @param policy  the meta-learner's own settings (its defaults when omitted)
  explicit MetaTransfer(MetaConfig config, PolicyConfig policy = {})
      : config_(std::move(config)), policy_(std::move(policy)) {
    config_.validate();
    policy_.validate();
  }

  /// @param sources  (domain index, split) of each source; at least one unless the policy is TargetOnly
  /// @param target   domain index of the target and its (limited) split
  template <class... Callbacks>
  TransferResult run(Model& model, const std::vector<std::pair<int, const data::Split*>>& sources, int target,
                     const data::Split& target_split, Callbacks&... callbacks) {
    return run_synced(local_source_sync(), model, sources, target, target_split, callbacks...);
  }

  /// run() with the source tasks placed on processes by `sync` (source_sync.hpp;
  /// distributed::MpiSourceSync over MPI ranks). Every process gets the same
  /// result; fine-tuning runs replicated on every process. Progress callbacks
  /// on one process only; those that may stop a phase on every process.
  template <class... Callbacks>
  TransferResult run_synced(SourceSync& sync, Model& model, const std::vector<std::pair<int, const data::Split*>>& sources,
                            int target, const data::Split& target_split, Callbacks&... callbacks) {
    if (sources.empty() && !std::is_same_v<Policy, TargetOnly>)
      throw ConfigError(std::string("meta-learner '") + Policy::name + "' needs at least one source domain");
    TransferTask<Model> task{model, {}, {}, target, &target_split, config_};
    task.sync = &sync;
    // Callbacks are detected, as in train::fit: on_meta_iteration(const IterationLog&) may return
    // bool (true = end the meta phase); the same objects then see fine-tuning.
    task.on_iteration = [&](const IterationLog& log) {
      bool stop = false;
      ((stop = detail::call_meta_iteration(callbacks, log) || stop), ...);
      return stop;
    };
    for (const auto& [k, split] : sources) {
      if (k == target) throw ConfigError("a source domain cannot also be the target");
      task.sources.push_back(k);
      task.source_splits.push_back(split);
    }
    TransferResult res;
    res.method = Policy::name;
    for (int k : task.sources) res.sources.push_back(model.domain(k).name);
    res.target = model.domain(target).name;
    res.target_fraction = target_split.train_fraction;
    const auto t0 = std::chrono::steady_clock::now();
    run_pretrain<Policy>(task, policy_, res);
    res.pretrain_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Fine-tune on the target: source tables are frozen, everything else trains.
    for (int k : task.sources)
      for (auto* p : model.domain_parameters(k)) p->trainable = false;
    res.finetune = train::fit(model, target, target_split, config_.finetune, callbacks...);
    for (int k : task.sources)
      for (auto* p : model.domain_parameters(k)) p->trainable = true;
    return res;
  }

 private:
  MetaConfig config_;
  PolicyConfig policy_;
};

}  // namespace metarec::meta
