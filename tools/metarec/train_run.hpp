#pragma once
// The train command's code path, shared by `metarec train` and `metarec tune`
// (each tuning trial is one such run, with its own --out directory).
#include <CLI/CLI.hpp>
#include <string>

#include "common.hpp"

namespace metarec::cli {

struct TrainArgs {
  DataOptions data;
  ModelOptions model;
  train::TrainerConfig trainer;
  std::string loss = "ce", out;
  std::string device = "cpu";  ///< where the model runs: cpu or cuda (registry.hpp, check_device)
  int threads = 0;
  bool distributed = false;
  bool sparse_items = false;
  int checkpoint_every = 0;  ///< train only: write OUT/last.ckpt every N epochs
  std::string resume;        ///< train only: continue the run of this last.ckpt
};

/// The options of `metarec train` that describe one run: data, model, trainer and --sparse-items (not --out,
/// --config or --distributed, which each command adds for itself).
void add_train_options(CLI::App& cmd, TrainArgs& a);

/// Sees every validation of a run and may end it (`metarec tune`'s median-stopping rule).
struct EvalHook {
  virtual ~EvalHook() = default;
  /// true ends training after this epoch.
  virtual bool on_eval(int epoch, const eval::Metrics& valid) = 0;
};

/// Validates the options, loads the data, trains with early stopping, prints the test metrics and writes
/// a.out/result.json and a.out/model.ckpt (or prints the record when a.out is empty). Returns the record
/// (on the printing process of a distributed run; an empty object on the others).
json run_train(TrainArgs& a, EvalHook* hook = nullptr);

}  // namespace metarec::cli
