#pragma once
/// @file batch_inputs.hpp
/// Turns a data::SequenceBatch (padded to max_len) into the model's
/// TrainInputs: trimmed to the longest real sequence of the batch (left
/// padding: the last columns), with sampled negatives: one per position for
/// BCE / BPR (outside the user's history), or K per batch (or per sequence),
/// shared by all its positions, for sampled softmax / gBCE (drawn from Q with
/// replacement; the loss masks a draw equal to a position's target).
/// Trimming changes nothing for real positions (pads are masked keys and
/// positions are counted from the right) and saves most of the backbone's work
/// on short-sequence data (Beauty: ~80% of a max_len-50 batch is padding).
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "metarec/data/batching.hpp"
#include "metarec/data/item_sampler.hpp"
#include "metarec/model/contract.hpp"

namespace metarec::train {

/// Batch options matching a model's objective and max_len.
template <class Model>
data::BatchOptions batch_options(const Model& model, index_t batch_size, std::uint64_t seed) {
  data::BatchOptions o;
  o.batch_size = batch_size;
  o.max_len = model.config().max_len;
  o.padding = data::Padding::left;
  o.objective = Model::objective == Objective::cloze ? data::Objective::cloze : data::Objective::next_item;
  if constexpr (Model::objective == Objective::cloze) o.mask_prob = model.mask_prob();
  o.seed = seed;
  return o;
}

/// The negatives shared by a batch's positions (sampled_softmax / gbce).
struct SharedSampling {
  index_t count = 256;  ///< K draws per batch, or per sequence
  NegativeScope scope = NegativeScope::batch;
  data::Sampling sampling = data::Sampling::uniform;
  double gbce_t = 0.75;
  bool logq = true;  ///< pass log(K Q(j)) to the loss (sampled_softmax's correction)
};

class BatchInputs {
 public:
  BatchInputs(const data::Split& split, LossKind loss, std::uint64_t seed, const SharedSampling& shared = {})
      : loss_(loss), shared_(shared), rng_(seed) {
    if (loss == LossKind::bce || loss == LossKind::bpr) sampler_.emplace(split.train, split.n_items, seed);
    if (uses_shared_negatives(loss)) {
      const data::ItemSampler q(shared.sampling, data::item_counts(split.train, split.n_items));
      draw_ = q;
      // log(K Q(j)) per item, so a batch only looks its draws up.
      log_kq_.resize(static_cast<std::size_t>(split.n_items + 1));
      for (index_t j = 1; j <= split.n_items; ++j)
        log_kq_[static_cast<std::size_t>(j)] = std::log(static_cast<double>(shared.count) * q.probability(static_cast<std::int32_t>(j)));
    }
  }

  /// Restarts every random draw as if constructed with `seed` (fit_synced calls it at each epoch's start).
  void reseed(std::uint64_t seed) {
    rng_.reseed(seed);
    if (sampler_) sampler_->reseed(seed);
  }

  /// Valid until the next call.
  const TrainInputs& prepare(const data::SequenceBatch& b) {
    index_t first = b.length;  // first column holding a real item in any row
    for (index_t r = 0; r < b.batch; ++r) {
      const std::uint8_t* m = b.mask.data() + r * b.length;
      for (index_t t = 0; t < first; ++t)
        if (m[t]) {
          first = t;
          break;
        }
    }
    const index_t L = std::max<index_t>(b.length - first, 1);
    const index_t off = b.length - L;
    const auto n = static_cast<std::size_t>(b.batch * L);
    items_.resize(n);
    targets_.resize(n);
    mask_.resize(n);
    for (index_t r = 0; r < b.batch; ++r) {
      const auto src = static_cast<std::size_t>(r * b.length + off), dst = static_cast<std::size_t>(r * L);
      std::copy_n(b.items.begin() + static_cast<std::ptrdiff_t>(src), L, items_.begin() + static_cast<std::ptrdiff_t>(dst));
      std::copy_n(b.targets.begin() + static_cast<std::ptrdiff_t>(src), L, targets_.begin() + static_cast<std::ptrdiff_t>(dst));
      std::copy_n(b.mask.begin() + static_cast<std::ptrdiff_t>(src), L, mask_.begin() + static_cast<std::ptrdiff_t>(dst));
    }
    in_ = TrainInputs{SequenceView{b.batch, L, items_.data(), mask_.data()}, targets_.data(), nullptr};
    if (sampler_) {
      negatives_.assign(n, 0);
      for (index_t r = 0; r < b.batch; ++r)
        for (index_t t = 0; t < L; ++t) {
          const auto i = static_cast<std::size_t>(r * L + t);
          if (targets_[i] > 0) negatives_[i] = sampler_->sample(b.user[static_cast<std::size_t>(r)]);
        }
      in_.negatives = negatives_.data();
    }
    if (draw_) {
      const index_t draws = shared_.count * (shared_.scope == NegativeScope::sequence ? b.batch : 1);
      negatives_.resize(static_cast<std::size_t>(draws));
      log_q_.resize(negatives_.size());
      for (std::size_t j = 0; j < negatives_.size(); ++j) {
        negatives_[j] = draw_->draw(rng_);
        log_q_[j] = log_kq_[static_cast<std::size_t>(negatives_[j])];
      }
      in_.shared_negatives = negatives_.data();
      in_.n_shared = shared_.count;
      in_.shared_scope = shared_.scope;
      in_.log_q = shared_.logq ? log_q_.data() : nullptr;
      in_.gbce_t = shared_.gbce_t;
    }
    return in_;
  }

 private:
  LossKind loss_;
  SharedSampling shared_;
  Rng rng_;  // shared draws
  std::optional<data::NegativeSampler> sampler_;
  std::optional<data::ItemSampler> draw_;
  std::vector<double> log_kq_, log_q_;
  std::vector<std::int32_t> items_, targets_, negatives_;
  std::vector<std::uint8_t> mask_;
  TrainInputs in_;
};

}  // namespace metarec::train
