#pragma once
/// @file missrec.hpp
/// MISSRec: "Pre-training and Transferring Multi-modal Interest-aware Sequence
/// Representation for Recommendation" (Wang et al., ACM MM 2023, arXiv
/// 2308.11175), as in the authors' code (gimpong/MM23-MISSRec); SPEC section 4.
///
/// Item tokens: frozen per-modality features, each through its own adaptor
/// (linear f_m -> d, or a mixture of whitening experts with
/// MissrecConfig::adaptor = moe; shared by all domains), missing modalities masked to
/// zero, summed (+ an ID embedding in transductive mode) + learned positions
/// counted from the sequence start, LayerNorm, dropout. Interests: k-means
/// clusters of the adapted tokens (interests.hpp), refreshed per epoch; a
/// sample's de-duplicated interest tokens go through a Transformer encoder
/// (no positions, packed), then the interest-aware decoder (missrec_layers.hpp).
/// The sequence representation u is the decoder output at the last real
/// position, L2-normalised. Scores: s_m = <u, norm(A_m x_m)>, fused
/// s = sum_m softmax_m(beta s_m) s_m (beta learnable, init 0), transductive
/// (s_id + 2 s) / 3, logits s / temperature.
///
/// The class satisfies what train::fit needs (Scalar, objective, config(),
/// domain(k), parameters(), loss(), user_representations()); evaluation goes
/// through missrec_train.hpp's evaluate overload (fused scores).
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "metarec/autograd/ops/embedding.hpp"
#include "metarec/autograd/ops/info_nce.hpp"
#include "metarec/autograd/ops/linear.hpp"
#include "metarec/autograd/ops/normalization.hpp"
#include "metarec/autograd/ops/reduce.hpp"
#include "metarec/autograd/ops/tensor_ops.hpp"
#include "metarec/autograd/ops/fusion.hpp"
#include "metarec/model/concepts.hpp"
#include "metarec/model/contract.hpp"
#include "metarec/multimodal/fused_scorer.hpp"
#include "metarec/multimodal/interests.hpp"
#include "metarec/multimodal/missrec_config.hpp"
#include "metarec/multimodal/missrec_layers.hpp"
#include "metarec/nn/linear.hpp"
#include "metarec/nn/transformer.hpp"
#include "metarec/nn/whitening_experts.hpp"

namespace metarec::multimodal {

/// A domain attached to a MISSRec model: frozen features and item-specific state.
template <class T>
struct MissrecDomain {
  std::string name;
  index_t n_items = 0;
  std::vector<Tensor<T>> features;    ///< per modality [n_items + 1, f_m], row 0 = zeros
  std::vector<std::uint8_t> present;  ///< [M, n_items + 1]: token exists (row 0 = padding: 0)
  index_t tokens = 0;                 ///< present modality tokens
  index_t interests = 0;              ///< K
  Parameter<T>* id_table = nullptr;   ///< transductive: "items.<name>.id.weight" [n_items + 1, d]
  Parameter<T>* centroids = nullptr;  ///< frozen "items.<name>.interests" [K + 1, d], row 0 = 0
  Parameter<T>* lookup = nullptr;     ///< frozen "items.<name>.interest_of" [M, n_items + 1], ids as values
};

/// Pre-training loss terms of one batch (for logging).
struct PretrainTerms {
  double seq_item = 0, seq_seq = 0, diversity = 0;
};

template <class T = float>
class MISSRecType {
 public:
  using Scalar = T;
  static constexpr Objective objective = Objective::next_item;

