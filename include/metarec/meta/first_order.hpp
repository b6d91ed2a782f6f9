#pragma once
/// @file first_order.hpp
/// First-order meta-learning with per-source weights (SPEC section 3.2):
/// the loop shared by MetaRec's similarity rescaling and FO-MAML's uniform
/// weights. Per meta iteration, for each source i: k_inner SGD steps from
/// theta on a source batch give phi_i and the source direction
/// g_i = theta - phi_i; the target query loss at phi_i gives G_i; then
/// theta <- theta - Adam(sum_i w_i G_i) after global-norm clipping, with
/// w = weighting(s), s_i = cos(g_i, G_i) averaged over parameter tensors.
/// With FirstOrderConfig::source_weight = lambda > 0, G_i of the shared parameters
/// also takes lambda * g_i / (alpha * k_inner) after s_i is measured.
/// The target item table takes the same weighted query gradient; source item
/// tables (domain-specific, not meta-learned) follow their own inner-loop
/// gradients with Adam. With MetaConfig::keep_best the phase ends on the
/// validated iteration with the best target score.
///
/// Over several processes (TransferTask::sync, source_sync.hpp) each computes
/// its own sources' inner loops and query gradients; the blocks are gathered
/// and combined in source order on every process, as here in one.
///
/// On backend::Cuda the query gradients G_i stay in device memory (one copy
/// of the meta parameters per source) and every parameter operation
/// (theta - phi_i, the weighted sum, clipping) runs on the device; per source
/// and iteration only the similarity's dot products (three doubles per
/// tensor) and the query loss come back. One process only on a device.
#include <algorithm>
#include <chrono>

#include "metarec/meta/transfer_task.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/optim/clip.hpp"

namespace metarec::meta {

/// Settings of the first-order meta-update (SimilarityRescaled, FOMAML).
struct FirstOrderConfig : InnerLoopConfig {
  double meta_lr = 1e-3;    ///< beta_meta, Adam on the weighted query gradient
  double clip_norm = 1.0;   ///< global norm clipping of the meta-gradient
  /// lambda: the first-order meta-gradient of source i becomes G_i + lambda * g_i / (alpha * k_inner),
  /// i.e. the source's own mean inner-loop gradient joins its target query gradient under the same
  /// weight w_i. 0 is SPEC 3.2 exactly; with 0 the sources reach theta only through the point
  /// phi_i where G_i is taken (a second-order effect), which barely moves theta (measured: README).
  double source_weight = 0.0;

