#pragma once
/// @file fit_checkpoint.hpp
/// Checkpoints of a training run that fit_synced (trainer.hpp) can resume
/// exactly: the parameters as they are after the last completed epoch, the
/// optimizer's state, the best epoch's parameters and the early-stopping and
/// history records (FitState). Batch order and every random stream are
/// functions of (seed, epoch, rank), so nothing else is needed, and the
/// state is the same on every rank of a data-parallel run: a checkpoint
/// written by N ranks resumes on any number of ranks.
///
/// Entries: parameters under their own names (so `metarec evaluate` reads the
/// file like a final model.ckpt), the optimizer under "optimizer/", the best
/// epoch's parameters under "best/", the rest under "fit/".
///
/// Two callbacks for fit / fit_synced:
/// ```cpp
/// train::CheckpointEvery<float> save{"run/last.ckpt", 5, meta};  // rank 0 only (it writes)
/// train::ResumeFrom resume{load_checkpoint("run/last.ckpt")};     // every rank
/// train::fit(model, k, split, cfg, resume, save);
/// ```
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "metarec/train/checkpoint.hpp"
#include "metarec/train/trainer.hpp"

namespace metarec::train {

/// Section names inside the checkpoint.
inline const std::string fit_section = "fit/";
inline const std::string best_section = "best/";

namespace detail {
/// Columns of one history row before the metrics: epoch, loss, seconds, sequences/s, evaluated, improved.
inline constexpr std::size_t history_head = 6;

inline const CheckpointEntry& fit_entry(const Checkpoint& ck, const std::string& name) {
  const CheckpointEntry* e = ck.find(fit_section + name);
  if (!e)
    throw CheckpointError("restore_fit_state: no tensor '" + fit_section + name +
                          "' (not a resumable training checkpoint: write one with --checkpoint-every / CheckpointEvery)");
  return *e;
}
}  // namespace detail

/// Adds the whole state of a run after an epoch: parameters, optimizer, best parameters, FitState.
template <class T, class B = backend::Cpu>
void add_fit_state(Checkpoint& ck, const FitState<T, B>& st, const std::vector<Parameter<T, B>*>& params,
                   optim::Optimizer<T, B>& opt) {
  add_parameters(ck, params);
  add_optimizer_state(ck, opt);
  if (!st.best.empty())
    for (std::size_t i = 0; i < params.size(); ++i) ck.add(CheckpointEntry::from_tensor(best_section + params[i]->name, metarec::detail::on_host(st.best[i])));
  const TrainResult& r = st.result;
  ck.add(CheckpointEntry::from_values<std::int64_t>(
      fit_section + "counters", {st.epoch, st.finished, st.bad_evals, r.best_epoch, r.epochs_run, r.early_stopped,
                                 r.stopped_by_callback, static_cast<std::int64_t>(st.eval_users), !st.best.empty()}));
  ck.add(CheckpointEntry::from_values<double>(
      fit_section + "scalars", {st.best_score, st.eval_seconds, r.train_seconds, r.train_sequences_per_s}));
  // Metrics as raw sums, one cut-off list for all (the run's EvalOptions::ks).
  const std::vector<int>& ks = r.valid.ks();
  ck.add(CheckpointEntry::from_values<std::int32_t>(fit_section + "ks", std::vector<std::int32_t>(ks.begin(), ks.end())));
  ck.add(CheckpointEntry::from_values<double>(fit_section + "best_valid", r.valid.sums()));
  const std::size_t width = detail::history_head + 2 + 2 * ks.size();
  std::vector<double> rows;
  for (const EpochRecord& e : r.history) {
    rows.insert(rows.end(), {static_cast<double>(e.epoch), e.loss, e.seconds, e.sequences_per_s,
                             static_cast<double>(e.evaluated), static_cast<double>(e.improved)});
    const std::vector<double> v = e.evaluated ? e.valid.sums() : eval::Metrics(ks).sums();
    rows.insert(rows.end(), v.begin(), v.end());
  }
  CheckpointEntry h = CheckpointEntry::from_values<double>(fit_section + "history", rows);
  h.shape = {static_cast<std::int64_t>(r.history.size()), static_cast<std::int64_t>(width)};
  ck.add(std::move(h));
}

/// Restores what add_fit_state stored into `st`, the parameters and the
/// optimizer. Validates everything before changing anything (a failure
/// leaves model and optimizer as they were), naming every problem.
template <class T, class B = backend::Cpu>
void restore_fit_state(const Checkpoint& ck, FitState<T, B>& st, const std::vector<Parameter<T, B>*>& params,
                       optim::Optimizer<T, B>& opt) {
  const auto counters = detail::fit_entry(ck, "counters").values<std::int64_t>();
  const auto scalars = detail::fit_entry(ck, "scalars").values<double>();
  const auto ks32 = detail::fit_entry(ck, "ks").values<std::int32_t>();
  const auto best_valid = detail::fit_entry(ck, "best_valid").values<double>();
  const CheckpointEntry& hist = detail::fit_entry(ck, "history");
  const auto rows = hist.values<double>();
  const std::vector<int> ks(ks32.begin(), ks32.end());
  const std::size_t width = detail::history_head + 2 + 2 * ks.size();
  if (counters.size() != 9 || scalars.size() != 4 || hist.shape.size() != 2 ||
      hist.shape[1] != static_cast<std::int64_t>(width) || counters[0] < 0)
    throw CheckpointError("restore_fit_state: malformed '" + fit_section + "' entries (counters " +
                          std::to_string(counters.size()) + ", scalars " + std::to_string(scalars.size()) +
                          ", history " + hist.shape_str() + ")");
  FitState<T, B> s;
  s.epoch = static_cast<int>(counters[0]);
  s.finished = counters[1] != 0;
  s.bad_evals = static_cast<int>(counters[2]);
  TrainResult& r = s.result;
  r.best_epoch = static_cast<int>(counters[3]);
  r.epochs_run = static_cast<int>(counters[4]);
  r.early_stopped = counters[5] != 0;
  r.stopped_by_callback = counters[6] != 0;
  s.eval_users = static_cast<std::size_t>(counters[7]);
  s.best_score = scalars[0];
  s.eval_seconds = scalars[1];
  r.train_seconds = scalars[2];
  r.train_sequences_per_s = scalars[3];
  r.valid = eval::Metrics::from_sums(ks, best_valid);
  for (std::size_t i = 0; i + width <= rows.size(); i += width) {
    EpochRecord e;
    e.epoch = static_cast<int>(rows[i]);
    e.loss = rows[i + 1];
    e.seconds = rows[i + 2];
    e.sequences_per_s = rows[i + 3];
    e.evaluated = rows[i + 4] != 0;
    e.improved = rows[i + 5] != 0;
    e.valid = eval::Metrics::from_sums(
        ks, std::vector<double>(rows.begin() + static_cast<std::ptrdiff_t>(i + detail::history_head),
                                rows.begin() + static_cast<std::ptrdiff_t>(i + width)));
    r.history.push_back(std::move(e));
  }
  // Parameters: validate the current ones (all or nothing), then the best
  // epoch's through the same parameters, then load the current ones.
  restore_parameters(ck, params);
  if (counters[8] != 0) {
    restore_parameters(ck, params, true, best_section);
    s.best.take(params);
    restore_parameters(ck, params);
  }
  restore_optimizer_state(ck, opt);
  st = std::move(s);
}

/// Callback: continues a run from a checkpoint written by CheckpointEvery /
/// add_fit_state. Give it to every rank of a data-parallel run.
struct ResumeFrom {
  Checkpoint checkpoint;
  template <class T, class B = backend::Cpu>
  void on_resume(FitState<T, B>& st, const std::vector<Parameter<T, B>*>& params, optim::Optimizer<T, B>& opt) const {
    restore_fit_state(checkpoint, st, params, opt);
  }
};

/// Callback: every `every` epochs, and after the last epoch, writes the run's
/// state atomically to `path` (temporary file + rename: a crash, or a rank
/// killed mid-write, leaves the previous checkpoint intact). `meta` goes into
/// the file's metadata (e.g. the model's configuration). In a data-parallel
/// run give it to rank 0 only.
template <class T, class B = backend::Cpu>
struct CheckpointEvery {
  std::string path;
  int every = 1;
  std::map<std::string, std::string> meta;
  int written = 0;  ///< checkpoints written so far

  void on_epoch_state(const FitState<T, B>& st, const std::vector<Parameter<T, B>*>& params, optim::Optimizer<T, B>& opt) {
    if (every <= 0 || (st.epoch % every != 0 && !st.finished)) return;
    Checkpoint ck;
    ck.meta = meta;
    ck.meta["epoch"] = std::to_string(st.epoch);
    add_fit_state(ck, st, params, opt);
    save_checkpoint(path, ck);
    ++written;
  }
};

}  // namespace metarec::train