  explicit MISSRecType(const MissrecConfig& config, std::uint64_t seed = 0)
      : cfg_((config.validate(), config)), rng_(seed), aug_rng_(seed ^ 0xA5A5A5A5ULL) {
    const nn::TransformerConfig bc = cfg_.block_config();
    pos_ = &store_.add("pos.weight", {cfg_.max_len, cfg_.d}, nn::Init::normal(cfg_.init_std), rng_);
    ln_ = nn::LayerNorm<T>(store_, "ln", cfg_.d, cfg_.ln_eps);
    for (int i = 0; i < cfg_.encoder_layers; ++i)
      encoder_.emplace_back(store_, "encoder.block" + std::to_string(i), bc, rng_);
    for (int i = 0; i < cfg_.decoder_layers; ++i)
      decoder_.emplace_back(store_, "decoder.layer" + std::to_string(i), cfg_.d, cfg_.heads, cfg_.inner, cfg_.dropout,
                            cfg_.attn_dropout, cfg_.ln_eps, rng_);
    // RecBole's _init_weights (the authors' base class): N(0, init_std) weights, zero biases.
    for (const char* prefix : {"encoder.", "decoder."})
      for (auto* p : store_.with_prefix(prefix)) {
        if (p->value.rank() == 2) nn::Init::normal(cfg_.init_std).apply(p->value, rng_);
        else if (p->name.ends_with(".bias")) p->value.zero();
      }
    // Adaptors are created after that init in the authors' code: PyTorch's Linear default.
    const nn::WhiteningExpertsOptions moe{.experts = cfg_.moe_experts, .dropout = cfg_.moe_dropout,
                                          .noisy_gate = cfg_.moe_noisy_gate};
    for (index_t m = 0; m < cfg_.modalities(); ++m) {
      const std::string name = "adaptor" + std::to_string(m);
      const index_t f = cfg_.feature_dims[static_cast<std::size_t>(m)];
      if (cfg_.adaptor == AdaptorKind::moe) moe_adaptors_.emplace_back(store_, name, f, cfg_.d, moe, rng_);
      else adaptors_.emplace_back(store_, name, f, cfg_.d, rng_);
    }
    beta_ = &store_.add("fusion.beta", {1}, nn::Init::zeros(), rng_);
  }
  MISSRecType(const MISSRecType&) = delete;
  MISSRecType& operator=(const MISSRecType&) = delete;

