#pragma once
/// @file transfer_task.hpp
/// What a meta-learner policy works on: a multi-domain model, its source
/// domains and the (limited) target domain.
#include <vector>

#include "metarec/meta/common.hpp"

namespace metarec::meta {

template <class Model>
struct TransferTask {
  Model& model;
  std::vector<int> sources;                       ///< domain indices in the model
  std::vector<const data::Split*> source_splits;  ///< parallel to sources
  int target;
  const data::Split* target_split;
  MetaConfig config;
};

/// Contract of a meta-learner policy: a name and
/// `template <class Model> static void pretrain(TransferTask<Model>&, TransferResult&)`,
/// run before fine-tuning on the target.
template <class P, class Model>
concept MetaLearner = requires(TransferTask<Model>& task, TransferResult& res) {
  { P::name } -> std::convertible_to<const char*>;
  P::template pretrain<Model>(task, res);
};

}  // namespace metarec::meta
