#pragma once
/// @file config.hpp
/// What a Recommender itself needs at run time: the width shared by the item
/// tables, the quantizer and the backbone, the longest history, and the
/// initialisation of the item tables. Everything else belongs to a policy and
/// lives in that policy's own `Config` (model/policy_config.hpp): a backbone's
/// blocks and dropout, a quantizer's codebooks, a meta-learner's rates.
/// Defaults follow the S3-Rec comparison (SPEC section 2).
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec {

struct ModelConfig {
  index_t d = 64;          ///< hidden size = item embedding size
  index_t max_len = 50;    ///< longest history fed to the backbone
  double init_std = 0.02;  ///< normal init of the item tables (and of the policies' weights that follow BERT)
  /// Training-time dropout on the item representations, one mask per step shared by the inputs and the
  /// scored items (RecTools' item net drops its embeddings so; 0 = off).
  double item_dropout = 0.0;

  /// The fields, for the command-line tool, JSON and checkpoints (model/policy_config.hpp).
  template <class V>
  void visit(V&& v) {
    v("d", d, "hidden size = item embedding size");
    v("max_len", max_len, "longest history fed to the model");
    v("init_std", init_std, "std of the normal initialisation");
    v("item_dropout", item_dropout,
      "training dropout on the item table, one mask per step for the inputs and the scored items (0 = off)");
  }

  /// Throws ConfigError naming the first field out of range.
  void validate() const {
    check_range<index_t>("d", d, 1, 1 << 16);
    check_range<index_t>("max_len", max_len, 2, 1 << 16);
    check_range("init_std", init_std, 0.0, 10.0);
    if (!(item_dropout >= 0.0 && item_dropout < 1.0))
      throw ConfigError("item_dropout = " + std::to_string(item_dropout) + " is out of range [0, 1)");
  }
};

}  // namespace metarec