  /// Attaches a domain. features[m]: [n_items + 1, f_m] with row 0 = padding
  /// (data::FeatureMatrix::values). present (optional, [M][n_items + 1]):
  /// which tokens exist; by default a token exists unless its row is all zero
  /// (a missing modality, or a row a lenient reader zeroed for NaN/Inf).
  int add_domain(const std::string& name, index_t n_items, const std::vector<Tensor<float>>& features,
                 const std::vector<std::vector<std::uint8_t>>& present = {}) {
    if (n_items < 1) throw ConfigError("MISSRec domain '" + name + "': n_items must be >= 1");
    if (find_domain(name) >= 0) throw ConfigError("MISSRec domain '" + name + "' is already attached");
    const index_t M = cfg_.modalities();
    if (static_cast<index_t>(features.size()) != M)
      throw ConfigError("MISSRec domain '" + name + "': " + std::to_string(features.size()) +
                        " feature matrices for a model with " + std::to_string(M) + " modalities");
    if (!present.empty() && static_cast<index_t>(present.size()) != M)
      throw ConfigError("MISSRec domain '" + name + "': " + std::to_string(present.size()) + " presence masks for " +
                        std::to_string(M) + " modalities");
    auto dom = std::make_unique<MissrecDomain<T>>();
    dom->name = name;
    dom->n_items = n_items;
    dom->present.assign(static_cast<std::size_t>(M * (n_items + 1)), 0);
    for (index_t m = 0; m < M; ++m) {
      const Tensor<float>& f = features[static_cast<std::size_t>(m)];
      const index_t fd = cfg_.feature_dims[static_cast<std::size_t>(m)];
      if (f.rank() != 2 || f.dim(0) != n_items + 1 || f.dim(1) != fd)
        throw ShapeError("MISSRec domain '" + name + "': modality " + std::to_string(m) + " features have shape " +
                         f.shape().str() + ", expected [" + std::to_string(n_items + 1) + ", " + std::to_string(fd) +
                         "] (n_items + 1 rows, row 0 = padding; feature width of the model)");
      if (!present.empty() && static_cast<index_t>(present[static_cast<std::size_t>(m)].size()) != n_items + 1)
        throw ShapeError("MISSRec domain '" + name + "': presence mask of modality " + std::to_string(m) + " has " +
                         std::to_string(present[static_cast<std::size_t>(m)].size()) + " entries, expected " +
                         std::to_string(n_items + 1));
      Tensor<T> ft(f.shape());
      for (index_t i = 0; i < f.size(); ++i) {
        if (!std::isfinite(f[i]))
          throw NumericError("MISSRec domain '" + name + "': modality " + std::to_string(m) + " feature row " +
                             std::to_string(i / fd) + " holds a non-finite value");
        ft[i] = static_cast<T>(f[i]);
      }
      for (index_t r = 1; r <= n_items; ++r) {
        bool any = false;
        for (index_t j = 0; j < fd && !any; ++j) any = f[r * fd + j] != 0.0f;
        const bool on = present.empty() ? any : present[static_cast<std::size_t>(m)][static_cast<std::size_t>(r)] != 0;
        dom->present[static_cast<std::size_t>(m * (n_items + 1) + r)] = on;
        dom->tokens += on;
      }
      dom->features.push_back(ft);
    }
    if (dom->tokens == 0)
      throw ConfigError("MISSRec domain '" + name + "': no item has any modality (every feature row is zero or masked)");
    dom->interests = cfg_.interests_for(dom->tokens);
    const std::string p = "items." + name + ".";
    if (cfg_.transductive) {
      dom->id_table = &store_.add(p + "id.weight", {n_items + 1, cfg_.d}, nn::Init::normal(cfg_.init_std), rng_);
      std::fill_n(dom->id_table->value.data(), cfg_.d, T(0));
    }
    dom->centroids = &store_.add(p + "interests", {dom->interests + 1, cfg_.d}, nn::Init::zeros(), rng_);
    dom->lookup = &store_.add(p + "interest_of", {M, n_items + 1}, nn::Init::zeros(), rng_);
    dom->centroids->trainable = dom->lookup->trainable = false;
    index_.reserve(dom->interests);
    domains_.push_back(std::move(dom));
    return static_cast<int>(domains_.size() - 1);
  }

  int num_domains() const { return static_cast<int>(domains_.size()); }
  const MissrecDomain<T>& domain(int k) const {
    if (k < 0 || k >= num_domains()) throw ConfigError("MISSRec: no domain " + std::to_string(k));
    return *domains_[static_cast<std::size_t>(k)];
  }
  int find_domain(const std::string& name) const {
    for (std::size_t i = 0; i < domains_.size(); ++i)
      if (domains_[i]->name == name) return static_cast<int>(i);
    return -1;
  }
  nn::ParameterStore<T>& parameters() { return store_; }
  const MissrecConfig& config() const { return cfg_; }
  Parameter<T>& beta() { return *beta_; }
  /// Parameters belonging to domain k only (ID table, interests).
  std::vector<Parameter<T>*> domain_parameters(int k) { return store_.with_prefix("items." + domain(k).name + "."); }

  /// Parameter-efficient fine-tuning (SPEC section 4): freezes encoder,
  /// decoder and positions; adaptors, the input LayerNorm, beta and ID tables
  /// stay trainable. `false` makes everything but the interest tables trainable.
  void set_parameter_efficient(bool on) {
    for (const char* p : {"encoder.", "decoder.", "pos."}) store_.set_trainable(p, !on);
  }