  template <class V>
  void visit(V&& v) {
    InnerLoopConfig::visit(v);
    v("meta_lr", meta_lr, "meta Adam learning rate");
    v("clip_norm", clip_norm, "global norm clipping of the meta-gradient", "--meta-clip");
    v("source_weight", source_weight,
      "lambda: add lambda x source i's mean inner gradient to its meta-gradient (0 = SPEC 3.2)");
  }
  void validate() const {
    InnerLoopConfig::validate();
    check_range("meta.meta_lr", meta_lr, 0.0, 100.0);
    check_range("meta.clip_norm", clip_norm, 0.0, 1e9);
    check_range("meta.source_weight", source_weight, 0.0, 1e6);
    if (source_weight > 0 && !(inner_lr > 0))
      throw ConfigError("meta.source_weight > 0 needs meta.inner_lr > 0 (the source gradient is (theta - phi) / inner_lr)");
  }
};

/// `weighting(similarities)` -> per-source weights summing to 1.
template <class Model, class Weighting>
void first_order_meta(TransferTask<Model>& task, const FirstOrderConfig& fo, TransferResult& res, Weighting&& weighting) {
  using T = typename Model::Scalar;
  using B = backend_of<Model>;
  Model& model = task.model;
  const MetaConfig& cfg = task.config;
  const auto shared = model.shared_parameters();
  const auto target_tables = model.domain_parameters(task.target);
  std::vector<Parameter<T, B>*> meta_params = shared;
  meta_params.insert(meta_params.end(), target_tables.begin(), target_tables.end());
  optim::Adam<T, B> meta_opt(meta_params, optim::AdamConfig{.lr = fo.meta_lr});
  SourceTasks<Model> sources(task, fo);
  SourceSync& sync = task.source_sync();
  BatchStream target_stream(model, *task.target_split, cfg.batch_size, cfg.seed + 7);
  Tape<T, B> tape(cfg.seed + 13), eval_tape(cfg.seed + 17);
  ParameterSnapshot<T, B> theta, best;  // best: meta parameters at the best validated iteration (keep_best)
  double best_score = 0;
  const std::size_t S = task.sources.size();
  // lambda / (alpha * k): turns the inner-loop displacement theta - phi_i into lambda * mean source gradient.
  const T source_scale =
      fo.source_weight > 0 ? static_cast<T>(fo.source_weight / (fo.inner_lr * fo.inner_steps)) : T(0);
  // G: query gradients of the meta parameters at phi_i, one block of n_meta values per source
  // (parameter p at offset[p]); stats: (s_i, query loss at phi_i) per source. Gathered over processes.
  std::vector<std::size_t> offset;
  std::size_t n_meta = 0;
  for (auto* p : meta_params) offset.push_back(n_meta), n_meta += static_cast<std::size_t>(p->value.size());
  std::vector<T> G(B::is_host ? S * n_meta : 0);
  std::vector<double> stats(2 * S);
  // Device: G_i per source and meta parameter in B's memory, and theta - phi_i of one tensor.
  std::vector<std::vector<TensorOf<T, B>>> Gd;
  TensorOf<T, B> dir_d;
  if constexpr (!B::is_host) {
    if (sync.size() > 1)
      throw ConfigError("per-source meta-training over processes has no device path yet (backend::Cuda)");
    Gd.resize(S);
    for (auto& gi : Gd)
      for (auto* p : meta_params) gi.push_back(memory<B>::template zeros<T>(p->value.shape()));
  }

  for (int it = 1; it <= fo.iterations; ++it) {
    IterationLog log;
    log.iteration = it;
    theta.take(shared);
    const TrainInputs& query = target_stream.next();
    bool first = true;
    for (std::size_t i = 0; i < S; ++i) {
      if (!sync.owns(i)) continue;
      if (!first) theta.restore(shared);
      first = false;
      tape.rng().reseed(source_stream_seed(cfg.seed + 13, it, i));
      sources.adapt(i, tape);
      tape.reset();
      model.parameters().zero_grad();
      Var<T, B> q = model.loss(tape, task.target, query);
      stats[2 * i + 1] = static_cast<double>(q.item());
      tape.backward(q);
      if constexpr (!B::is_host) {
        double sim = 0;
        int counted = 0;
        for (std::size_t p = 0; p < meta_params.size(); ++p) memory<B>::copy(meta_params[p]->grad, Gd[i][p]);
        for (std::size_t p = 0; p < shared.size(); ++p) {  // shared parameters come first in meta_params
          if (!shared[p]->trainable) continue;
          if (dir_d.empty() || dir_d.size() < shared[p]->value.size())
            dir_d = memory<B>::template zeros<T>(Shape{shared[p]->value.size()});
          const TensorOf<T, B> dir = dir_d.slice(0, shared[p]->value.size()).reshape(shared[p]->value.shape());
          memory<B>::copy(theta[p], dir);
          memory<B>::axpy(-1.0, shared[p]->value, dir);  // theta - phi_i
          sim += cosine_of<T, B>(dir, Gd[i][p]);
          ++counted;
          if (source_scale != 0) memory<B>::axpy(static_cast<double>(source_scale), dir, Gd[i][p]);
        }
        stats[2 * i] = counted ? sim / counted : 0.0;
      } else {
      T* Gi = G.data() + i * n_meta;
      for (std::size_t p = 0; p < meta_params.size(); ++p)
        std::copy_n(meta_params[p]->grad.data(), meta_params[p]->grad.size(), Gi + offset[p]);
      // s_i: cosine of the source direction theta - phi_i and the query gradient, per tensor, averaged.
      double sim = 0;
      int counted = 0;
      for (std::size_t p = 0; p < shared.size(); ++p) {  // shared parameters come first in meta_params
        if (!shared[p]->trainable) continue;
        const index_t n = shared[p]->value.size();
        thread_local std::vector<T> dir;
        dir.resize(static_cast<std::size_t>(n));
        for (index_t e = 0; e < n; ++e) dir[static_cast<std::size_t>(e)] = theta[p][e] - shared[p]->value[e];
        T* gp = Gi + offset[p];
        double c = cosine(dir.data(), gp, n);
        sim += c;
        ++counted;
        if (source_scale != 0)
          for (index_t e = 0; e < n; ++e) gp[e] += source_scale * dir[static_cast<std::size_t>(e)];
      }
      stats[2 * i] = counted ? sim / counted : 0.0;
      }
    }
    if constexpr (B::is_host) {
      sync.gather(G.data(), n_meta, S);
      sync.gather(stats.data(), 2, S);
    }
    for (std::size_t i = 0; i < S; ++i) {
      log.query_loss += stats[2 * i + 1] / static_cast<double>(S);
      log.similarity.push_back(stats[2 * i]);
    }
    theta.restore(shared);
    log.weight = weighting(log.similarity);
    model.parameters().zero_grad();
    for (std::size_t p = 0; p < meta_params.size(); ++p) {
      if constexpr (!B::is_host) {
        for (std::size_t i = 0; i < S; ++i)  // source order, as on the host
          memory<B>::axpy(static_cast<double>(static_cast<T>(log.weight[i])), Gd[i][p], meta_params[p]->grad);
      } else {
      T* g = meta_params[p]->grad.data();
      const index_t n = meta_params[p]->grad.size();
      for (std::size_t i = 0; i < S; ++i) {  // source order, on every process
        const T w = static_cast<T>(log.weight[i]);
        const T* gi = G.data() + i * n_meta + offset[p];
        for (index_t e = 0; e < n; ++e) g[e] += w * gi[e];
      }
      }
      meta_params[p]->dense_grad = true;
    }
    if (fo.clip_norm > 0) clip_meta_gradient(meta_params, fo.clip_norm);
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
  if constexpr (B::is_host)
    for (std::size_t i = 0; i < S; ++i) sync.share(i, sources.tables(i));  // each trained by its owner only
}

/// MetaRec: w = softmax(s / T) — sources whose descent also descends the
/// target get more of the meta-gradient (Yue et al. 2024).
struct SimilarityRescaled {
  static constexpr const char* name = "rescaled";
  struct Config : FirstOrderConfig {
    double temperature = 0.1;  ///< T in softmax(s / T)
    template <class V>
    void visit(V&& v) {
      FirstOrderConfig::visit(v);
      v("temperature", temperature, "T in softmax(s / T)");
    }
    void validate() const {
      FirstOrderConfig::validate();
      if (!(temperature > 0)) throw ConfigError("meta.temperature = " + std::to_string(temperature) + " must be > 0");
    }
  };
  template <class Model>
  static void pretrain(TransferTask<Model>& task, const Config& c, TransferResult& res) {
    first_order_meta(task, c, res, [&](const std::vector<double>& s) { return softmax_weights(s, c.temperature); });
  }
};

/// First-order MAML (Finn et al. 2017; Nichol et al. 2018): uniform weights.
struct FOMAML {
  static constexpr const char* name = "fomaml";
  using Config = FirstOrderConfig;
  template <class Model>
  static void pretrain(TransferTask<Model>& task, const Config& c, TransferResult& res) {
    first_order_meta(task, c, res, [](const std::vector<double>& s) {
      return std::vector<double>(s.size(), 1.0 / static_cast<double>(s.size()));
    });
  }
};

}  // namespace metarec::meta
