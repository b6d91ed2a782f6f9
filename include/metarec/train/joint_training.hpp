#pragma once
/// @file joint_training.hpp
/// The one loop that trains a model on several domains at once: joint
/// multi-source pre-training (meta::JointPretrain) and MISSRec's multi-domain
/// pre-training (multimodal::pretrain) both run through it and differ only in
/// their batch order, their loss and their per-epoch work.
///
/// Each epoch asks `begin_epoch(epoch)` for the order of the epoch's steps (a
/// domain slot per step; see round_robin_order and shuffled_order); each step
/// resets the tape, zeroes the gradients, takes `step_loss(tape, slot)` (which
/// draws the slot's next batch and returns a scalar loss, or an invalid Var to
/// skip the step), checks that it is finite, back-propagates, clips the global
/// gradient norm (clip_norm > 0) and steps the optimizer. After the epoch,
/// `end_epoch(epoch, mean loss)` may return true to end training (as a fit()
/// callback's true does).
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/error.hpp"
#include "metarec/core/random.hpp"
#include "metarec/optim/clip.hpp"

namespace metarec::train {

/// Calls a callback; its bool result means "stop" (a callback returning void never stops).
template <class F, class... Args>
bool call_for_stop(F&& f, Args&&... args) {
  if constexpr (std::is_void_v<std::invoke_result_t<F, Args...>>) {
    f(std::forward<Args>(args)...);
    return false;
  } else {
    return static_cast<bool>(f(std::forward<Args>(args)...));
  }
}

/// Every domain in turn, `steps` times: steps x n_domains steps.
inline std::vector<int> round_robin_order(int n_domains, index_t steps) {
  std::vector<int> order;
  order.reserve(static_cast<std::size_t>(steps * n_domains));
  for (index_t s = 0; s < steps; ++s)
    for (int i = 0; i < n_domains; ++i) order.push_back(i);
  return order;
}

/// batches[i] steps of domain i, in a seeded random interleaving.
inline std::vector<int> shuffled_order(const std::vector<index_t>& batches, Rng& rng) {
  std::vector<int> order;
  for (std::size_t i = 0; i < batches.size(); ++i) order.insert(order.end(), static_cast<std::size_t>(batches[i]), static_cast<int>(i));
  rng.shuffle(order.begin(), order.end());
  return order;
}

/// Runs up to `epochs` epochs (see the file comment); returns the number run.
template <class Model, class Optimizer, class BeginEpoch, class StepLoss, class EndEpoch>
int train_jointly(Model& model, Optimizer& optimizer, tape_of<Model>& tape, int epochs, double clip_norm,
                  BeginEpoch&& begin_epoch, StepLoss&& step_loss, EndEpoch&& end_epoch) {
  using T = typename Model::Scalar;
  using B = backend_of<Model>;
  tape.set_training(true);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const std::vector<int> order = begin_epoch(epoch);
    double total = 0;
    index_t steps = 0;
    for (int slot : order) {
      tape.reset();
      model.parameters().zero_grad();
      Var<T, B> loss = step_loss(tape, slot);
      if (!loss.valid()) continue;
      const double lv = static_cast<double>(loss.item());
      if (!std::isfinite(lv))
        throw NumericError("joint training: loss is " + std::to_string(lv) + " at epoch " + std::to_string(epoch));
      tape.backward(loss);
      if (clip_norm > 0) optim::clip_grad_norm(model.parameters().all(), clip_norm);
      optimizer.step();
      total += lv;
      ++steps;
    }
    const double mean = order.empty() ? 0.0 : total / static_cast<double>(order.size());
    if (end_epoch(epoch, mean)) return epoch;
  }
  return epochs;
}

}  // namespace metarec::train
