#pragma once
/// @file recommender.hpp
/// Recommender<Backbone, Quantizer, Backend>: per-domain item tables, a shared
/// quantizer and a shared backbone, tied input/output item representations.
///
/// Every domain k has its own table E_k with rows [0 = padding, 1..n_k = items,
/// n_k + 1 = [MASK]]; item ids are local to a domain. The quantizer maps a
/// table to representations (identity, or shared codebooks for MetaRec), the
/// backbone encodes a sequence of representations, and the score of item j at
/// position t is <h_t, e_j> with e_j the same representation used as input
/// (unless the quantizer returns separate scoring representations).
#include <algorithm>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "metarec/autograd/ops/cross_entropy.hpp"
#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/autograd/ops/embedding.hpp"
#include "metarec/autograd/ops/sampled_losses.hpp"
#include "metarec/autograd/ops/shape.hpp"
#include "metarec/autograd/ops/shared_negative_losses.hpp"
#include "metarec/core/backend.hpp"
#include "metarec/model/concepts.hpp"
#include "metarec/quantizers/identity.hpp"

namespace metarec {

/**
 * @tparam BackbonePolicy  sequence encoder (backbones::SASRec, GRU4Rec, BERT4Rec or a user's type; see metarec::Backbone)
 * @tparam QuantizerPolicy item representation (quantizers::Identity, ...; see metarec::Quantizer)
 * @tparam B      backend::Cpu (backend::Cuda: see cuda/)
 * @tparam T               float (production) or double (gradient tests)
 */
template <class BackbonePolicy, class QuantizerPolicy = quantizers::Identity, class B = backend::Cpu,
          class T = float>
class RecommenderType {
  static_assert(concepts::HasModelTemplate<BackbonePolicy, T, B>,
                "Backbone policy must define a nested `template <class T, class B = backend::Cpu> class Model`");
  static_assert(concepts::HasName<BackbonePolicy>, "Backbone policy must define `static constexpr const char* name`");
  static_assert(concepts::HasObjective<BackbonePolicy>,
                "Backbone policy must define `static constexpr metarec::Objective objective`");
  static_assert(concepts::HasValidConfig<BackbonePolicy>,
                "Backbone policy's Config must be default-constructible and define `void validate(const ModelConfig&) "
                "const` and `template <class V> void visit(V&&)` (model/policy_config.hpp)");
  static_assert(concepts::BackboneConstructible<BackbonePolicy, T, B>,
                "Backbone Model<T, B> must be constructible from (nn::ParameterStore<T, B>&, const std::string& prefix, "
                "const ModelConfig&, const Config&, Rng&), or without the Config when the policy has none");
  static_assert(concepts::HasEncode<BackbonePolicy, T, B>,
                "Backbone Model<T, B> must define `Var<T, B> encode(Tape<T, B>&, Var<T, B> x, const SequenceView&)`");
  static_assert(concepts::HasModelTemplate<QuantizerPolicy, T, B> && concepts::HasName<QuantizerPolicy>,
                "Quantizer policy must define `name` and a nested `template <class T, class B = backend::Cpu> class Model`");
  static_assert(concepts::HasValidConfig<QuantizerPolicy>,
                "Quantizer policy's Config must be default-constructible and define `void validate(const ModelConfig&) "
                "const` and `template <class V> void visit(V&&)` (model/policy_config.hpp)");
  static_assert(concepts::QuantizerConstructible<QuantizerPolicy, T, B>,
                "Quantizer Model<T, B> must be constructible from (nn::ParameterStore<T, B>&, const ModelConfig&, "
                "const Config&, Rng&), or without the Config when the policy has none");
  static_assert(concepts::HasApply<QuantizerPolicy, T, B>,
                "Quantizer Model<T, B> must define `QuantizedItems<T, B> apply(Tape<T, B>&, Var<T, B> table, int domain)`");
  static_assert(Backend<B>, "Backend tag must satisfy metarec::Backend");

 public:
  using Scalar = T;
  using Backend = B;
  using Backbone = BackbonePolicy;
  using Quantizer = QuantizerPolicy;
  static constexpr Objective objective = BackbonePolicy::objective;

