// metarec tune: seeded random search (Bergstra & Bengio, JMLR 2012) over a declared space. Each trial is
// a `metarec train` run (train_run.hpp: the same code path, early stopping on validation NDCG@10 with
// --patience) written to DIR/trial-NNN; optionally the median-stopping rule (Golovin et al., "Google
// Vizier", KDD 2017) ends a trial whose best validation score so far is below the median of the earlier
// trials' at the same epoch. Writes DIR/trials.jsonl (one line per trial, appended as each ends),
// DIR/best.json (a config file for `metarec train --config`) and DIR/search.json, and prints a table.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "config_file.hpp"
#include "train_run.hpp"

namespace metarec::cli {

namespace {

/// tune's own options; every other option is train's and is passed to each trial.
const std::vector<std::string> tune_only{"--out", "--space", "--trials", "--median-stop-at", "--median-startup-trials",
                                         "--config"};

struct TuneArgs {
  TrainArgs base;  // train's options, checked once before the search (each trial parses its own copy)
  std::string space, out;
  int trials = 10;
  std::vector<int> median_at;  // epochs at which the median-stopping rule is applied
  int median_startup = 3;      // earlier trials needed at an epoch before the rule applies there
};

/// One dimension of the search space: a list of choices, or a uniform / log-uniform range.
struct Dimension {
  enum class Kind { choice, uniform, log_uniform };
  std::string key;
  Kind kind = Kind::choice;
  json choices;
  double lo = 0, hi = 0;

  json sample(Rng& rng) const {
    if (kind == Kind::choice) return choices[static_cast<std::size_t>(rng.below(choices.size()))];
    const double v = kind == Kind::uniform ? rng.uniform(lo, hi) : std::exp(rng.uniform(std::log(lo), std::log(hi)));
    return std::stod(fmt::format("{:.4g}", v));  // 4 significant digits: readable configs
  }
};

/// The space file: {"key": [choices...] | {"uniform": [lo, hi]} | {"log_uniform": [lo, hi]}, ...}; keys are
/// train's options. Each choice is checked as a value of its option.
std::vector<Dimension> read_space(const std::string& path, const CLI::App& cmd) {
  const json j = read_json_object(path);
  const std::string where = "search space '" + path + "'";
  if (j.empty()) throw ConfigError(where + ": no dimension");
  std::vector<Dimension> dims;
  for (const auto& [key, spec] : j.items()) {
    const std::string flag = option_for_key(key);
    if (std::find(tune_only.begin(), tune_only.end(), flag) != tune_only.end() || flag == "--seed")
      throw ConfigError(where + ": key '" + key + "' is not a training option that can be searched");
    Dimension d;
    d.key = key;  // as given_options spells the fixed options, so that a searched key replaces a fixed one
    std::replace(d.key.begin(), d.key.end(), '-', '_');
    if (spec.is_array()) {
      if (spec.empty()) throw ConfigError(where + ": key '" + key + "' has no choice");
      d.choices = spec;
      for (const auto& c : spec) config_args(cmd, json{{key, c}}, where);  // unknown key, wrong value type
    } else if (spec.is_object() && spec.size() == 1 && (spec.contains("uniform") || spec.contains("log_uniform"))) {
      d.kind = spec.contains("uniform") ? Dimension::Kind::uniform : Dimension::Kind::log_uniform;
      const json& r = spec.begin().value();
      if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number())
        throw ConfigError(where + ": key '" + key + "': " + spec.begin().key() + " takes [low, high] (numbers)");
      d.lo = r[0].get<double>(), d.hi = r[1].get<double>();
      if (!(d.lo < d.hi) || (d.kind == Dimension::Kind::log_uniform && !(d.lo > 0)))
        throw ConfigError(where + ": key '" + key + "': the range needs " +
                          (d.kind == Dimension::Kind::log_uniform ? "0 < low < high" : "low < high"));
      config_args(cmd, json{{key, d.lo}}, where);
    } else {
      throw ConfigError(where + ": key '" + key + "' must be a list of choices, {\"uniform\": [low, high]} or " +
                        "{\"log_uniform\": [low, high]}");
    }
    dims.push_back(std::move(d));
  }
  return dims;
}

/// A fresh train command that parsed the train options in `values`, as `metarec train` parses them. The
/// command outlives the parse: the model options read their values from it (PolicyOptions::apply).
struct TrialCommand {
  CLI::App app{"one tuning trial"};
  TrainArgs args;
  TrialCommand(const json& values, const std::string& where) {
    app.name("tune");
    add_train_options(app, args);
    std::vector<std::string> argv = config_args(app, values, where);
    std::reverse(argv.begin(), argv.end());  // CLI11 takes a vector in reverse order
    app.parse(argv);
  }
};

/// The median-stopping rule; also records the trial's best-so-far curve for the later trials.
struct MedianStop : EvalHook {
  const TuneArgs& args;
  const std::vector<std::map<int, double>>& earlier;  // best-so-far per evaluated epoch, earlier trials
  std::string metric;
  double best = -std::numeric_limits<double>::infinity();
  std::map<int, double> curve;
  int stopped_at = 0;