  // ---- interests ------------------------------------------------------------
  /// Re-clusters domain k's adapted modality tokens (current adaptor weights);
  /// writes the centroids and each token's interest id. Call before each epoch.
  void discover_interests(int k, std::uint64_t seed) {
    MissrecDomain<T>& dom = *domains_.at(static_cast<std::size_t>(k));
    const index_t M = cfg_.modalities(), rows = dom.n_items + 1, d = cfg_.d;
    Tape<T> t(seed);
    NoGradGuard<T> ng(t);
    EvalModeGuard<T> em(t);
    Tensor<T> X(Shape{dom.tokens, d});
    index_t r = 0;
    for (index_t m = 0; m < M; ++m) {
      const Tensor<T>& a = adapt(t, dom, m).value();
      for (index_t i = 1; i < rows; ++i)
        if (dom.present[static_cast<std::size_t>(m * rows + i)]) std::copy_n(a.data() + i * d, d, X.data() + (r++) * d);
    }
    InterestClusters<T> c = cluster_tokens(X, dom.interests, cfg_.kmeans_epochs, cfg_.kmeans_batch, seed);
    Tensor<T>& cen = dom.centroids->value;
    cen.zero();
    std::copy_n(c.centroids.data(), dom.interests * d, cen.data() + d);
    Tensor<T>& look = dom.lookup->value;
    look.zero();
    r = 0;
    for (index_t m = 0; m < M; ++m)
      for (index_t i = 1; i < rows; ++i)
        if (dom.present[static_cast<std::size_t>(m * rows + i)])
          look[m * rows + i] = static_cast<T>(c.assignment[static_cast<std::size_t>(r++)] + 1);
    last_inertia_ = c.inertia;
  }
  double last_inertia() const { return last_inertia_; }

  // ---- forward ---------------------------------------------------------------
  /// What one step needs of a domain: adapted (masked) modality tables [n+1, d].
  struct Items {
    std::vector<Var<T>> adapted;
    Var<T> ids;  ///< transductive ID table, else invalid
  };
  Items items(Tape<T>& t, int k) {
    const MissrecDomain<T>& dom = domain(k);
    Items it;
    for (index_t m = 0; m < cfg_.modalities(); ++m) it.adapted.push_back(adapt(t, dom, m));
    if (dom.id_table) it.ids = t.param(*dom.id_table);
    return it;
  }