  /// The model's settings: the sizes every part shares, and each policy's own Config
  /// (NoConfig for a policy without settings).
  struct Config {
    ModelConfig model;
    config_of<BackbonePolicy> backbone{};
    config_of<QuantizerPolicy> quantizer{};
    /// Throws ConfigError naming the first field out of range.
    void validate() const {
      model.validate();
      backbone.validate(model);
      quantizer.validate(model);
    }
  };

  explicit RecommenderType(const Config& config, std::uint64_t seed = 0)
      : config_((config.validate(), config)),
        rng_(seed),
        quantizer_(make_quantizer()),
        backbone_(make_backbone()) {}
  /// Every policy with its default settings.
  explicit RecommenderType(const ModelConfig& model, std::uint64_t seed = 0) : RecommenderType(Config{model}, seed) {}
  RecommenderType(const RecommenderType&) = delete;
  RecommenderType& operator=(const RecommenderType&) = delete;

  /// Attaches a domain with `n_items` items; returns its index.
  int add_domain(const std::string& name, index_t n_items) {
    if (n_items < 1) throw ConfigError("domain '" + name + "': n_items must be >= 1");
    for (auto& d : domains_)
      if (d.name == name) throw ConfigError("domain '" + name + "' is already attached");
    DomainInfo info{name, n_items, "items." + name + ".weight"};
    Parameter<T, B>& p =
        store_.add(info.table, {n_items + 2, config_.model.d}, nn::Init::normal(config_.model.init_std), rng_, sparse_tables_);
    memory<B>::zero(p.value.slice(0, 1));  // padding row
    domains_.push_back(info);
    const int k = static_cast<int>(domains_.size() - 1);
    if constexpr (requires { quantizer_.add_domain(0, index_t{}, std::string{}); })
      quantizer_.add_domain(k, n_items + 2, name);
    else if constexpr (requires { quantizer_.add_domain(0, index_t{}); })
      quantizer_.add_domain(k, n_items + 2);
    return static_cast<int>(domains_.size() - 1);
  }
  /// Item tables track touched rows (lazy sparse updates) when on; set before add_domain.
  void set_sparse_item_tables(bool on) { sparse_tables_ = on; }

  int num_domains() const { return static_cast<int>(domains_.size()); }
  const DomainInfo& domain(int k) const { return domains_.at(static_cast<std::size_t>(k)); }
  int find_domain(const std::string& name) const {
    for (std::size_t i = 0; i < domains_.size(); ++i)
      if (domains_[i].name == name) return static_cast<int>(i);
    return -1;
  }
  nn::ParameterStore<T, B>& parameters() { return store_; }
  const ModelConfig& config() const { return config_.model; }
  const Config& settings() const { return config_; }
  /// BERT4Rec-style cloze models: how often a training position is masked.
  double mask_prob() const
    requires(objective == Objective::cloze)
  {
    return config_.backbone.mask_prob;
  }
  Parameter<T, B>& item_table(int k) { return store_.at(domain(k).table); }
  model_of<BackbonePolicy, T, B>& backbone() { return backbone_; }
  model_of<QuantizerPolicy, T, B>& quantizer() { return quantizer_; }
  /// Trainable parameters shared across domains (everything but the
  /// per-domain "items.<name>." tables; frozen state such as EMA codebooks
  /// or flags is left out).
  std::vector<Parameter<T, B>*> shared_parameters() {
    std::vector<Parameter<T, B>*> out;
    for (auto* p : store_.all())
      if (p->name.rfind("items.", 0) != 0 && p->trainable) out.push_back(p);
    return out;
  }

  /// Parameters that belong to domain k only (its item table and anything a
  /// quantizer registered under "items.<name>.").
  std::vector<Parameter<T, B>*> domain_parameters(int k) {
    return store_.with_prefix("items." + domain(k).name + ".");
  }

  /// Representations of domain k's whole table (after the quantizer).
  QuantizedItems<T, B> items(Tape<T, B>& t, int k) { return quantizer_.apply(t, t.param(item_table(k)), k); }

  /// Hidden states [B, L, d] of a batch of id sequences.
  Var<T, B> encode(Tape<T, B>& t, const SequenceView& s, Var<T, B> item_reps) {
    Var<T, B> x = ops::embedding(item_reps, s.items, Shape{s.batch, s.length}, 0);
    return backbone_.encode(t, x, s);
  }

