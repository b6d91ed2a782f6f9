#pragma once
/// @file trainer.hpp
/// Single-domain training with early stopping (SPEC sections 1-2):
/// epochs over shuffled batches, evaluation on validation every N epochs,
/// early stopping on a validation metric (NDCG@10) with patience, the best
/// parameters kept in memory and restored for the test evaluation.
///
/// Callbacks are detected, not required (ensmallen's callbacks): any object
/// passed to fit() may define on_train_begin(const TrainInfo&),
/// on_step(const StepInfo&), on_eval(int epoch, const eval::Metrics&) and
/// on_epoch_end(const EpochRecord&). As in ensmallen, on_eval and
/// on_epoch_end may return bool: true ends training after that epoch (the
/// best parameters are restored and tested as for early stopping).
///
/// Checkpoints and resume: a callback may also define
/// on_epoch_state(const FitState<T, B>&, params, optimizer) (called after every
/// epoch's bookkeeping) and on_resume(FitState<T, B>&, params, optimizer)
/// (called once before the first epoch, to load a saved state);
/// train/fit_checkpoint.hpp has both (CheckpointEvery, ResumeFrom). Batch
/// order is a function of (seed, epoch) and every per-process random stream
/// (dropout, negatives) is reseeded at each epoch's start from (seed, epoch,
/// rank), so a run resumed after epoch E continues exactly as the
/// uninterrupted run would have (same bits on the same host).
#include <chrono>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "metarec/data/batching.hpp"
#include "metarec/data/split.hpp"
#include "metarec/eval/full_ranking.hpp"
#include "metarec/model/contract.hpp"
#include "metarec/optim/make.hpp"
#include "metarec/optim/clip.hpp"
#include "metarec/train/batch_inputs.hpp"
#include "metarec/train/evaluate.hpp"
#include "metarec/train/step_sync.hpp"

namespace metarec::train {

struct TrainerConfig {
  int epochs = 200;              ///< maximum number of epochs
  int eval_every = 1;            ///< validate every N epochs
  int patience = 10;             ///< evaluations without improvement before stopping (0 = never stop early)
  index_t batch_size = 256;
  double lr = 1e-3;              ///< learning rate
  double weight_decay = 0.0;     ///< L2 weight decay (adamw: decoupled)
  optim::OptimizerKind optimizer = optim::OptimizerKind::adam;
  double momentum = 0.0;         ///< sgd only
  double clip_norm = 0.0;        ///< global gradient-norm clipping (0 = off)
  LossKind loss = LossKind::ce;
  index_t negatives = 256;       ///< K negatives shared by a batch's positions (sampled_softmax, gbce)
  NegativeScope negatives_per = NegativeScope::batch;  ///< or K per sequence, shared by its positions
  data::Sampling sampling = data::Sampling::uniform;  ///< their distribution Q (sampled_softmax: logQ-corrected)
  double gbce_t = 0.75;          ///< gSASRec's calibration t in [0, 1] (gbce; 0 = BCE)
  /// sampled_softmax: lower each draw's logit by log(K Q(j)) (an estimate of full-catalogue CE); off: the
  /// plain softmax over the target and the draws (RecTools' SASRec)
  bool logq = true;
  std::uint64_t seed = 1;
  std::string select_metric = "NDCG@10";
  EvalOptions eval;              ///< protocol, cut-offs, history masking, users per forward pass