  /// Encoded samples: u [n, d] (L2-normalised) and the diversity regulariser.
  struct Encoded {
    Var<T> u, diversity;
    InterestSamples samples;
  };
  /// Runs the model on a padded batch; `prefixes` as MissrecConfig::prefix_samples.
  Encoded encode(Tape<T>& t, int k, const Items& it, const SequenceView& s, const std::int32_t* targets, bool prefixes) {
    const MissrecDomain<T>& dom = domain(k);
    if (prefixes && decoder_.size() != 1)
      throw ConfigError("MISSRec: prefix samples need exactly one decoder layer");
    if (s.length > cfg_.max_len)
      throw ShapeError("MISSRec: batch length " + std::to_string(s.length) + " exceeds max_len " +
                       std::to_string(cfg_.max_len));
    Encoded e;
    e.samples = index_.build(t, s, targets, prefixes, dom.lookup->value);
    const InterestSamples& sm = e.samples;
    const index_t B = s.batch, L = s.length, d = cfg_.d;
    // Item tokens + positions counted from the first real item (RecBole layout).
    Var<T> table = it.adapted[0];
    for (std::size_t m = 1; m < it.adapted.size(); ++m) table = ops::add(table, it.adapted[m]);
    if (it.ids.valid()) table = ops::add(table, it.ids);
    auto* pos = t.template alloc_n<std::int32_t>(B * L);
    for (index_t b = 0; b < B; ++b)
      for (index_t j = 0, c = 0; j < L; ++j) pos[b * L + j] = s.mask[b * L + j] ? static_cast<std::int32_t>(c++) : 0;
    Var<T> x = ops::embedding(table, s.items, Shape{B, L}, 0);
    x = ops::add(x, ops::embedding(t.param(*pos_), pos, Shape{B, L}));
    x = ops::dropout(ln_(t, x), cfg_.dropout);
    // Contextual encoder over the packed interest tokens (no positions).
    Var<T> mem = ops::embedding(t.param(*dom.centroids), sm.ids, Shape{sm.tokens()});
    const PackedView pv{sm.n, sm.tokens(), sm.offsets, nullptr};
    if (sm.tokens() > 0)
      for (const auto& blk : encoder_) mem = blk.packed(t, mem, pv, false);
    // Diversity regulariser (authors' "interest orthogonal regularization"):
    // sum over samples of ||mean of its encoded interests||^2 / d.
    Var<T> pooled = ops::segment_mean(mem, sm.offsets, sm.n);
    e.diversity = ops::scale(ops::sum(ops::mul(pooled, pooled)), 1.0 / static_cast<double>(d));
    // Interest-aware decoder; the last layer computes only the sample rows.
    for (std::size_t l = 0; l < decoder_.size(); ++l) {
      x = decoder_[l].self_block(t, x, s.mask);
      Var<T> flat = ops::reshape(x, Shape{B * L, d});
      if (l + 1 == decoder_.size()) {
        Var<T> q = ops::embedding(flat, sm.query_row, Shape{sm.n});
        x = decoder_[l].cross_block(t, q, mem, sm.query_offsets, sm.offsets, sm.n);
      } else {  // one sample per row: every position cross-attends its row's interests
        auto* q_off = t.template alloc_n<std::int32_t>(B + 1);
        for (index_t b = 0; b <= B; ++b) q_off[b] = static_cast<std::int32_t>(b * L);
        x = ops::reshape(decoder_[l].cross_block(t, flat, mem, q_off, sm.offsets, B), Shape{B, L, d});
      }
    }
    e.u = ops::l2_normalize(x);
    return e;
  }

  /// Fused logits (already divided by the temperature) of u [N, d] against
  /// candidates: per modality [C, d] rows of normalised adapted tokens,
  /// presence [M, C] (row stride ldp), optional normalised ID rows [C, d].
  Var<T> fused_logits(Var<T> u, const std::vector<Var<T>>& cand, const std::uint8_t* present, index_t ldp,
                      Var<T> id_cand) {
    const index_t N = u.shape()[0], C = cand[0].shape()[0], M = static_cast<index_t>(cand.size());
    Var<T> scores = ops::matmul(u, M == 1 ? cand[0] : ops::concat(cand, 0), true);
    Var<T> s = ops::dynamic_fusion(ops::reshape(scores, Shape{N, M, C}), t_param(u, *beta_), present, ldp);
    if (!id_cand.valid()) return ops::scale(s, 1.0 / cfg_.temperature);
    Var<T> sid = ops::matmul(u, id_cand, true);
    return ops::scale(ops::add(sid, ops::scale(s, 2.0)), 1.0 / (3.0 * cfg_.temperature));
  }

