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
/// on_epoch_end(const EpochRecord&).
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "metarec/data/batching.hpp"
#include "metarec/data/split.hpp"
#include "metarec/eval/full_ranking.hpp"
#include "metarec/model/recommender.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/optim/clip.hpp"
#include "metarec/train/batch_inputs.hpp"
#include "metarec/train/evaluate.hpp"

namespace metarec::train {

struct TrainerConfig {
  int epochs = 200;              ///< maximum number of epochs
  int eval_every = 1;            ///< validate every N epochs
  int patience = 10;             ///< evaluations without improvement before stopping (0 = never stop early)
  index_t batch_size = 256;
  double lr = 1e-3;              ///< Adam learning rate
  double weight_decay = 0.0;     ///< Adam L2 weight decay
  double clip_norm = 0.0;        ///< global gradient-norm clipping (0 = off)
  LossKind loss = LossKind::ce;
  std::uint64_t seed = 1;
  std::string select_metric = "NDCG@10";
  EvalOptions eval;              ///< cut-offs, history masking, users per forward pass

  void validate() const {
    check_range("epochs", epochs, 1, 1000000);
    check_range("eval_every", eval_every, 1, 1000000);
    check_range("patience", patience, 0, 1000000);
    check_range<index_t>("batch_size", batch_size, 1, 1 << 20);
    check_range("lr", lr, 1e-12, 10.0);
    check_range("weight_decay", weight_decay, 0.0, 10.0);
    check_range("clip_norm", clip_norm, 0.0, 1e9);
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
  eval::Metrics valid, test;
  double train_seconds = 0, train_sequences_per_s = 0, eval_users_per_s = 0;
  std::vector<EpochRecord> history;
};

namespace detail {
template <class C> void call_train_begin(C& c, const TrainInfo& i) { if constexpr (requires { c.on_train_begin(i); }) c.on_train_begin(i); }
template <class C> void call_step(C& c, const StepInfo& s) { if constexpr (requires { c.on_step(s); }) c.on_step(s); }
template <class C> void call_eval(C& c, int e, const eval::Metrics& m) { if constexpr (requires { c.on_eval(e, m); }) c.on_eval(e, m); }
template <class C> void call_epoch_end(C& c, const EpochRecord& r) { if constexpr (requires { c.on_epoch_end(r); }) c.on_epoch_end(r); }

/// In-memory copy of every parameter (the best model so far).
template <class T>
class Snapshot {
 public:
  void take(nn::ParameterStore<T>& store) {
    auto ps = store.all();
    values_.resize(ps.size());
    for (std::size_t i = 0; i < ps.size(); ++i) {
      if (values_[i].shape() != ps[i]->value.shape()) values_[i] = Tensor<T>(ps[i]->value.shape());
      values_[i].copy_from(ps[i]->value);
    }
  }
  void restore(nn::ParameterStore<T>& store) const {
    auto ps = store.all();
    for (std::size_t i = 0; i < ps.size() && i < values_.size(); ++i) ps[i]->value.copy_from(values_[i]);
  }
  bool empty() const { return values_.empty(); }

 private:
  std::vector<Tensor<T>> values_;
};
}  // namespace detail

/// Trains `model` on domain `k` of the split, selects on validation, returns
/// validation and test metrics of the best epoch. The model holds the best
/// parameters afterwards.
template <class Model, class... Callbacks>
TrainResult fit(Model& model, int k, const data::Split& split, const TrainerConfig& cfg, Callbacks&... callbacks) {
  using T = typename Model::Scalar;
  using Clock = std::chrono::steady_clock;
  cfg.validate();
  if (split.n_items != model.domain(k).n_items)
    throw ConfigError("fit: split '" + split.name + "' has " + std::to_string(split.n_items) +
                      " items but model domain '" + model.domain(k).name + "' has " +
                      std::to_string(model.domain(k).n_items));
  data::BatchIterator batches(split, batch_options<Model>(model, cfg.batch_size, cfg.seed));
  if (batches.n_users() == 0) throw ConfigError("fit: no user of '" + split.name + "' has training data");
  BatchInputs inputs(split, cfg.loss, cfg.seed + 17);
  optim::Adam<T> adam(model.parameters().all(), optim::AdamConfig{.lr = cfg.lr, .weight_decay = cfg.weight_decay});
  Tape<T> tape(cfg.seed + 31), eval_tape(cfg.seed + 47);
  detail::Snapshot<T> best;
  TrainResult res;
  const TrainInfo info{cfg.epochs, batches.batches_per_epoch(), batches.n_users()};
  (detail::call_train_begin(callbacks, info), ...);
  double best_score = -1;
  int bad_evals = 0;
  double eval_seconds = 0;
  std::size_t eval_users = 0;
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    EpochRecord rec;
    rec.epoch = epoch;
    batches.start_epoch(static_cast<std::uint64_t>(epoch));
    tape.set_training(true);
    const auto t0 = Clock::now();
    double loss_sum = 0;
    index_t b = 0, seqs = 0;
    while (batches.next()) {
      const TrainInputs& in = inputs.prepare(batches.batch());
      tape.reset();
      model.parameters().zero_grad();
      Var<T> loss = model.loss(tape, k, in, cfg.loss);
      const double lv = static_cast<double>(loss.value()[0]);
      if (!std::isfinite(lv))
        throw NumericError("fit: training loss is " + std::to_string(lv) + " at epoch " + std::to_string(epoch) +
                           ", batch " + std::to_string(b));
      tape.backward(loss);
      if (cfg.clip_norm > 0) optim::clip_grad_norm(model.parameters().all(), cfg.clip_norm);
      adam.step();
      loss_sum += lv;
      seqs += in.seq.batch;
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
      rec.valid = evaluate(model, eval_tape, k, split.valid, cfg.eval);
      eval_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
      eval_users += split.valid.size();
      rec.evaluated = true;
      (detail::call_eval(callbacks, epoch, rec.valid), ...);
      const double score = rec.valid[cfg.select_metric];
      if (score > best_score) {
        best_score = score;
        res.best_epoch = epoch;
        res.valid = rec.valid;
        best.take(model.parameters());
        bad_evals = 0;
        rec.improved = true;
      } else {
        ++bad_evals;
      }
    }
    res.history.push_back(rec);
    (detail::call_epoch_end(callbacks, rec), ...);
    if (cfg.patience > 0 && bad_evals >= cfg.patience) {
      res.early_stopped = true;
      break;
    }
  }
  if (!best.empty()) best.restore(model.parameters());
  const auto e0 = Clock::now();
  res.test = evaluate(model, eval_tape, k, split.test, cfg.eval);
  eval_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
  eval_users += split.test.size();
  res.train_sequences_per_s /= std::max(res.train_seconds, 1e-9);
  res.eval_users_per_s = static_cast<double>(eval_users) / std::max(eval_seconds, 1e-9);
  return res;
}

}  // namespace metarec::train