  void validate() const {
    check_range("epochs", epochs, 1, 1000000);
    check_range("eval_every", eval_every, 1, 1000000);
    check_range("patience", patience, 0, 1000000);
    check_range<index_t>("batch_size", batch_size, 1, 1 << 20);
    check_range("lr", lr, 1e-12, 10.0);
    check_range("weight_decay", weight_decay, 0.0, 10.0);
    check_range("clip_norm", clip_norm, 0.0, 1e9);
    check_range("momentum", momentum, 0.0, 1.0);
    if (momentum > 0 && optimizer != optim::OptimizerKind::sgd)
      throw ConfigError("momentum = " + std::to_string(momentum) + " is read by the sgd optimizer only");
    check_range<index_t>("negatives", negatives, 1, index_t{1} << 16);
    check_range("gbce_t", gbce_t, 0.0, 1.0);
    if (!logq && loss != LossKind::sampled_softmax)
      throw ConfigError("logq = false is read by sampled_softmax only (loss = " + std::string(loss_kind_name(loss)) + ")");
    if (negatives_per != NegativeScope::batch && !uses_shared_negatives(loss))
      throw ConfigError("negatives_per = sequence is read by sampled_softmax and gbce only (loss = " +
                        std::string(loss_kind_name(loss)) + ")");
    if (loss == LossKind::gbce && sampling != data::Sampling::uniform)
      throw ConfigError("sampling = popularity is for sampled_softmax: gBCE's beta assumes uniform negatives");
    eval.validate();
    eval::Metrics probe(eval.ks);
    (void)probe[select_metric];  // throws for an unknown metric name
  }
};

struct TrainInfo {
  int epochs;
  index_t batches_per_epoch;
  std::size_t train_users;
};
struct StepInfo {
  int epoch;
  index_t batch, batches;
  double loss;
  double sequences_per_s;
};
struct EpochRecord {
  int epoch = 0;
  double loss = 0;             ///< mean training loss over the epoch's batches
  double seconds = 0;          ///< training time of the epoch (no evaluation)
  double sequences_per_s = 0;
  bool evaluated = false;
  eval::Metrics valid;
  bool improved = false;
};
struct TrainResult {
  int best_epoch = 0;
  int epochs_run = 0;
  bool early_stopped = false;
  bool stopped_by_callback = false;  ///< a callback's on_eval / on_epoch_end returned true
  eval::Metrics valid, test;
  double train_seconds = 0, train_sequences_per_s = 0, eval_users_per_s = 0;
  std::vector<EpochRecord> history;
};

/// Where fit_synced stands after an epoch. With the parameters and the
/// optimizer's state it is all a run needs to continue exactly.
template <class T, class B = backend::Cpu>
struct FitState {
  int epoch = 0;              ///< epochs completed
  bool finished = false;      ///< no epoch follows in this run (its last epoch, early stopping or a callback's stop)
  double best_score = -1;     ///< early stopping: best validation score so far
  int bad_evals = 0;          ///< evaluations since the score last improved
  double eval_seconds = 0;    ///< time spent evaluating (throughput figures)
  std::size_t eval_users = 0;
  TrainResult result;         ///< so far: best_epoch, valid, history, early_stopped, train_seconds and the
                              ///< sequences trained (in train_sequences_per_s until training ends)
  ParameterSnapshot<T, B> best;  ///< parameters of the best epoch (empty before the first evaluation)
};

namespace detail {
template <class C, class T, class B = backend::Cpu>
void call_resume(C& c, FitState<T, B>& st, const std::vector<Parameter<T, B>*>& ps, optim::Optimizer<T, B>& opt) {
  if constexpr (requires { c.on_resume(st, ps, opt); }) c.on_resume(st, ps, opt);
}
template <class C, class T, class B = backend::Cpu>
void call_epoch_state(C& c, const FitState<T, B>& st, const std::vector<Parameter<T, B>*>& ps, optim::Optimizer<T, B>& opt) {
  if constexpr (requires { c.on_epoch_state(st, ps, opt); }) c.on_epoch_state(st, ps, opt);
}
/// Seed of a per-process stream for one epoch (Rng::reseed mixes it further with splitmix64).
inline std::uint64_t epoch_seed(std::uint64_t stream, int epoch) {
  return stream ^ (0xD1B54A32D192ED03ULL * static_cast<std::uint64_t>(epoch + 1));
}
template <class C> void call_train_begin(C& c, const TrainInfo& i) { if constexpr (requires { c.on_train_begin(i); }) c.on_train_begin(i); }
template <class C> void call_step(C& c, const StepInfo& s) { if constexpr (requires { c.on_step(s); }) c.on_step(s); }
/// Calls `f()` and returns its value when it is a bool (a callback asking to stop), else false.
template <class F>
bool stop_requested(F&& f) {
  if constexpr (std::is_convertible_v<decltype(f()), bool>) return static_cast<bool>(f());
  else return f(), false;
}
template <class C> bool call_eval(C& c, int e, const eval::Metrics& m) {
  if constexpr (requires { c.on_eval(e, m); }) return stop_requested([&] { return c.on_eval(e, m); });
  return false;
}
template <class C> bool call_epoch_end(C& c, const EpochRecord& r) {
  if constexpr (requires { c.on_epoch_end(r); }) return stop_requested([&] { return c.on_epoch_end(r); });
  return false;
}

}  // namespace detail

/// fit() with a StepSync policy (step_sync.hpp): `sync` picks this process's
/// rows of every global batch, combines gradients after backward (before
/// clipping and the optimizer step) and evaluates. fit() is this with
/// LocalSync; distributed::fit passes distributed::MpiSync.
template <class Model, class Sync, class... Callbacks>
  requires StepSync<Sync, Model>
TrainResult fit_synced(Model& model, int k, const data::Split& split, const TrainerConfig& cfg, Sync& sync,
                       Callbacks&... callbacks) {
  static_assert(check_sequence_model<Model>(), "train::fit needs a SequenceModel (model/contract.hpp)");
  using T = typename Model::Scalar;
  using B = backend_of<Model>;
  using Clock = std::chrono::steady_clock;
  cfg.validate();
  if (split.n_items != model.domain(k).n_items)
    throw ConfigError("fit: split '" + split.name + "' has " + std::to_string(split.n_items) +
                      " items but model domain '" + model.domain(k).name + "' has " +
                      std::to_string(model.domain(k).n_items));
  data::BatchIterator batches(split, batch_options<Model>(model, cfg.batch_size, cfg.seed));
  if (batches.n_users() == 0) throw ConfigError("fit: no user of '" + split.name + "' has training data");
  // Every process draws the same global batches (seed); negatives and dropout
  // come from per-process streams, reseeded at every epoch's start from
  // (seed, epoch, rank), so a resumed run draws what an uninterrupted one does.
  const std::uint64_t input_stream = sync.stream_seed(cfg.seed + 17), dropout_stream = sync.stream_seed(cfg.seed + 31);
  BatchInputs inputs(split, cfg.loss, input_stream, {cfg.negatives, cfg.negatives_per, cfg.sampling, cfg.gbce_t, cfg.logq});
  const EvalOptions eval_opt = for_split(cfg.eval, split);
  const auto opt = optim::make_optimizer<T, B>(
      model.parameters().all(), {.kind = cfg.optimizer, .lr = cfg.lr, .weight_decay = cfg.weight_decay, .momentum = cfg.momentum});
  Tape<T, B> tape(dropout_stream), eval_tape(cfg.seed + 47);
  const std::vector<Parameter<T, B>*> params = model.parameters().all();
  FitState<T, B> st;
  TrainResult& res = st.result;
  (detail::call_resume(callbacks, st, params, *opt), ...);
  if (st.epoch > cfg.epochs)
    throw ConfigError("fit: the resumed state is after epoch " + std::to_string(st.epoch) + " but epochs = " +
                      std::to_string(cfg.epochs));
  // A resumed run that stopped early stays stopped if a callback stopped it, and is judged by this run's patience otherwise.
  if (!res.stopped_by_callback) res.early_stopped = cfg.patience > 0 && st.bad_evals >= cfg.patience;
  const TrainInfo info{cfg.epochs, batches.batches_per_epoch(), batches.n_users()};
  (detail::call_train_begin(callbacks, info), ...);
  for (int epoch = st.epoch + 1; epoch <= cfg.epochs && !res.early_stopped; ++epoch) {
    bool stop = false;  // a callback asked to end training after this epoch
    EpochRecord rec;
    rec.epoch = epoch;
    batches.start_epoch(static_cast<std::uint64_t>(epoch));
    inputs.reseed(detail::epoch_seed(input_stream, epoch));
    tape.rng().reseed(detail::epoch_seed(dropout_stream, epoch));
    tape.set_training(true);
    const auto t0 = Clock::now();
    double loss_sum = 0;
    index_t b = 0, seqs = 0;
    while (batches.next()) {
      const data::SequenceBatch& global = batches.batch();
      const data::SequenceBatch& mine = sync.shard(global);
      model.parameters().zero_grad();
      double lv = 0;
      if (mine.batch > 0) {  // a process may get no row of a small last batch; it still joins the reduction
        const TrainInputs& in = inputs.prepare(mine);
        tape.reset();
        Var<T, B> loss = model.loss(tape, k, in, cfg.loss);
        lv = static_cast<double>(loss.item());
        if (!std::isfinite(lv))
          throw NumericError("fit: training loss is " + std::to_string(lv) + " at epoch " + std::to_string(epoch) +
                             ", batch " + std::to_string(b));
        tape.backward(loss);
      }
      lv = sync.reduce(params, mine, global, lv);
      if (cfg.clip_norm > 0) optim::clip_grad_norm(params, cfg.clip_norm);
      opt->step();
      loss_sum += lv;
      seqs += global.batch;
      ++b;
      const double el = std::chrono::duration<double>(Clock::now() - t0).count();
      (detail::call_step(callbacks, StepInfo{epoch, b, info.batches_per_epoch, lv, seqs / std::max(el, 1e-9)}), ...);
    }
    rec.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rec.loss = loss_sum / static_cast<double>(std::max<index_t>(b, 1));
    rec.sequences_per_s = static_cast<double>(seqs) / std::max(rec.seconds, 1e-9);
    res.train_seconds += rec.seconds;
    res.train_sequences_per_s += static_cast<double>(seqs);  // total for now, divided at the end
    res.epochs_run = epoch;
    if (epoch % cfg.eval_every == 0 || epoch == cfg.epochs) {
      const auto e0 = Clock::now();
      rec.valid = sync.evaluate(model, eval_tape, k, split.valid, eval_opt);
      st.eval_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
      st.eval_users += split.valid.size();
      rec.evaluated = true;
      ((stop = detail::call_eval(callbacks, epoch, rec.valid) || stop), ...);
      const double score = rec.valid[cfg.select_metric];
      if (score > st.best_score) {
        st.best_score = score;
        res.best_epoch = epoch;
        res.valid = rec.valid;
        st.best.take(model.parameters().all());
        st.bad_evals = 0;
        rec.improved = true;
      } else {
        ++st.bad_evals;
      }
    }
    res.history.push_back(rec);
    ((stop = detail::call_epoch_end(callbacks, rec) || stop), ...);
    st.epoch = epoch;
    if (stop || (cfg.patience > 0 && st.bad_evals >= cfg.patience)) {
      res.early_stopped = true;
      res.stopped_by_callback = stop;
    }
    st.finished = res.early_stopped || epoch == cfg.epochs;
    (detail::call_epoch_state(callbacks, std::as_const(st), params, *opt), ...);
  }
  if (!st.best.empty()) st.best.restore(model.parameters().all());
  const auto e0 = Clock::now();
  res.test = sync.evaluate(model, eval_tape, k, split.test, eval_opt);
  st.eval_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
  st.eval_users += split.test.size();
  res.train_sequences_per_s /= std::max(res.train_seconds, 1e-9);
  res.eval_users_per_s = static_cast<double>(st.eval_users) / std::max(st.eval_seconds, 1e-9);
  return std::move(res);
}

/// Trains `model` on domain `k` of the split, selects on validation, returns
/// validation and test metrics of the best epoch. The model holds the best
/// parameters afterwards.
template <class Model, class... Callbacks>
TrainResult fit(Model& model, int k, const data::Split& split, const TrainerConfig& cfg, Callbacks&... callbacks) {
  LocalSync one_process;
  return fit_synced(model, k, split, cfg, one_process, callbacks...);
}

}  // namespace metarec::train