  /// Fine-tuning loss (SPEC 4): full-softmax CE over all items of domain k with
  /// the fused logits, at every prefix (prefix_samples) or each sequence's end.
  Var<T> loss(Tape<T>& t, int k, const TrainInputs& in, LossKind kind = LossKind::ce) {
    if (kind != LossKind::ce) throw ConfigError("MISSRec is trained with full-softmax CE only (--loss ce)");
    const MissrecDomain<T>& dom = domain(k);
    const Items it = items(t, k);
    Encoded e = encode(t, k, it, in.seq, in.targets, cfg_.prefix_samples);
    const InterestSamples& sm = e.samples;
    index_t with_target = 0;
    for (index_t i = 0; i < sm.n; ++i) {
      if (sm.targets[i] > dom.n_items)
        throw ShapeError("MISSRec loss: target " + std::to_string(sm.targets[i]) + " exceeds the " +
                         std::to_string(dom.n_items) + " items of domain '" + dom.name + "'");
      with_target += sm.targets[i] > 0;
    }
    if (with_target != sm.n || sm.n == 0) throw ConfigError("MISSRec loss: every sample needs a target (batch has " +
                                                            std::to_string(sm.n - with_target) + " without)");
    const index_t n = dom.n_items, M = cfg_.modalities();
    std::vector<Var<T>> norm;
    for (const auto& a : it.adapted) norm.push_back(ops::l2_normalize(a));
    if (M == 1) {  // fusion is the identity: scores are <u, row>, the blocked CE never builds N x n logits
      Var<T> z = norm[0];
      if (it.ids.valid()) z = ops::scale(ops::add(ops::l2_normalize(it.ids), ops::scale(z, 2.0)), 1.0 / 3.0);
      return ops::detail::full_ce("missrec_ce", e.u, z, sm.targets, 1, n + 1, static_cast<T>(1.0 / cfg_.temperature),
                                  0, 0);
    }
    std::vector<Var<T>> cand;
    for (auto& z : norm) cand.push_back(ops::slice(z, 0, 1, n + 1));
    Var<T> idc = it.ids.valid() ? ops::slice(ops::l2_normalize(it.ids), 0, 1, n + 1) : Var<T>{};
    Var<T> logits = fused_logits(e.u, cand, dom.present.data() + 1, n + 1, idc);
    auto* tg = t.template alloc_n<std::int32_t>(sm.n);
    for (index_t i = 0; i < sm.n; ++i) tg[i] = sm.targets[i] - 1;
    return ops::softmax_cross_entropy(logits, tg);
  }