  MedianStop(const TuneArgs& a, const std::vector<std::map<int, double>>& e, std::string m)
      : args(a), earlier(e), metric(std::move(m)) {}
  bool on_eval(int epoch, const eval::Metrics& valid) override {
    best = std::max(best, valid[metric]);
    curve[epoch] = best;
    if (std::find(args.median_at.begin(), args.median_at.end(), epoch) == args.median_at.end()) return false;
    std::vector<double> seen;
    for (const auto& c : earlier)
      if (const auto it = c.find(epoch); it != c.end()) seen.push_back(it->second);
    if (static_cast<int>(seen.size()) < args.median_startup) return false;
    std::sort(seen.begin(), seen.end());
    const std::size_t n = seen.size();
    const double median = n % 2 ? seen[n / 2] : 0.5 * (seen[n / 2 - 1] + seen[n / 2]);
    if (best < median) stopped_at = epoch;
    return stopped_at != 0;
  }
};

std::string cell(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

void print_table(const std::vector<json>& rows, const std::vector<Dimension>& dims, const std::string& metric,
                 int best) {
  std::vector<std::string> head{"trial"};
  for (const auto& d : dims) head.push_back(d.key);
  for (const std::string& h : {"valid " + metric, std::string("valid HR@10"), "test " + metric,
                               std::string("test HR@10"), std::string("epoch"), std::string("seconds"), std::string("stop")})
    head.push_back(h);
  std::vector<std::vector<std::string>> table{head};
  for (const json& r : rows) {
    std::vector<std::string> row{fmt::format("{}{}", r["trial"].get<int>(), r["trial"] == best ? "*" : "")};
    for (const auto& d : dims) row.push_back(cell(r["params"][d.key]));
    if (r.contains("error")) {
      row.push_back("failed: " + r["error"].get<std::string>());
    } else {
      auto m = [&](const char* part, const std::string& k) {
        return r[part].contains(k) ? fmt::format("{:.4f}", r[part][k].get<double>()) : std::string("-");
      };
      for (const std::string& x : {m("valid", metric), m("valid", "HR@10"), m("test", metric), m("test", "HR@10")})
        row.push_back(x);
      row.push_back(std::to_string(r["best_epoch"].get<int>()));
      row.push_back(fmt::format("{:.1f}", r["seconds"].get<double>()));
      row.push_back(r["median_stopped"].get<bool>() ? "median" : r["early_stopped"].get<bool>() ? "patience" : "-");
    }
    table.push_back(row);
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& row : table)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : table) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c)
      line += c + 1 == row.size() ? row[c] : fmt::format("{:<{}}  ", row[c], width[c]);
    fmt::print("{}\n", line);
  }
}

