// metarec evaluate / recommend: load a checkpoint written by `metarec train`.
// `mpirun -np N metarec evaluate ... --distributed`: the evaluation cases split
// over N ranks (distributed::evaluate); rank 0 alone prints.
#include <fmt/core.h>

#include "commands.hpp"
#include "common.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/eval/ranking.hpp"
#include "metarec/train/checkpoint.hpp"
#include "metarec/train/evaluate.hpp"
#include "registry.hpp"
#ifdef METAREC_WITH_MPI
#include "metarec/distributed/distributed.hpp"
#endif

namespace metarec::cli {

namespace {
struct Loaded {
  json config;
  Checkpoint ck;
};

Loaded open_checkpoint(const std::string& path) {
  Loaded l;
  l.ck = load_checkpoint(path);
  auto it = l.ck.meta.find("config");
  if (it == l.ck.meta.end()) throw CheckpointError(path + ": no 'config' metadata (not written by metarec train)");
  l.config = json::parse(it->second);
  return l;
}

/// Rebuilds the model of a checkpoint and calls f(model, domain index, data);
/// with AnyDevice, on `device` (f must then be backend-generic).
template <bool AnyDevice = false, class F>
void with_checkpoint(const std::string& path, const std::string& data_override, F&& f, const std::string& device = "cpu") {
  Loaded l = open_checkpoint(path);
  DataOptions d;
  d.path = data_override.empty() ? l.config["data"]["data"].get<std::string>() : data_override;
  d.format = l.config["data"]["format"];
  d.lenient = l.config["data"]["lenient"];
  d.kcore = l.config["data"]["kcore"];
  d.features = l.config["data"].value("features", "");  // pq re-derives its codes from them
  LoadedData data = load_data(d);
  const auto n_items = std::stol(l.ck.meta.at("n_items"));
  if (data.domain.n_items != n_items)
    throw CheckpointError(path + ": model has " + std::to_string(n_items) + " items but '" + d.path + "' has " +
                          std::to_string(data.domain.n_items));
  auto build = [&]<class Model>() {
    Model model(model_config_from_json<Model>(l.config["model"]), 0);
    const int k = model.add_domain(l.ck.meta.at("domain"), n_items);
    attach_item_features(model, k, data);
    restore_parameters(l.ck, model.parameters().all());
    f(model, k, data);
  };
  if constexpr (AnyDevice) with_model_on(device, l.config["backbone"], l.config["quantizer"], build);
  else with_model(l.config["backbone"], l.config["quantizer"], build);
}

struct EvaluateArgs {
  std::string ckpt, data, device = "cpu";
  int threads = 0;
  bool distributed = false;
  train::EvalOptions eval;
};

/// Validation and test metrics of a checkpoint; `eval_set(model, tape, k, set, opt)` ranks one set
/// (train::evaluate, or distributed::evaluate on every rank); printed when `print`.
template <class EvalSet>
void evaluate_checkpoint(const EvaluateArgs& a, bool print, json extra, EvalSet&& eval_set) {
  with_checkpoint<true>(a.ckpt, a.data, [&](auto& model, int k, const LoadedData& d) {
    tape_of<std::remove_reference_t<decltype(model)>> tape;
    const train::EvalOptions eo = train::for_split(a.eval, d.split);
    auto valid = eval_set(model, tape, k, d.split.valid, eo);
    auto test = eval_set(model, tape, k, d.split.test, eo);
    if (!print) return;
    json out{{"protocol", protocol_json(eo)}, {"device", a.device}, {"valid", to_json(valid)}, {"test", to_json(test)}};
    out.update(extra);
    fmt::print("{}\n", out.dump(2));
  }, a.device);
}

void run_evaluate(const EvaluateArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  if (!a.distributed) {
    evaluate_checkpoint(a, true, json::object(), [](auto& model, auto& tape, int k, const data::EvalSet& set,
                                                    const train::EvalOptions& eo) {
      return train::evaluate(model, tape, k, set, eo);
    });
    return;
  }
#ifdef METAREC_WITH_MPI
  distributed::Environment env;
  distributed::Communicator comm;
  distributed::run_or_abort(comm, [&] {
    distributed::MpiSync sync(comm);
    evaluate_checkpoint(a, comm.rank() == 0, json{{"distributed", {{"ranks", comm.size()}}}},
                        [&](auto& model, auto& tape, int k, const data::EvalSet& set, const train::EvalOptions& eo) {
                          return distributed::evaluate(model, tape, k, set, eo, sync);
                        });
  });
#else
  throw no_mpi_error();
#endif
}
}  // namespace

void setup_evaluate(CLI::App& app) {
  auto* cmd = app.add_subcommand("evaluate", "evaluate a checkpoint on the validation and test targets");
  auto a = std::make_shared<EvaluateArgs>();
  cmd->add_option("--checkpoint", a->ckpt, "model.ckpt written by metarec train")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a->data, "data file (default: the one recorded in the checkpoint)");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all)")->check(CLI::Range(0, 1024));
  cmd->add_option("--device", a->device, "where the model runs: cpu or cuda (as metarec train --device)")
      ->check(CLI::IsMember(device_names()))
      ->capture_default_str();
  cmd->add_flag("--distributed", a->distributed,
                "split the evaluation cases over the ranks of `mpirun -np N` (rank 0 prints; needs an MPI build)");
  add_eval_options(*cmd, a->eval);
  cmd->callback([a] {
    a->eval.validate();
    run_evaluate(*a);
  });
}