  /// Training loss of a batch: full-softmax CE over the domain's items at every
  /// position with a target (default), BCE / BPR against the given negatives,
  /// or sampled softmax / gBCE against the batch's shared negatives.
  /// Only real positions are scored (and, for backbones with encode_packed,
  /// only real positions are computed at all). Adds the quantizer's auxiliary loss.
  Var<T, B> loss(Tape<T, B>& t, int k, const TrainInputs& in, LossKind kind = LossKind::ce) {
    const DomainInfo& dom = domain(k);
    QuantizedItems<T, B> q = items(t, k);
    if (const double p = config_.model.item_dropout; p > 0 && t.training()) {
      if (sparse_tables_)  // a dense mask over the table would undo the row-sparse gradients
        throw ConfigError("item_dropout = " + std::to_string(p) + " cannot be combined with sparse item tables");
      const bool tied = !q.scoring.valid();
      q.items = ops::dropout(q.items, p);
      if (!tied) q.scoring = ops::dropout(q.scoring, p);
    }
    const index_t total = in.seq.batch * in.seq.length;
    // Rows of the hidden-state matrix that carry a target, in padded index order.
    Var<T, B> h;
    std::int32_t* source = nullptr;  // padded index of each hidden row
    if constexpr (packed) {
      const Packed p = pack(t, in.seq);
      h = backbone_.encode_packed(t, ops::embedding(q.items, p.items, Shape{p.view.rows}, 0), p.view);
      source = p.source;
    } else {
      h = ops::reshape(encode(t, in.seq, q.items), Shape{total, config_.model.d});
    }
    const index_t hidden_rows = h.shape()[0];
    index_t n = 0;
    for (index_t r = 0; r < hidden_rows; ++r) n += in.targets[source ? source[r] : r] > 0;
    if (n == 0) throw ConfigError("loss: the batch has no position with a target");
    auto* rows = t.template host_n<std::int32_t>(n);
    auto* targets = t.template host_n<std::int32_t>(n);
    std::int32_t* negatives = in.negatives ? t.template host_n<std::int32_t>(n) : nullptr;
    for (index_t r = 0, j = 0; r < hidden_rows; ++r) {
      const index_t i = source ? source[r] : r;
      if (in.targets[i] <= 0) continue;
      if (in.targets[i] > dom.n_items)
        throw ShapeError("loss: target " + std::to_string(in.targets[i]) + " exceeds the " +
                         std::to_string(dom.n_items) + " items of domain '" + dom.name + "'");
      rows[j] = static_cast<std::int32_t>(r);
      targets[j] = in.targets[i];
      if (negatives) negatives[j] = in.negatives[i];
      ++j;
    }
    Var<T, B> hn = n == hidden_rows ? h : ops::embedding(h, rows, Shape{n});
    const Var<T, B>& scored = q.scored();
    Var<T, B> l;
    switch (kind) {  // every loss has a device path: the ops take host index arrays on both backends
      case LossKind::ce: {
        ops::FullCEOptions opt;
        opt.first_item = 1;
        opt.end_item = dom.n_items + 1;
        l = ops::full_softmax_ce(hn, scored, targets, opt);
        break;
      }
      case LossKind::bce:
      case LossKind::bpr:
        if (!negatives) throw ConfigError("loss: bce/bpr need sampled negatives");
        l = kind == LossKind::bce ? ops::sampled_bce(hn, scored, targets, negatives)
                                  : ops::bpr(hn, scored, targets, negatives);
        break;
      case LossKind::sampled_softmax:
      case LossKind::gbce: {
        if (!in.shared_negatives || in.n_shared < 1)
          throw ConfigError("loss: sampled_softmax/gbce need shared negatives (TrainInputs::shared_negatives)");
        ops::SharedNegatives neg{in.shared_negatives, in.n_shared, in.log_q};
        if (in.shared_scope == NegativeScope::sequence) neg = per_sequence_negatives(t, in, source, hidden_rows, rows, n);
        l = kind == LossKind::sampled_softmax
                ? ops::sampled_softmax(hn, scored, targets, neg)
                : ops::gbce(hn, scored, targets, neg, ops::gbce_beta(in.n_shared, dom.n_items, in.gbce_t));
        break;
      }
    }
    if (q.aux_loss.valid()) l = ops::add(l, q.aux_loss);
    return l;
  }

