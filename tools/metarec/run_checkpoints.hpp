#pragma once
// --checkpoint-every / --resume, shared by `metarec train` and `metarec finetune`:
// the periodic last.ckpt (train/fit_checkpoint.hpp) and the checks that a resumed
// run continues the run that wrote it.
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "metarec/core/error.hpp"
#include "metarec/train/checkpoint.hpp"
#include "metarec/train/fit_checkpoint.hpp"

namespace metarec::cli {

/// --checkpoint-every N and --resume CKPT of a command that trains through train::fit.
inline void add_checkpoint_options(CLI::App& cmd, int& every, std::string& resume) {
  cmd.add_option("--checkpoint-every", every,
                 "every N epochs (and after the last) write OUT/last.ckpt atomically: parameters, optimizer state, "
                 "best epoch and early-stopping state, so --resume continues exactly (0 = off; rank 0 writes)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd.add_option("--resume", resume,
                 "continue the run that wrote this last.ckpt (--checkpoint-every) up to --epochs; the same options "
                 "(--epochs and --patience may change); with --distributed on any number of ranks")
      ->check(CLI::ExistingFile);
}

/// Differences between two JSON values as "path: a in the checkpoint, b on the command line"
/// (objects compared key by key).
inline void json_differences(const nlohmann::json& a, const nlohmann::json& b, const std::string& path,
                             std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items())
      json_differences(v, b.contains(k) ? b[k] : nlohmann::json(), path.empty() ? k : path + "." + k, out);
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) json_differences(nlohmann::json(), v, path.empty() ? k : path + "." + k, out);
  } else if (a != b) {
    out.push_back(path + ": " + (a.is_null() ? "(none)" : a.dump()) + " in the checkpoint, " +
                  (b.is_null() ? "(none)" : b.dump()) + " on the command line");
  }
}

/// A resumed run continues the same training: the checkpoint's run was the same
/// command (config["command"]) with the same `keys` (the model and whatever else
/// fixes what is trained) and every trainer setting but the number of epochs and
/// the patience.
inline void check_resumable(const Checkpoint& ck, const std::string& path, const nlohmann::json& config,
                            std::initializer_list<const char*> keys) {
  const std::string command = config.at("command");
  auto it = ck.meta.find("config");
  if (it == ck.meta.end())
    throw CheckpointError("--resume " + path + ": no 'config' metadata (not written by metarec " + command + ")");
  const nlohmann::json saved = nlohmann::json::parse(it->second);
  if (saved.value("command", "") != command)
    throw CheckpointError("--resume " + path + ": written by 'metarec " + saved.value("command", "?") +
                          "', not by metarec " + command);
  std::vector<std::string> diff;
  for (const char* key : keys) json_differences(saved.value(key, nlohmann::json()), config.value(key, nlohmann::json()), key, diff);
  nlohmann::json a = saved.value("trainer", nlohmann::json::object()), b = config.at("trainer");
  for (const char* free : {"epochs", "patience"}) a.erase(free), b.erase(free);
  json_differences(a, b, "trainer", diff);
  if (diff.empty()) return;
  std::string msg = "--resume " + path + ": the checkpoint's run differs from this command line (a resumed run " +
                    "continues the same training; only --epochs and --patience may change): ";
  for (std::size_t i = 0; i < diff.size(); ++i) msg += (i ? "; " : "") + diff[i];
  throw ConfigError(msg);
}

/// What every checkpoint of a run says about it (read back by evaluate / recommend / --resume).
inline std::map<std::string, std::string> checkpoint_meta(const nlohmann::json& config, const std::string& domain,
                                                          index_t n_items) {
  return {{"config", config.dump()}, {"domain", domain}, {"n_items", std::to_string(n_items)}};
}

/// The resumed run must train on the data the checkpoint's run trained on (its item ids index the tables).
inline void check_resume_domain(const Checkpoint& ck, const std::string& path, const std::string& domain,
                                index_t n_items) {
  const auto get = [&](const char* k) { auto it = ck.meta.find(k); return it == ck.meta.end() ? std::string("?") : it->second; };
  if (get("domain") != domain || get("n_items") != std::to_string(n_items))
    throw ConfigError("--resume " + path + ": the checkpoint is of domain '" + get("domain") + "' with " + get("n_items") +
                      " items, --data gives '" + domain + "' with " + std::to_string(n_items));
}

/// The run's resume (every rank) and periodic checkpoint (rank 0) callbacks in one.
template <class T, class B>
struct RunCheckpoints {
  const Checkpoint* resume = nullptr;
  std::string resume_path;
  std::optional<train::CheckpointEvery<T, B>> save;

  /// Resumes from `resume` (null: a fresh run); when `save_here` (rank 0) and every > 0, writes OUT/last.ckpt
  /// with `meta` every `every` epochs.
  RunCheckpoints(const Checkpoint* resume, std::string resume_path, bool save_here, int every, const std::string& out,
                 std::map<std::string, std::string> meta)
      : resume(resume), resume_path(std::move(resume_path)) {
    if (!save_here || every <= 0) return;
    std::filesystem::create_directories(out);
    save.emplace(train::CheckpointEvery<T, B>{out + "/last.ckpt", every, std::move(meta)});
  }
  void on_resume(train::FitState<T, B>& st, const std::vector<Parameter<T, B>*>& ps, optim::Optimizer<T, B>& opt) const {
    if (resume) train::restore_fit_state(*resume, st, ps, opt);
  }
  void on_epoch_state(const train::FitState<T, B>& st, const std::vector<Parameter<T, B>*>& ps, optim::Optimizer<T, B>& opt) {
    if (save) save->on_epoch_state(st, ps, opt);
  }
  /// result.json's `resumed` {from, epoch} and `checkpoints` {path, every, written}, where they apply.
  void describe(nlohmann::json& record) const {
    if (resume) {
      const auto it = resume->meta.find("epoch");
      record["resumed"] = {{"from", resume_path}, {"epoch", it == resume->meta.end() ? -1 : std::stoi(it->second)}};
    }
    if (save) record["checkpoints"] = {{"path", save->path}, {"every", save->every}, {"written", save->written}};
  }
};

}  // namespace metarec::cli