  /// Pre-training loss (SPEC 4): sequence-item InfoNCE over in-batch targets
  /// with fused logits + lambda * sequence-sequence InfoNCE against an
  /// item-drop view (keep probability `keep`) + gamma * diversity of both views.
  /// With cfg.prefix_samples every prefix of a sequence is a sample, as in the
  /// authors' pipeline, where RecBole turns each prefix into a training example
  /// (one pass here instead of one per prefix); otherwise only each sequence's
  /// end. The candidates are the batch's distinct target items, so an item that
  /// is the target of several samples is never counted as its own negative.
  /// The sequence-sequence term uses each sequence's end, and the diversity of
  /// the prefix samples is rescaled to one term per sequence.
  Var<T> pretrain_loss(Tape<T>& t, int k, const TrainInputs& in, double lambda = 1e-3, double gamma = 1e-4,
                       double keep = 0.8, PretrainTerms* terms = nullptr) {
    const MissrecDomain<T>& dom = domain(k);
    const Items it = items(t, k);
    const bool prefixes = cfg_.prefix_samples;
    Encoded e = encode(t, k, it, in.seq, in.targets, prefixes);
    const InterestSamples& sm = e.samples;
    const index_t B = in.seq.batch, L = in.seq.length;
    for (index_t i = 0; i < sm.n; ++i)
      if (sm.targets[i] < 1 || sm.targets[i] > dom.n_items)
        throw ShapeError("MISSRec pretrain_loss: sequence " + std::to_string(prefixes ? sm.query_row[i] / L : i) +
                         " has no valid target (" + std::to_string(sm.targets[i]) + ")");
    // Distinct targets -> candidate rows; each sample's label is its target's row.
    std::vector<std::int32_t> distinct(sm.targets, sm.targets + sm.n);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    const index_t C = static_cast<index_t>(distinct.size());
    auto* cand_ids = t.template alloc_n<std::int32_t>(std::max<index_t>(C, 1));
    std::copy(distinct.begin(), distinct.end(), cand_ids);
    auto* label = t.template alloc_n<std::int32_t>(std::max<index_t>(sm.n, 1));
    for (index_t i = 0; i < sm.n; ++i)
      label[i] = static_cast<std::int32_t>(std::lower_bound(distinct.begin(), distinct.end(), sm.targets[i]) -
                                           distinct.begin());
    const index_t M = cfg_.modalities(), rows = dom.n_items + 1;
    std::vector<Var<T>> cand;
    for (const auto& a : it.adapted) cand.push_back(ops::l2_normalize(ops::embedding(a, cand_ids, Shape{C})));
    auto* present = t.template alloc_n<std::uint8_t>(M * C);
    for (index_t m = 0; m < M; ++m)
      for (index_t c = 0; c < C; ++c) present[m * C + c] = dom.present[static_cast<std::size_t>(m * rows + cand_ids[c])];
    Var<T> idc = it.ids.valid() ? ops::l2_normalize(ops::embedding(it.ids, cand_ids, Shape{C})) : Var<T>{};
    Var<T> l_si = ops::softmax_cross_entropy(fused_logits(e.u, cand, present, C, idc), label);
    // Sequence-level representation: each row's last sample (samples come row by row, position by position).
    Var<T> seq_u = e.u, div = e.diversity;
    if (prefixes) {
      auto* last = t.template alloc_n<std::int32_t>(B);
      std::fill_n(last, B, -1);
      for (index_t i = 0; i < sm.n; ++i) last[sm.query_row[i] / L] = static_cast<std::int32_t>(i);
      for (index_t b = 0; b < B; ++b)
        if (last[b] < 0) throw ShapeError("MISSRec pretrain_loss: sequence " + std::to_string(b) + " has no valid target");
      seq_u = ops::embedding(e.u, last, Shape{B});
      div = ops::scale(div, static_cast<double>(B) / static_cast<double>(sm.n));
    }
    // Augmented view: item drop, at least one item kept, left-padded.
    const SequenceView aug = item_drop(t, in.seq, keep);
    Encoded e2 = encode(t, k, it, aug, nullptr, false);
    Var<T> l_ss = ops::info_nce(seq_u, e2.u, cfg_.temperature);
    div = ops::add(div, e2.diversity);
    if (terms) *terms = {double(l_si.value()[0]), double(l_ss.value()[0]), double(div.value()[0])};
    return ops::add(ops::add(l_si, ops::scale(l_ss, lambda)), ops::scale(div, gamma));
  }

  /// Sequence representations of `histories` (last max_len items) -> rows of out [B, d].
  void user_representations(Tape<T>& t, int k, std::span<const std::span<const std::int32_t>> histories,
                            const Tensor<T>& out) {
    const index_t B = static_cast<index_t>(histories.size()), d = cfg_.d;
    expect_shape("MISSRec user_representations", "output", out.shape(), Shape{B, d});
    const index_t L = recent_window_length(histories, cfg_.max_len);
    NoGradGuard<T> ng(t);
    EvalModeGuard<T> em(t);
    t.reset();
    auto* ids = t.template alloc_n<std::int32_t>(B * L);
    auto* mask = t.template alloc_n<std::uint8_t>(B * L);
    const SequenceView s = fill_recent_window(histories, L, cfg_.max_len, 0, domain(k).n_items, domain(k).name,
                                              "MISSRec user_representations", ids, mask);
    const Items it = items(t, k);
    const Encoded e = encode(t, k, it, s, nullptr, false);
    std::copy_n(e.u.value().data(), B * d, out.data());
  }

  /// Normalised candidate tables for scoring, inference mode: per modality
  /// [n_items + 1, d] and the ID table (transductive; else empty).
  std::pair<std::vector<Tensor<T>>, Tensor<T>> scoring_tables(Tape<T>& t, int k) {
    NoGradGuard<T> ng(t);
    EvalModeGuard<T> em(t);
    t.reset();
    const Items it = items(t, k);
    std::vector<Tensor<T>> z;
    for (const auto& a : it.adapted) z.push_back(ops::l2_normalize(a).value().clone());
    Tensor<T> id = it.ids.valid() ? ops::l2_normalize(it.ids).value().clone() : Tensor<T>();
    return {z, id};
  }

