#pragma once
/// @file common.hpp
/// Pieces shared by the meta-learners: configuration, endless batch streams,
/// per-iteration logs.
#include <cmath>
#include <string>
#include <vector>

#include "metarec/data/batching.hpp"
#include "metarec/optim/clip.hpp"
#include "metarec/train/batch_inputs.hpp"
#include "metarec/train/trainer.hpp"

namespace metarec::meta {

/// What every transfer run needs, whatever its meta-learner; each learner's own
/// rates and step counts are in its Config (InnerLoopConfig, FirstOrderConfig, ...).
struct MetaConfig {
  index_t batch_size = 256;    ///< source and target query batches
  int eval_every = 0;          ///< validate on the target every N meta iterations (0 = off)
  /// With eval_every > 0 (first-order learners): end the meta phase on the shared parameters and target
  /// table of the iteration with the best target validation (finetune.select_metric), the same model
  /// selection fine-tuning uses. The meta phase trains the target on every query batch, so without it
  /// fine-tuning starts from wherever the last iteration left the target (measured: README).
  bool keep_best = false;
  std::uint64_t seed = 1;
  train::TrainerConfig finetune;  ///< fine-tuning on the target (early stopping on its validation)

  void validate() const {
    check_range<index_t>("meta.batch_size", batch_size, 1, 1 << 20);
    check_range("meta.eval_every", eval_every, 0, 100000000);
    if (keep_best && eval_every == 0) throw ConfigError("meta.keep_best needs meta.eval_every > 0 (it selects on validation)");
    finetune.validate();
  }
};

/// The inner loop of the gradient-based meta-learners (SimilarityRescaled, FOMAML, Reptile):
/// per meta iteration, k_inner SGD steps on each source.
struct InnerLoopConfig {
  int iterations = 300;   ///< meta updates
  int inner_steps = 1;    ///< k_inner SGD steps per source task
  double inner_lr = 0.1;  ///< alpha, SGD on the source task

  template <class V>
  void visit(V&& v) {
    v("iterations", iterations, "meta updates", "--meta-iterations");
    v("inner_steps", inner_steps, "k_inner SGD steps per source");
    v("inner_lr", inner_lr, "inner SGD learning rate alpha");
  }
  void validate() const {
    check_range("meta.iterations", iterations, 0, 100000000);
    check_range("meta.inner_steps", inner_steps, 1, 10000);
    check_range("meta.inner_lr", inner_lr, 0.0, 100.0);
  }
};

/// One meta iteration as logged: per-source similarity and weight.
struct IterationLog {
  int iteration = 0;
  std::vector<double> similarity;  ///< s_i = cos(g_i, G_i), averaged over parameter tensors
  std::vector<double> weight;      ///< w_i
  double query_loss = 0;           ///< mean target query loss over the sources
};

struct TransferResult {
  std::string method;
  std::vector<std::string> sources;
  std::string target;
  double target_fraction = 1;
  double pretrain_seconds = 0;          ///< meta / joint phase
  std::vector<IterationLog> iterations;  ///< meta phase log
  std::vector<std::pair<int, eval::Metrics>> meta_valid;  ///< target validation during the meta phase
  int meta_best_iteration = 0;          ///< with keep_best: the iteration whose parameters fine-tuning starts from
  train::TrainResult finetune;          ///< fine-tuning with early stopping; its `test` is the headline number
};

/// Mini-batches forever: a BatchIterator that starts the next epoch when one ends.
class BatchStream {
 public:
  template <class Model>
  BatchStream(const Model& model, const data::Split& split, index_t batch_size, std::uint64_t seed)
      : it_(split, train::batch_options(model, batch_size, seed)), inputs_(split, LossKind::ce, seed + 5) {
    if (it_.n_users() == 0) throw ConfigError("domain '" + split.name + "' has no user with training data");
  }
  const TrainInputs& next() {
    if (!it_.next()) {
      it_.start_epoch(++epoch_);
      it_.next();
    }
    return inputs_.prepare(it_.batch());
  }
  std::uint64_t epoch() const { return epoch_; }
  index_t batches_per_epoch() const { return it_.batches_per_epoch(); }

 private:
  data::BatchIterator it_;
  train::BatchInputs inputs_;
  std::uint64_t epoch_ = 0;
};

/// Cosine similarity of two equally long vectors (0 when either is zero).
template <class T, class B = backend::Cpu>
double cosine(const T* a, const T* b, index_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (index_t i = 0; i < n; ++i) {
    ab += double(a[i]) * double(b[i]);
    aa += double(a[i]) * double(a[i]);
    bb += double(b[i]) * double(b[i]);
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

/// Cosine similarity of two tensors in backend B's memory (0 when either is
/// zero): on the host the loop above; on a device one block reduction
/// (memory<B>::dot3), one scalar triple copied back.
template <class T, class B>
double cosine_of(const TensorOf<T, B>& a, const TensorOf<T, B>& b) {
  if constexpr (B::is_host) {
    return cosine(a.data(), b.data(), a.size());
  } else {
    double s[3];
    memory<B>::dot3(a, b, s);
    return s[1] > 0 && s[2] > 0 ? s[0] / std::sqrt(s[1] * s[2]) : 0.0;
  }
}

/// Global-norm clipping of the meta-gradient: optim::clip_grad_norm on the
/// host; on a device the same coefficient max_norm / (norm + 1e-6), with the
/// squared norm summed in double per tensor on the device (optim/ has no
/// device clipping yet).
template <class T, class B>
void clip_meta_gradient(const std::vector<Parameter<T, B>*>& params, double max_norm) {
  if constexpr (B::is_host) {
    optim::clip_grad_norm(params, max_norm);
  } else {
    double sq = 0;
    for (const Parameter<T, B>* p : params)
      if (p && optim::detail::has_gradient(*p)) {
        double s[3];
        memory<B>::dot3(p->grad, p->grad, s);
        sq += s[0];
      }
    const double norm = std::sqrt(sq);
    if (!std::isfinite(norm)) throw NumericError("meta-gradient norm is not finite (" + std::to_string(norm) + ")");
    if (norm <= max_norm) return;
    const T coef = static_cast<T>(max_norm / (norm + 1e-6));
    for (Parameter<T, B>* p : params)
      if (p && optim::detail::has_gradient(*p)) memory<B>::scale(p->grad, static_cast<double>(coef));
  }
}

/// softmax(s / T).
inline std::vector<double> softmax_weights(const std::vector<double>& s, double temperature) {
  std::vector<double> w(s.size());
  double mx = -1e300, total = 0;
  for (double x : s) mx = std::max(mx, x / temperature);
  for (std::size_t i = 0; i < s.size(); ++i) total += (w[i] = std::exp(s[i] / temperature - mx));
  for (double& x : w) x /= total;
  return w;
}

}  // namespace metarec::meta