  /// Sequence representations (hidden state after the last history item, or
  /// at an appended [MASK] for cloze backbones) of `histories`, written into
  /// rows of `out` [histories.size(), d]. Inference mode, no gradients.
  void user_representations(Tape<T, B>& t, int k, std::span<const std::span<const std::int32_t>> histories,
                            const Tensor<T>& out) {
    const DomainInfo& dom = domain(k);
    const index_t n_users = static_cast<index_t>(histories.size()), d = config_.model.d;
    expect_shape("user_representations", "output", out.shape(), Shape{n_users, d});
    const index_t reserved = objective == Objective::cloze ? 1 : 0;  // the appended [MASK]
    const index_t room = config_.model.max_len - reserved;
    const index_t L = recent_window_length(histories, room) + reserved;
    NoGradGuard<T, B> ng(t);
    EvalModeGuard<T, B> em(t);
    t.reset();
    auto* ids = t.template host_n<std::int32_t>(n_users * L);
    auto* mask = t.template host_n<std::uint8_t>(n_users * L);
    const SequenceView s =
        fill_recent_window(histories, L, room, reserved, dom.n_items, dom.name, "user_representations", ids, mask);
    if (objective == Objective::cloze)
      for (index_t b = 0; b < n_users; ++b) {
        ids[b * L + L - 1] = static_cast<std::int32_t>(dom.mask_row());
        mask[b * L + L - 1] = 1;
      }
    Var<T, B> reps = items(t, k).items;
    if constexpr (packed) {
      const Packed p = pack(t, s);
      Var<T, B> h = backbone_.encode_packed(t, ops::embedding(reps, p.items, Shape{p.view.rows}, 0), p.view);
      const Tensor<T> hv = memory<B>::to_host(h.value());
      for (index_t b = 0; b < n_users; ++b) std::copy_n(hv.data() + (p.view.offsets[b + 1] - 1) * d, d, out.data() + b * d);
    } else {
      const Tensor<T> hv = memory<B>::to_host(encode(t, s, reps).value());
      for (index_t b = 0; b < n_users; ++b) std::copy_n(hv.data() + (b * L + L - 1) * d, d, out.data() + b * d);
    }
  }

  /// Item representations [n_items + 1, d] for scoring (row 0 = padding), inference mode.
  Tensor<T> item_matrix(Tape<T, B>& t, int k) {
    NoGradGuard<T, B> ng(t);
    EvalModeGuard<T, B> em(t);
    t.reset();
    const QuantizedItems<T, B> q = items(t, k);
    const TensorOf<T, B> v = q.scored().value().slice(0, domain(k).n_items + 1);
    if constexpr (B::is_host) return v.clone();
    else return memory<B>::to_host(v);
  }

 private:
  /// The draws of the sequences that have scored rows, numbered in row order (every group then has a
  /// row, as ops::SharedNegatives asks); `rows` are the n scored hidden rows.
  static ops::SharedNegatives per_sequence_negatives(Tape<T, B>& t, const TrainInputs& in, const std::int32_t* source,
                                                     index_t hidden_rows, const std::int32_t* rows, index_t n) {
    const index_t K = in.n_shared, L = in.seq.length;
    auto* group = t.template host_n<std::int32_t>(n);
    index_t groups = 0;
    for (index_t j = 0, last = -1; j < n; ++j) {
      const index_t r = rows[j], seq = (source ? source[r] : r) / L;
      if (r >= hidden_rows || (last >= 0 && seq < last)) throw ShapeError("loss: scored rows out of sequence order");
      if (seq != last) ++groups, last = seq;
      group[j] = static_cast<std::int32_t>(groups - 1);
    }
    auto* items = t.template host_n<std::int32_t>(groups * K);
    double* log_q = in.log_q ? t.template host_n<double>(groups * K) : nullptr;
    for (index_t j = 0; j < n; ++j) {
      if (j > 0 && group[j] == group[j - 1]) continue;
      const index_t seq = (source ? source[rows[j]] : rows[j]) / L, g = group[j];
      std::copy_n(in.shared_negatives + seq * K, K, items + g * K);
      if (log_q) std::copy_n(in.log_q + seq * K, K, log_q + g * K);
    }
    return ops::SharedNegatives{items, K, log_q, group, groups};
  }