  /// Scorer for train::evaluate (detected there): fused multi-modal scores of
  /// the users U [n_users, d] against every item of domain k.
  FusedScorer<T> make_scorer(Tape<T>& t, int k, const Tensor<T>& U) {
    auto [z, id] = scoring_tables(t, k);
    return FusedScorer<T>(U, z, id, domain(k).present.data(), beta().value[0]);
  }

 private:
  static Var<T> t_param(Var<T> any, Parameter<T>& p) { return any.tape->param(p); }

  /// Adapted tokens of modality m for every item, missing ones zeroed: [n+1, d].
  Var<T> adapt(Tape<T>& t, const MissrecDomain<T>& dom, index_t m) const {
    const std::size_t mi = static_cast<std::size_t>(m);
    const Var<T> x = t.leaf(dom.features[mi]);
    Var<T> a = cfg_.adaptor == AdaptorKind::moe ? moe_adaptors_[mi](t, x) : adaptors_[mi](t, x);
    return ops::mask_rows(a, dom.present.data() + m * (dom.n_items + 1));
  }

  /// Item-drop augmentation of a padded batch: each real item kept with
  /// probability keep (at least one per row), rows left-padded to the longest.
  SequenceView item_drop(Tape<T>& t, const SequenceView& s, double keep) {
    if (!(keep > 0.0 && keep <= 1.0)) throw ConfigError("item_drop: keep = " + std::to_string(keep) + " is out of range (0, 1]");
    const index_t B = s.batch, L = s.length;
    auto* kept = t.template alloc_n<std::int32_t>(B * L);
    auto* count = t.template alloc_n<index_t>(B);
    index_t Lmax = 1;
    for (index_t b = 0; b < B; ++b) {
      index_t c = 0, real = 0, last = -1;
      for (index_t j = 0; j < L; ++j) {
        if (!s.mask[b * L + j]) continue;
        ++real;
        last = j;
        if (aug_rng_.bernoulli(keep)) kept[b * L + c++] = s.items[b * L + j];
      }
      if (c == 0 && real > 0) kept[b * L + c++] = s.items[b * L + last];  // keep the last item
      count[b] = c;
      Lmax = std::max(Lmax, c);
    }
    auto* ids = t.template alloc_n<std::int32_t>(B * Lmax);
    auto* mask = t.template alloc_n<std::uint8_t>(B * Lmax);
    std::fill_n(ids, B * Lmax, 0);
    std::fill_n(mask, B * Lmax, std::uint8_t(0));
    for (index_t b = 0; b < B; ++b)
      for (index_t j = 0; j < count[b]; ++j) {
        ids[b * Lmax + Lmax - count[b] + j] = kept[b * L + j];
        mask[b * Lmax + Lmax - count[b] + j] = 1;
      }
    return SequenceView{B, Lmax, ids, mask};
  }

  MissrecConfig cfg_;
  Rng rng_, aug_rng_;
  nn::ParameterStore<T> store_;
  Parameter<T>* pos_ = nullptr;
  nn::LayerNorm<T> ln_;
  std::vector<nn::TransformerBlock<T>> encoder_;
  std::vector<InterestDecoderLayer<T>> decoder_;
  std::vector<nn::Linear<T>> adaptors_;               // AdaptorKind::linear
  std::vector<nn::WhiteningExperts<T>> moe_adaptors_;  // AdaptorKind::moe
  Parameter<T>* beta_ = nullptr;
  std::vector<std::unique_ptr<MissrecDomain<T>>> domains_;
  InterestIndex index_;
  double last_inertia_ = 0;
};

/// Float weights, the production spelling.
using MISSRec = MISSRecType<float>;
static_assert(check_sequence_model<MISSRec>());

}  // namespace metarec::multimodal
