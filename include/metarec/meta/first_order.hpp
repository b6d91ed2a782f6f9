#pragma once
/// @file first_order.hpp
/// First-order meta-learning with per-source weights (SPEC section 3.2):
/// the loop shared by MetaRec's similarity rescaling and FO-MAML's uniform
/// weights. Per meta iteration, for each source i: k_inner SGD steps from
/// theta on a source batch give phi_i and the source direction
/// g_i = theta - phi_i; the target query loss at phi_i gives G_i; then
/// theta <- theta - Adam(sum_i w_i G_i) after global-norm clipping, with
/// w = weighting(s), s_i = cos(g_i, G_i) averaged over parameter tensors.
/// With MetaConfig::source_weight = lambda > 0, G_i of the shared parameters
/// also takes lambda * g_i / (alpha * k_inner) after s_i is measured.
/// The target item table takes the same weighted query gradient; source item
/// tables (domain-specific, not meta-learned) follow their own inner-loop
/// gradients with Adam. With MetaConfig::keep_best the phase ends on the
/// validated iteration with the best target score.
#include <chrono>

#include "metarec/meta/transfer_task.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/optim/clip.hpp"

namespace metarec::meta {

template <class Model, class Weighting>
void first_order_meta(TransferTask<Model>& task, TransferResult& res, Weighting&& weighting) {
  using T = typename Model::Scalar;
  Model& model = task.model;
  const MetaConfig& cfg = task.config;
  const auto shared = model.shared_parameters();
  const auto target_tables = model.domain_parameters(task.target);
  std::vector<Parameter<T>*> meta_params = shared;
  meta_params.insert(meta_params.end(), target_tables.begin(), target_tables.end());
  optim::Adam<T> meta_opt(meta_params, optim::AdamConfig{.lr = cfg.meta_lr});
  SourceTasks<Model> sources(task);
  BatchStream target_stream(model, *task.target_split, cfg.batch_size, cfg.seed + 7);
  Tape<T> tape(cfg.seed + 13), eval_tape(cfg.seed + 17);
  ParameterSnapshot<T> theta, best;  // best: meta parameters at the best validated iteration (keep_best)
  double best_score = 0;
  const std::size_t S = task.sources.size();
  // lambda / (alpha * k): turns the inner-loop displacement theta - phi_i into lambda * mean source gradient.
  const T source_scale =
      cfg.source_weight > 0 ? static_cast<T>(cfg.source_weight / (cfg.inner_lr * cfg.inner_steps)) : T(0);
  // G[i][p]: query gradient of meta parameter p at phi_i.
  std::vector<std::vector<Tensor<T>>> G(S);
  for (auto& g : G)
    for (auto* p : meta_params) g.emplace_back(p->value.shape());

  for (int it = 1; it <= cfg.iterations; ++it) {
    IterationLog log;
    log.iteration = it;
    theta.take(shared);
    const TrainInputs& query = target_stream.next();
    for (std::size_t i = 0; i < S; ++i) {
      if (i > 0) theta.restore(shared);
      sources.adapt(i, tape);
      tape.reset();
      model.parameters().zero_grad();
      Var<T> q = model.loss(tape, task.target, query);
      log.query_loss += static_cast<double>(q.value()[0]) / static_cast<double>(S);
      tape.backward(q);
      for (std::size_t p = 0; p < meta_params.size(); ++p) G[i][p].copy_from(meta_params[p]->grad);
      // s_i: cosine of the source direction theta - phi_i and the query gradient, per tensor, averaged.
      double sim = 0;
      int counted = 0;
      for (std::size_t p = 0; p < shared.size(); ++p) {
        if (!shared[p]->trainable) continue;
        const index_t n = shared[p]->value.size();
        thread_local std::vector<T> dir;
        dir.resize(static_cast<std::size_t>(n));
        for (index_t e = 0; e < n; ++e) dir[static_cast<std::size_t>(e)] = theta[p][e] - shared[p]->value[e];
        double c = cosine(dir.data(), G[i][p].data(), n);
        sim += c;
        ++counted;
        if (source_scale != 0) {
          T* gp = G[i][p].data();
          for (index_t e = 0; e < n; ++e) gp[e] += source_scale * dir[static_cast<std::size_t>(e)];
        }
      }
      log.similarity.push_back(counted ? sim / counted : 0.0);
    }
    theta.restore(shared);
    log.weight = weighting(log.similarity, cfg.temperature);
    model.parameters().zero_grad();
    for (std::size_t p = 0; p < meta_params.size(); ++p) {
      T* g = meta_params[p]->grad.data();
      const index_t n = meta_params[p]->grad.size();
      for (std::size_t i = 0; i < S; ++i) {
        const T w = static_cast<T>(log.weight[i]);
        const T* gi = G[i][p].data();
        for (index_t e = 0; e < n; ++e) g[e] += w * gi[e];
      }
      meta_params[p]->dense_grad = true;
    }
    if (cfg.clip_norm > 0) optim::clip_grad_norm(meta_params, cfg.clip_norm);
    meta_opt.step();
    res.iterations.push_back(std::move(log));
    if (cfg.eval_every > 0 && it % cfg.eval_every == 0) {
      res.meta_valid.emplace_back(it, task.validate(eval_tape));
      const double score = res.meta_valid.back().second[cfg.finetune.select_metric];
      if (cfg.keep_best && (res.meta_best_iteration == 0 || score > best_score)) {
        best_score = score;
        res.meta_best_iteration = it;
        best.take(meta_params);
      }
    }
    if (task.report(res.iterations.back())) break;
  }
  if (res.meta_best_iteration > 0) best.restore(meta_params);
}

/// MetaRec: w = softmax(s / T) — sources whose descent also descends the
/// target get more of the meta-gradient (Yue et al. 2024).
struct SimilarityRescaled {
  static constexpr const char* name = "rescaled";
  template <class Model>
  static void pretrain(TransferTask<Model>& task, TransferResult& res) {
    first_order_meta(task, res, [](const std::vector<double>& s, double t) { return softmax_weights(s, t); });
  }
};

/// First-order MAML (Finn et al. 2017; Nichol et al. 2018): uniform weights.
struct FOMAML {
  static constexpr const char* name = "fomaml";
  template <class Model>
  static void pretrain(TransferTask<Model>& task, TransferResult& res) {
    first_order_meta(task, res, [](const std::vector<double>& s, double) {
      return std::vector<double>(s.size(), 1.0 / static_cast<double>(s.size()));
    });
  }
};

}  // namespace metarec::meta