void setup_recommend(CLI::App& app) {
  auto* cmd = app.add_subcommand("recommend", "top-K items for a user (original item ids)");
  struct Args { std::string ckpt, data, user; int k = 10; bool keep_seen = false; };
  auto a = std::make_shared<Args>();
  cmd->add_option("--checkpoint", a->ckpt, "model.ckpt written by metarec train")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a->data, "data file (default: the one recorded in the checkpoint)");
  cmd->add_option("--user", a->user, "user id as in the data file")->required();
  cmd->add_option("-k", a->k, "number of items")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_flag("--keep-seen", a->keep_seen, "allow items already in the user's history");
  cmd->callback([a] {
    with_checkpoint(a->ckpt, a->data, [&](auto& model, int k, const LoadedData& d) {
      using T = typename std::remove_reference_t<decltype(model)>::Scalar;
      const auto& names = d.domain.user_names;
      auto it = std::find(names.begin(), names.end(), a->user);
      if (it == names.end()) throw ConfigError("--user " + a->user + ": no such user in '" + d.domain.name + "'");
      const auto& hist = d.domain.sequences[static_cast<std::size_t>(it - names.begin())];
      Tape<T> tape;
      Tensor<T> u({1, model.config().d});
      std::vector<std::span<const std::int32_t>> hs{hist};
      model.user_representations(tape, k, hs, u);
      Tensor<T> E = model.item_matrix(tape, k);
      std::vector<T> scores(static_cast<std::size_t>(E.dim(0)));
      gemm<T>(false, true, 1, E.dim(0), E.dim(1), T(1), u.data(), E.dim(1), E.data(), E.dim(1), T(0), scores.data(),
              E.dim(0));
      auto top = eval::top_k<T>(scores, a->k, a->keep_seen ? std::span<const std::int32_t>{} : std::span<const std::int32_t>(hist));
      json out = json::array();
      for (std::size_t r = 0; r < top.size(); ++r)
        out.push_back({{"rank", r + 1}, {"item", d.domain.item_names[static_cast<std::size_t>(top[r])]},
                       {"score", scores[static_cast<std::size_t>(top[r])]}});
      fmt::print("{}\n", json{{"user", a->user}, {"items", out}}.dump(2));
    });
  });
}

}  // namespace metarec::cli