void run_tune(TuneArgs& t, const CLI::App& cmd) {
  // The train options as given (command line and --config), checked before any trial runs.
  const json base = given_options(cmd, invocation(), tune_only);
  {
    TrialCommand probe(base, "tune");
    validated_model_config(probe.args.model);
    probe.args.trainer.loss = parse_loss(probe.args.loss);
    probe.args.trainer.validate();
  }
  const std::string metric = t.base.trainer.select_metric;
  for (int e : t.median_at)
    if (e < 1 || e % t.base.trainer.eval_every != 0)
      throw ConfigError("--median-stop-at " + std::to_string(e) + ": the rule needs a validation at that epoch (a " +
                        "multiple of --eval-every " + std::to_string(t.base.trainer.eval_every) + ")");
  const std::vector<Dimension> dims = read_space(t.space, cmd);
  for (const Dimension& d : dims) {  // every value parses as its option (a choice --loss refuses fails here, not later)
    const json values = d.kind == Dimension::Kind::choice ? d.choices : json{d.lo, d.hi};
    for (const json& v : values) {
      json one = base;
      one[d.key] = v;
      try {
        TrialCommand check(one, "search space '" + t.space + "'");
      } catch (const CLI::ParseError& e) {
        throw ConfigError("search space '" + t.space + "': key '" + d.key + "' = " + v.dump() + ": " + e.what());
      }
    }
  }

  std::filesystem::create_directories(t.out);
  const std::uint64_t seed = t.base.trainer.seed;
  write_json(t.out + "/search.json", json{{"command", "tune"}, {"space", read_json_object(t.space)},
                                          {"space_file", t.space}, {"seed", seed}, {"trials", t.trials},
                                          {"median_stop_at", t.median_at}, {"median_startup_trials", t.median_startup},
                                          {"train_options", base}});
  std::ofstream log(t.out + "/trials.jsonl");
  if (!log) throw IoError("cannot write '" + t.out + "/trials.jsonl'");

  Rng rng(seed ^ 0x7475'6e65ULL);  // "tune": the search's own stream, apart from the trainer's
  std::vector<json> rows, tried;
  std::vector<std::map<int, double>> curves;
  int best = -1;
  double best_score = -1;
  for (int i = 0; i < t.trials; ++i) {
    json params = json::object();
    for (int attempt = 0; attempt < 100; ++attempt) {  // a combination already tried is drawn again
      params = json::object();
      for (const auto& d : dims) params[d.key] = d.sample(rng);
      if (std::find(tried.begin(), tried.end(), params) == tried.end()) break;
    }
    tried.push_back(params);
    json values = base;
    values.update(params);
    const std::string dir = fmt::format("trial-{:03d}", i);
    fmt::print(stderr, "tune: trial {}/{}: {}\n", i + 1, t.trials, params.dump());
    json row{{"trial", i}, {"params", params}, {"dir", dir}};
    MedianStop hook(t, curves, metric);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      TrialCommand trial(values, fmt::format("trial {}", i));
      trial.args.out = t.out + "/" + dir;
      const json r = run_train(trial.args, &hook);
      row["valid"] = r["valid"];
      row["test"] = r["test"];
      row["best_epoch"] = r["best_epoch"];
      row["epochs_run"] = r["epochs_run"];
      row["early_stopped"] = r["early_stopped"];
      row["median_stopped"] = hook.stopped_at != 0;
      if (hook.stopped_at) row["median_stopped_at"] = hook.stopped_at;
      const double score = r["valid"].value(metric, -1.0);
      if (best < 0 || score > best_score) best = i, best_score = score;
    } catch (const ConfigError& e) {  // e.g. heads that do not divide a sampled d: the search goes on
      row["error"] = e.what();
    } catch (const NumericError& e) {  // e.g. a learning rate that diverges
      row["error"] = e.what();
    }
    row["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    curves.push_back(hook.curve);
    log << row.dump() << '\n' << std::flush;
    rows.push_back(row);
  }
  if (best < 0) throw ConfigError("tune: every trial failed (see " + t.out + "/trials.jsonl)");
  json config = base;
  config.update(rows[static_cast<std::size_t>(best)]["params"]);
  config.erase("threads");  // not a setting of the model
  config["seed"] = seed;
  write_json(t.out + "/best.json", config);
  fmt::print("\n");
  print_table(rows, dims, metric, best);
  fmt::print("best: trial {} (valid {} {:.4f}); config: {}/best.json (metarec train --config {}/best.json)\n", best,
             metric, best_score, t.out, t.out);
}

}  // namespace

void setup_tune(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tune", "seeded random search over a declared space; each trial is a train run with early stopping on "
              "validation NDCG@10 (all of train's options are accepted and fixed for every trial)");
  auto t = std::make_shared<TuneArgs>();
  add_config_option(*cmd);
  add_train_options(*cmd, t->base);
  cmd->add_option("--space", t->space,
                  "search space, a JSON object: {\"dropout\": [0.1, 0.2], \"lr\": {\"log_uniform\": [3e-4, 3e-3]}, "
                  "\"d\": [64, 128], ...} (keys: train's options; lists are choices; also {\"uniform\": [lo, hi]})")
      ->required();
  cmd->add_option("--trials", t->trials, "number of trials")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--out", t->out, "directory for trials.jsonl, best.json, search.json and trial-NNN/")->required();
  cmd->add_option("--median-stop-at", t->median_at,
                  "epochs (multiples of --eval-every) at which a trial whose best validation score so far is below "
                  "the median of the earlier trials' at that epoch is stopped (default: none)")
      ->delimiter(',');
  cmd->add_option("--median-startup-trials", t->median_startup,
                  "earlier trials that must have reached an epoch before the median rule applies there")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->callback([t, cmd] { run_tune(*t, *cmd); });
}

}  // namespace metarec::cli
