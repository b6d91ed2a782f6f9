#pragma once
// Shared pieces of the metarec command-line tool: option groups, data
// loading by format, JSON conversion of results.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/data/all.hpp"
#include "metarec/eval/metrics.hpp"
#include "metarec/model/config.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/trainer.hpp"
#include "policy_options.hpp"

namespace metarec::cli {

using nlohmann::json;

/// Where a domain comes from.
struct DataOptions {
  std::string path;
  std::string format = "s3rec";  // s3rec | pairs | atomic | unisrec
  bool lenient = false;
  int kcore = 0;
  std::string features;  // item features (.npy, rows = items + 1) for --quantizer pq
};

/// A loaded domain and its leave-one-out split.
struct LoadedData {
  data::Domain domain;
  data::Split split;
  Tensor<float> features;  // [n_items + 1, f] when DataOptions::features is set
};

/// Gives the quantizer a domain's item features when it codes items from them (pq).
template <class Model>
void attach_item_features(Model& model, int k, const LoadedData& d) {
  if constexpr (requires { model.quantizer().set_features(k, d.features); }) {
    if (d.features.size() == 0)
      throw ConfigError(std::string("--quantizer ") + Model::Quantizer::name + " codes items from their features: give " +
                        "--features FILE.npy for domain '" + d.domain.name + "' (rows = items + 1, row 0 unused)");
    model.quantizer().set_features(k, d.features);
  } else if (d.features.size() != 0) {
    throw ConfigError("--features is read by --quantizer pq only (here: " + std::string(Model::Quantizer::name) + ")");
  }
}

/// Which model and its settings: the shared sizes, and the options of every registered policy's Config.
struct ModelOptions {
  std::string backbone = "sasrec", quantizer = "none";
  PolicyOptions policies;  // ModelConfig's fields and every registered policy's
};

/// The chosen Recommender's Config: defaults, then the options given.
template <class Model>
typename Model::Config model_config(const ModelOptions& o) {
  typename Model::Config c;
  o.policies.apply(c.model);
  o.policies.apply(c.backbone);
  o.policies.apply(c.quantizer);
  return c;
}

/// `{d, max_len, init_std, backbone: {...}, quantizer: {...}}` (result.json and checkpoints).
template <class Model>
json model_config_json(const typename Model::Config& c) {
  json j = config_to_json(c.model);
  j["backbone"] = config_to_json(c.backbone);
  j["quantizer"] = config_to_json(c.quantizer);
  return j;
}
/// Inverse of model_config_json; also reads records written before the policies owned their settings
/// (backbone fields at the top level).
template <class Model>
typename Model::Config model_config_from_json(const json& j) {
  typename Model::Config c;
  config_from_json(j, c.model);
  config_from_json(j.contains("backbone") && j["backbone"].is_object() ? j["backbone"] : j, c.backbone);
  if (j.contains("quantizer")) config_from_json(j["quantizer"], c.quantizer);
  return c;
}

void add_data_options(CLI::App& app, DataOptions& d, bool required = true);
void add_model_options(CLI::App& app, ModelOptions& m);
/// Builds the chosen model's Config from the options and validates it (ConfigError naming the field).
json validated_model_config(const ModelOptions& m);
void add_trainer_options(CLI::App& app, train::TrainerConfig& t, std::string& loss, int& threads);
/// The evaluation protocol and cut-offs (part of add_trainer_options; `evaluate` uses them alone).
void add_eval_options(CLI::App& app, train::EvalOptions& e);
LoadedData load_data(const DataOptions& d);

json to_json(const eval::Metrics& m);
json to_json(const train::TrainerConfig& t);
/// The evaluation protocol: full ranking (history masked or not) or sampled (negatives, sampling).
json protocol_json(const train::EvalOptions& e);
json to_json(const DataOptions& d);
json to_json(const data::LoadReport& r);
LossKind parse_loss(const std::string& s);
std::string loss_name(LossKind k);

/// Writes `j` to path atomically (temporary file + rename).
void write_json(const std::string& path, const json& j);
/// The error of `--distributed` in a build without MPI (every command that takes the flag).
ConfigError no_mpi_error();

}  // namespace metarec::cli
