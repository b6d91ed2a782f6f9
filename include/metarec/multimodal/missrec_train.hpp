#pragma once
/// @file missrec_train.hpp
/// Training MISSRec with the toolkit's machinery:
/// - InterestRefresh, a fit() callback re-running interest discovery before
///   every epoch;
/// - finetune(): parameter-efficient or full fine-tuning through train::fit;
/// - pretrain(): multi-domain pre-training (SPEC 4), domains interleaved batch
///   by batch in a seeded order;
/// - load_missrec_pretrained(): carries the shared parts of a pre-trained
///   checkpoint into a model whose domains (item sets) differ.
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "metarec/eval/full_ranking.hpp"
#include "metarec/multimodal/missrec.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/optim/clip.hpp"
#include "metarec/train/batch_inputs.hpp"
#include "metarec/train/checkpoint.hpp"
#include "metarec/train/joint_training.hpp"
#include "metarec/train/pretrained.hpp"
#include "metarec/train/trainer.hpp"

namespace metarec::multimodal {

/// fit() callback: interest discovery before the first epoch and after each
/// one (so epoch e + 1 trains on clusters of the adaptors after epoch e). A
/// run resumed after epoch e (train::ResumeFrom) discovers them as the
/// uninterrupted run did after epoch e: pass this callback after the one that
/// restores the state, so that on_resume sees the restored epoch.
template <class T>
struct InterestRefresh {
  MISSRecType<T>* model;
  int domain;
  std::uint64_t seed;
  int start_epoch = 0;  ///< epochs completed before this run (a resumed run)
  template <class B>
  void on_resume(train::FitState<T, B>& st, const std::vector<Parameter<T, B>*>&, optim::Optimizer<T, B>&) {
    start_epoch = st.epoch;
  }
  void on_train_begin(const train::TrainInfo&) {
    model->discover_interests(domain, seed + static_cast<std::uint64_t>(start_epoch));
  }
  void on_epoch_end(const train::EpochRecord& r) { model->discover_interests(domain, seed + static_cast<std::uint64_t>(r.epoch)); }
};

/// finetune() with a train::StepSync policy (data parallelism: pass
/// distributed::MpiSync). Interest discovery is seeded k-means over the
/// replicated parameters, so every rank finds the same interests.
template <class T, class Sync, class... Callbacks>
train::TrainResult finetune_synced(MISSRecType<T>& model, int k, const data::Split& split,
                                   const train::TrainerConfig& cfg, bool parameter_efficient, Sync& sync,
                                   Callbacks&... callbacks) {
  model.set_parameter_efficient(parameter_efficient);
  InterestRefresh<T> refresh{&model, k, cfg.seed ^ 0x1F2E3D4CULL};
  return train::fit_synced(model, k, split, cfg, sync, callbacks..., refresh);  // last: see InterestRefresh
}

/// Fine-tunes domain k (full-softmax CE, fused logits) through train::fit.
/// parameter_efficient freezes encoder, decoder and positions (SPEC 4).
template <class T, class... Callbacks>
train::TrainResult finetune(MISSRecType<T>& model, int k, const data::Split& split, const train::TrainerConfig& cfg,
                            bool parameter_efficient, Callbacks&... callbacks) {
  train::LocalSync one_process;
  return finetune_synced(model, k, split, cfg, parameter_efficient, one_process, callbacks...);
}

struct PretrainConfig {
  int epochs = 10;
  index_t batch_size = 1024;
  double lr = 1e-3;
  double lambda = 1e-3;   ///< weight of the sequence-sequence InfoNCE
  double gamma = 1e-4;    ///< weight of the interest diversity regulariser
  double keep = 0.8;      ///< item-drop keep probability of the augmented view
  double clip_norm = 0.0;
  std::uint64_t seed = 1;
  template <class V>
  void visit(V&& v) {
    v("epochs", epochs, "pre-training epochs");
    v("batch_size", batch_size, "sequences per batch (in-batch negatives)");
    v("lr", lr, "Adam learning rate");
    v("lambda", lambda, "weight of the sequence-sequence InfoNCE");
    v("gamma", gamma, "weight of the interest diversity regulariser");
    v("keep", keep, "item-drop keep probability of the augmented view");
    v("clip_norm", clip_norm, "global gradient-norm clipping (0 = off)", "--clip");
    v("seed", seed, "random seed");
  }
  void validate() const {
    check_range("epochs", epochs, 1, 1000000);
    check_range<index_t>("batch_size", batch_size, 2, 1 << 20);
    check_range("lr", lr, 1e-12, 10.0);
    check_range("lambda", lambda, 0.0, 1e6);
    check_range("gamma", gamma, 0.0, 1e6);
    if (!(keep > 0.0 && keep <= 1.0)) throw ConfigError("keep = " + std::to_string(keep) + " is out of range (0, 1]");
    check_range("clip_norm", clip_norm, 0.0, 1e9);
  }
};

struct PretrainEpoch {
  int epoch = 0;
  double loss = 0, seq_item = 0, seq_seq = 0, diversity = 0;  ///< means over batches
  double seconds = 0, sequences_per_s = 0, kmeans_seconds = 0;
};

/// Pre-trains on the training sequences of `splits` (split i is model domain
/// domains[i]); one sample per sequence (its last training item). Each epoch:
/// interest discovery per domain, then every domain's batches in a seeded
/// interleaved order, through the library's joint training loop
/// (train/joint_training.hpp). `on_epoch(const PretrainEpoch&)` is called after
/// each epoch and may return true to stop there.
template <class T, class OnEpoch>
std::vector<PretrainEpoch> pretrain(MISSRecType<T>& model, const std::vector<const data::Split*>& splits,
                                    const std::vector<int>& domains, const PretrainConfig& cfg, OnEpoch&& on_epoch) {
  using Clock = std::chrono::steady_clock;
  cfg.validate();
  if (splits.empty() || splits.size() != domains.size())
    throw ConfigError("pretrain: " + std::to_string(splits.size()) + " splits for " + std::to_string(domains.size()) +
                      " domains (need the same number, at least one)");
  std::vector<data::BatchIterator> its;
  std::vector<train::BatchInputs> inputs;
  for (std::size_t i = 0; i < splits.size(); ++i) {
    if (splits[i]->n_items != model.domain(domains[i]).n_items)
      throw ConfigError("pretrain: split '" + splits[i]->name + "' has " + std::to_string(splits[i]->n_items) +
                        " items, model domain '" + model.domain(domains[i]).name + "' has " +
                        std::to_string(model.domain(domains[i]).n_items));
    its.emplace_back(*splits[i], train::batch_options(model, cfg.batch_size, cfg.seed + i));
    inputs.emplace_back(*splits[i], LossKind::ce, cfg.seed + 17 + i);
  }
  model.set_parameter_efficient(false);
  optim::Adam<T> adam(model.parameters().all(), optim::AdamConfig{.lr = cfg.lr});
  Tape<T> tape(cfg.seed + 31);
  Rng order_rng(cfg.seed + 5);
  std::vector<PretrainEpoch> history;
  PretrainEpoch rec;
  Clock::time_point t0;
  index_t seqs = 0;
  auto begin_epoch = [&](int epoch) {
    rec = PretrainEpoch{};
    rec.epoch = epoch;
    seqs = 0;
    const auto k0 = Clock::now();
    for (std::size_t i = 0; i < its.size(); ++i)
      model.discover_interests(domains[i], cfg.seed * 1000003ULL + static_cast<std::uint64_t>(epoch * 31 + static_cast<int>(i)));
    rec.kmeans_seconds = std::chrono::duration<double>(Clock::now() - k0).count();
    std::vector<index_t> batches;
    for (auto& it : its) {
      it.start_epoch(static_cast<std::uint64_t>(epoch));
      batches.push_back(it.batches_per_epoch());
    }
    std::vector<int> order = train::shuffled_order(batches, order_rng);
    t0 = Clock::now();
    return order;
  };
  auto step_loss = [&](Tape<T>& t, int i) -> Var<T> {
    auto& it = its[static_cast<std::size_t>(i)];
    if (!it.next()) return {};
    const TrainInputs& in = inputs[static_cast<std::size_t>(i)].prepare(it.batch());
    PretrainTerms terms;
    Var<T> loss = model.pretrain_loss(t, domains[static_cast<std::size_t>(i)], in, cfg.lambda, cfg.gamma, cfg.keep, &terms);
    rec.seq_item += terms.seq_item;
    rec.seq_seq += terms.seq_seq;
    rec.diversity += terms.diversity;
    seqs += in.seq.batch;
    return loss;
  };
  train::train_jointly(model, adam, tape, cfg.epochs, cfg.clip_norm, begin_epoch, step_loss, [&](int, double mean) {
    double nb = 0;
    for (auto& it : its) nb += static_cast<double>(it.batches_per_epoch());
    nb = std::max(nb, 1.0);
    rec.loss = mean;
    rec.seq_item /= nb;
    rec.seq_seq /= nb;
    rec.diversity /= nb;
    rec.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rec.sequences_per_s = static_cast<double>(seqs) / std::max(rec.seconds, 1e-9);
    history.push_back(rec);
    return train::call_for_stop(on_epoch, rec);
  });
  return history;
}

/// What load_missrec_pretrained carried over.
struct CarryReport {
  std::vector<std::string> loaded, skipped;  ///< parameter names (skipped: kept as initialised, with the reason)
};

namespace detail {
/// Why the checkpoint tensor named like p cannot fill p ("" = it can).
template <class T>
std::string carry_mismatch(const Checkpoint& ck, const Parameter<T>& p) {
  const CheckpointEntry* e = ck.find(p.name);
  if (!e) return p.name + " absent";
  bool same = static_cast<int>(e->shape.size()) == p.value.rank();
  for (int i = 0; same && i < p.value.rank(); ++i) same = e->shape[static_cast<std::size_t>(i)] == p.value.dim(i);
  return same ? std::string() : p.name + " shape " + e->shape_str() + " != " + p.value.shape().str();
}
}  // namespace detail

/// Loads the shared parts of a pre-trained MISSRec checkpoint: encoder,
/// decoder, positions, input LayerNorm and beta are required (a shape
/// mismatch or absence is a CheckpointError naming the tensor); each adaptor
/// ("adaptor<m>.*", linear or mixture of whitening experts) carries over as a
/// unit when the checkpoint has every one of its tensors with the same shape
/// (same kind, feature width and expert count), else it is kept fresh and
/// reported. Item-specific tables ("items.*": ID embeddings, interests) are
/// never loaded: the item sets differ. With carry_adaptors = false every
/// adaptor stays as initialised (reported as skipped): the target keeps the
/// random projection of its features, which preserves their similarities,
/// while encoder and decoder come from the source.
template <class T>
CarryReport load_missrec_pretrained(MISSRecType<T>& model, const Checkpoint& ck, bool carry_adaptors = true) {
  CarryReport rep;
  std::vector<Parameter<T>*> params;
  for (auto* p : model.parameters().all()) {
    if (p->name.rfind("items.", 0) == 0) continue;
    if (p->name.rfind("adaptor", 0) == 0) {
      if (!carry_adaptors) {
        rep.skipped.push_back(p->name + " (fresh adaptors requested)");
        continue;
      }
      // The first tensor of the unit that does not fit decides for all of it.
      const std::string unit = p->name.substr(0, p->name.find('.') + 1);
      std::string why;
      for (auto* q : model.parameters().with_prefix(unit))
        if (why.empty()) why = detail::carry_mismatch(ck, *q);
      if (!why.empty()) {
        rep.skipped.push_back(p->name + " (" + (why == p->name + " absent" ? std::string("absent") : why) + ")");
        continue;
      }
    }
    params.push_back(p);
    rep.loaded.push_back(p->name);
  }
  restore_parameters(ck, params, /*strict=*/false);
  return rep;
}

}  // namespace metarec::multimodal