  static constexpr bool packed = concepts::HasPackedEncode<BackbonePolicy, T, B>;

  struct Packed {
    PackedView view;
    std::int32_t* items;   ///< [rows] item ids
    std::int32_t* source;  ///< [rows] index of the row in the padded [B, L] batch
  };
  /// Real positions of a padded batch, stacked; position ids counted from the
  /// end of each sequence (identical to a left-padded window).
  Packed pack(Tape<T, B>& t, const SequenceView& s) const {
    const index_t total = s.batch * s.length;
    index_t n = 0;
    for (index_t i = 0; i < total; ++i) n += s.mask[i] != 0;
    auto* offsets = t.template host_n<std::int32_t>(s.batch + 1);
    auto* positions = t.template host_n<std::int32_t>(std::max<index_t>(n, 1));
    auto* ids = t.template host_n<std::int32_t>(std::max<index_t>(n, 1));
    auto* source = t.template host_n<std::int32_t>(std::max<index_t>(n, 1));
    offsets[0] = 0;
    index_t r = 0;
    for (index_t b = 0; b < s.batch; ++b) {
      const index_t first = r;
      for (index_t j = 0; j < s.length; ++j) {
        const index_t i = b * s.length + j;
        if (!s.mask[i]) continue;
        ids[r] = s.items[i];
        source[r] = static_cast<std::int32_t>(i);
        ++r;
      }
      const index_t len = r - first;
      if (len > config_.model.max_len)
        throw ShapeError("sequence " + std::to_string(b) + " has " + std::to_string(len) + " items, more than max_len " +
                         std::to_string(config_.model.max_len));
      for (index_t j = 0; j < len; ++j) positions[first + j] = static_cast<std::int32_t>(config_.model.max_len - len + j);
      offsets[b + 1] = static_cast<std::int32_t>(r);
    }
    return {PackedView{s.batch, n, offsets, positions}, ids, source};
  }

  using QuantizerModel = model_of<QuantizerPolicy, T, B>;
  using BackboneModel = model_of<BackbonePolicy, T, B>;
  // A policy without settings is built without a Config (guaranteed copy elision: no move needed).
  QuantizerModel make_quantizer() {
    if constexpr (has_config<QuantizerPolicy>) return QuantizerModel(store_, config_.model, config_.quantizer, rng_);
    else return QuantizerModel(store_, config_.model, rng_);
  }
  BackboneModel make_backbone() {
    if constexpr (has_config<BackbonePolicy>) return BackboneModel(store_, "backbone", config_.model, config_.backbone, rng_);
    else return BackboneModel(store_, "backbone", config_.model, rng_);
  }

  Config config_;
  Rng rng_;
  nn::ParameterStore<T, B> store_;
  QuantizerModel quantizer_;
  BackboneModel backbone_;
  std::vector<DomainInfo> domains_;
  bool sparse_tables_ = false;
};

/// The usual spelling: float weights.
template <class BackbonePolicy, class QuantizerPolicy = quantizers::Identity, class B = backend::Cpu>
using Recommender = RecommenderType<BackbonePolicy, QuantizerPolicy, B, float>;

namespace detail {
/// The smallest backbone there is, so that the model contract is checked where Recommender is defined.
struct ContractProbeBackbone {
  static constexpr const char* name = "contract-probe";
  static constexpr Objective objective = Objective::next_item;
  template <class T, class B = backend::Cpu>
  struct Model {
    Model(nn::ParameterStore<T, B>&, const std::string&, const ModelConfig&, Rng&) {}
    Var<T, B> encode(Tape<T, B>&, Var<T, B> x, const SequenceView&) { return x; }
  };
};
}  // namespace detail
static_assert(check_transferable_model<Recommender<detail::ContractProbeBackbone>>());

}  // namespace metarec
