#pragma once
/// @file multi_head_vq.hpp
/// MetaRec's multi-head vector quantizer (Yue et al. 2024, "Transferable
/// Sequential Recommendation via Vector Quantized Meta Learning",
/// arXiv 2411.01785; VQ-VAE, van den Oord et al. 2017; EMA codebooks as in
/// VQ-VAE-2, Razavi et al. 2019). SPEC section 3.1.
///
/// An item row z_e (d) is split into H heads of d/H; head h is projected by
/// P_h (d/H -> d_c) and replaced by its nearest codeword of C_h (K x d_c);
/// the straight-through estimator sends the gradient to P_h z_e^h; heads are
/// concatenated (H d_c) and mapped back to d by a shared output matrix (no
/// bias, so the padding row 0, which is never quantized, stays exactly zero).
/// P, C and the output matrix are shared by all domains (the shared space).
///
/// Parameters: "quantizer.proj" [H, d_c, d/H], "quantizer.codebook" [H, K, d_c],
/// "quantizer.out.weight" [d, H d_c]; with EMA "quantizer.ema_count" [H, K] and
/// "quantizer.ema_sum" [H, K, d_c] (not trainable; the codebook is then not
/// trainable either); "quantizer.initialised" [1] (data-init flag, so a
/// checkpointed model is not re-initialised); with `residual` one
/// "items.<domain name>.residual" [rows, d] per domain (zero-initialised,
/// domain-specific), added to the quantized representation so items whose
/// code tuples collide stay distinguishable; with `skip` the item's own
/// table row is added instead (item = out(q(P e)) + e: identity from the
/// first step, the shared codes a correction on top); `stop_table_gradient`
/// (needs `skip` or `input_only`) projects a constant copy of the table, so the
/// item table learns from its skip or scoring term only (a diagnostic of the
/// straight-through path). With `input_only` the quantized items are the
/// encoder's input and the table rows themselves are returned as the scoring
/// representations: items sharing a code tuple still get their own scores.
///
/// State changes happen inside apply(), only when the tape is training and
/// recording (a training step), after the assignment of that step:
///  - data init (data_init): the first such call sets each codebook to
///    random distinct projected rows of that table;
///  - EMA (ema): N_j <- g N_j + (1-g) n_j, m_j <- g m_j + (1-g) sum z,
///    Laplace-smoothed N, C_j = m_j / N_j (the codebook loss term is dropped);
///  - dead-code restart (dead_after > 0): a code not chosen by any training
///    apply for dead_after calls is reset to a random projected row of the
///    current table (seeded by quantizer.seed).
/// The step's backward uses saved values only, so these in-place updates do
/// not disturb it. Inference (eval or no-grad tape) never changes state.
///
/// On backend::Cuda the differentiable ops run on the device (vq_ops.hpp).
/// The bookkeeping above is host work on host copies: each apply() copies
/// the H x rows codes back (one small transfer, like reading the loss) for
/// codes(), usage() and the dead-code tracking; data init (once) and
/// restarts (rare: a code unused for dead_after steps) copy the projected
/// table and the codebook down, change them on the host and copy the
/// codebook (and the EMA state) back; a training step reads the one-element
/// data-init flag. The EMA update itself runs on the device (cuda::vq_ema_update).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/autograd/ops/linear.hpp"
#include "metarec/core/error.hpp"
#include "metarec/model/concepts.hpp"
#include "metarec/quantizers/usage.hpp"
#include "metarec/quantizers/vq_ops.hpp"

namespace metarec::quantizers {

struct MultiHeadVQ {
  static constexpr const char* name = "vq";

  struct Config {
    int heads = 4;                ///< H: item embedding split into H heads of d/H
    index_t codebook_size = 256;  ///< K codewords per head (shared by all domains)
    index_t code_dim = 16;        ///< d_c: projected head size (0 = d/H)
    double beta = 0.25;           ///< commitment weight
    double loss_weight = 1.0;     ///< multiplies the whole VQ loss added to the training loss
    bool ema = false;             ///< EMA codebook updates instead of the codebook loss term
    double decay = 0.99;          ///< EMA decay, in (0, 1)
    double ema_epsilon = 1e-5;    ///< Laplace smoothing of the EMA cluster sizes
    int dead_after = 200;         ///< restart codes unused for this many training applies (0 = never)
    bool data_init = true;        ///< initialise the codebooks from projected item vectors on first training use
    bool residual = false;        ///< per-domain learned residual [rows, d] (zero-initialised) added to the output
    bool skip = false;            ///< the item's own row is added: item = out(q(P e)) + e
    bool stop_table_gradient = false;  ///< the quantized path sends no gradient into the item table
    bool input_only = false;      ///< quantized items feed the encoder only; scoring uses the table rows
    std::uint64_t seed = 17;      ///< seeds data init and restarts

    template <class V>
    void visit(V&& v) {
      v("heads", heads, "VQ heads H (divide d)", "--vq-heads");
      v("codebook_size", codebook_size, "codewords K per head");
      v("code_dim", code_dim, "projected head size d_c (0 = d/H)");
      v("beta", beta, "commitment weight", "--vq-beta");
      v("ema", ema, "EMA codebook updates instead of the codebook loss", "--vq-ema");
      v("decay", decay, "EMA decay, in (0, 1)", "--vq-decay");
      v("dead_after", dead_after, "restart codes unused for N steps (0 = never)");
      v("residual", residual, "domain-specific residual on the quantized items", "--vq-residual");
      v("skip", skip, "add each item's own embedding to its quantized representation", "--vq-skip");
      v("stop_table_gradient", stop_table_gradient,
        "no gradient from the quantized path into the item table (needs --vq-skip or --vq-input-only)",
        "--vq-stop-table-gradient");
      v("input_only", input_only, "quantized items feed the encoder only; items are scored against their own embeddings",
        "--vq-input-only");
      v("loss_weight", loss_weight, "weight of the VQ loss in the training loss", "--vq-loss-weight");
    }
    /// Throws ConfigError naming the first field out of range.
    void validate(const ModelConfig& m) const {
      check_range("quantizer.heads", heads, 1, 1 << 16);
      if (m.d % heads != 0)
        throw ConfigError("quantizer.heads = " + std::to_string(heads) + " does not divide d = " + std::to_string(m.d));
      check_range<index_t>("quantizer.codebook_size", codebook_size, 2, index_t(1) << 24);
      check_range<index_t>("quantizer.code_dim", code_dim, 0, 1 << 16);
      check_range("quantizer.beta", beta, 0.0, 1e6);
      check_range("quantizer.loss_weight", loss_weight, 0.0, 1e6);
      if (!(decay > 0.0 && decay < 1.0))
        throw ConfigError("quantizer.decay = " + std::to_string(decay) + " is out of range (0, 1)");
      if (!(ema_epsilon > 0.0))
        throw ConfigError("quantizer.ema_epsilon = " + std::to_string(ema_epsilon) + " must be > 0");
      check_range("quantizer.dead_after", dead_after, 0, 1 << 30);
      if (stop_table_gradient && !skip && !input_only)
        throw ConfigError("quantizer.stop_table_gradient needs quantizer.skip or quantizer.input_only "
                          "(otherwise the item table never learns)");
    }
    /// Projected head size actually used.
    index_t head_code_dim(index_t d) const { return code_dim > 0 ? code_dim : d / heads; }
  };

  template <class T, class B = backend::Cpu>
  class Model {
   public:
    Model(nn::ParameterStore<T, B>& store, const ModelConfig& config, const Config& vq, Rng& rng)
        : store_(&store), cfg_((vq.validate(config), vq)), d_(config.d),
          H_(cfg_.heads), K_(cfg_.codebook_size), dc_(cfg_.head_code_dim(config.d)), rng_(cfg_.seed) {
      const index_t dh = d_ / H_;
      const double pb = 1.0 / std::sqrt(static_cast<double>(dh)), ob = 1.0 / std::sqrt(static_cast<double>(H_ * dc_));
      proj_ = &store.add("quantizer.proj", {H_, dc_, dh}, nn::Init::uniform(-pb, pb), rng);
      codebook_ = &store.add("quantizer.codebook", {H_, K_, dc_}, nn::Init::uniform(-1.0 / K_, 1.0 / K_), rng);
      out_ = &store.add("quantizer.out.weight", {d_, H_ * dc_}, nn::Init::uniform(-ob, ob), rng);
      initialised_ = &store.add("quantizer.initialised", {1}, nn::Init::zeros(), rng);
      initialised_->trainable = false;
      if (cfg_.ema) {
        codebook_->trainable = false;
        ema_count_ = &store.add("quantizer.ema_count", {H_, K_}, nn::Init::ones(), rng);
        ema_sum_ = &store.add("quantizer.ema_sum", {H_, K_, dc_}, nn::Init::zeros(), rng);
        memory<B>::copy(codebook_->value, ema_sum_->value);
        ema_count_->trainable = ema_sum_->trainable = false;
      }
      last_used_.assign(static_cast<std::size_t>(H_ * K_), 0);
    }

    /// Registers domain-specific state; the residual is named after the
    /// domain index (Recommender passes the name through the overload below when it can).
    void add_domain(int domain, index_t rows) { add_domain(domain, rows, std::to_string(domain)); }
    void add_domain(int domain, index_t rows, const std::string& domain_name) {
      if (domain < 0) throw ConfigError("MultiHeadVQ::add_domain: negative domain index " + std::to_string(domain));
      if (static_cast<std::size_t>(domain) >= domains_.size()) domains_.resize(static_cast<std::size_t>(domain) + 1);
      Domain& dom = domains_[static_cast<std::size_t>(domain)];
      dom.rows = rows;
      dom.codes.assign(static_cast<std::size_t>(H_ * rows), -1);
      if (cfg_.residual)
        dom.residual = &store_->add("items." + domain_name + ".residual", {rows, d_}, nn::Init::zeros(), rng_);
    }

    QuantizedItems<T, B> apply(Tape<T, B>& t, Var<T, B> table, int domain) {
      const auto& x = table.value();
      if (x.rank() != 2 || x.cols() != d_)
        throw ShapeError("MultiHeadVQ::apply: table " + x.shape().str() + " must be [rows, d = " + std::to_string(d_) + "]");
      const index_t R = x.rows();
      Domain* dom = find(domain);
      if (cfg_.residual && (!dom || !dom->residual))
        throw ConfigError("MultiHeadVQ::apply: domain " + std::to_string(domain) + " was not added (residual needs add_domain)");
      if (dom && dom->rows != R)
        throw ShapeError("MultiHeadVQ::apply: domain " + std::to_string(domain) + " was added with " +
                         std::to_string(dom->rows) + " rows, table has " + std::to_string(R));
      const bool training = t.training() && t.recording();
      Var<T, B> z = head_project(cfg_.stop_table_gradient ? t.leaf(x) : table, t.param(*proj_));
      if (training && cfg_.data_init && !initialised()) init_from(z.value());
      const double cb_weight = cfg_.ema ? 0.0 : 1.0;
      VQAssignment<T, B> a = vq_assign(z, t.param(*codebook_), cfg_.beta, cb_weight, 1);
      Var<T, B> items = ops::linear(a.quantized, t.param(*out_));
      if (cfg_.residual) items = add_rows_from(items, t.param(*dom->residual), 1);
      if (cfg_.skip) items = add_rows_from(items, table, 1);
      const std::int32_t* codes = a.codes;  // host codes from here on
      if constexpr (!B::is_host) {
        // One copy of the H x R codes per apply (bookkeeping below is host work).
        host_codes_.resize(static_cast<std::size_t>(H_ * R));
        memory<B>::context().memcpy(host_codes_.data(), a.codes, host_codes_.size() * sizeof(std::int32_t), 1);
        codes = host_codes_.data();
      }
      if (dom) std::copy_n(codes, H_ * R, dom->codes.data());
      if (training) {
        ++step_;
        if (cfg_.ema) {
          if constexpr (B::is_host) ema_update(t, z.value(), codes);
          else cuda::vq_ema_update(memory<B>::context(), z.value(), a.codes, cfg_.decay, cfg_.ema_epsilon,
                                   ema_count_->value, ema_sum_->value, codebook_->value);
        }
        track_and_restart(z.value(), codes);
      }
      Var<T, B> aux = a.loss;
      if (aux.valid() && cfg_.loss_weight != 1.0) aux = ops::scale(aux, cfg_.loss_weight);
      return {items, aux, cfg_.input_only ? table : Var<T, B>{}};
    }

    /// Usage of the codes of the last apply() on `domain`, over rows [first, end) (end < 0: all rows).
    CodebookUsage usage(int domain, index_t first = 1, index_t end = -1) const {
      const Domain& dom = domain_at(domain);
      if (end < 0) end = dom.rows;
      if (first < 0 || end > dom.rows || first > end)
        throw ShapeError("MultiHeadVQ::usage: rows [" + std::to_string(first) + ", " + std::to_string(end) +
                         ") outside the domain's " + std::to_string(dom.rows) + " rows");
      if (dom.rows > 1 && dom.codes[static_cast<std::size_t>(first > 0 ? first : 1)] < 0)
        throw ConfigError("MultiHeadVQ::usage: domain " + std::to_string(domain) + " has not been quantized yet");
      return codebook_usage(dom.codes.data(), H_, dom.rows, 1, std::max<index_t>(first, 1), end, K_);
    }
    /// Codes [H, rows] (head-major) of the last apply() on `domain`; -1 for padding.
    const std::vector<std::int32_t>& codes(int domain) const { return domain_at(domain).codes; }
    index_t restarts() const { return restarts_; }
    std::int64_t training_steps() const { return step_; }
    int heads() const { return static_cast<int>(H_); }
    index_t codebook_size() const { return K_; }
    index_t code_dim() const { return dc_; }
    Parameter<T, B>& codebook() { return *codebook_; }
    Parameter<T, B>& projection() { return *proj_; }
    Parameter<T, B>& output() { return *out_; }
    Parameter<T, B>* residual(int domain) { return find(domain) ? find(domain)->residual : nullptr; }

   private:
    struct Domain {
      index_t rows = 0;
      std::vector<std::int32_t> codes;  ///< [H, rows]
      Parameter<T, B>* residual = nullptr;
    };
    Domain* find(int k) {
      return k >= 0 && static_cast<std::size_t>(k) < domains_.size() && domains_[static_cast<std::size_t>(k)].rows > 0
                 ? &domains_[static_cast<std::size_t>(k)] : nullptr;
    }
    const Domain& domain_at(int k) const {
      if (k < 0 || static_cast<std::size_t>(k) >= domains_.size() || domains_[static_cast<std::size_t>(k)].rows == 0)
        throw ConfigError("MultiHeadVQ: unknown domain " + std::to_string(k) + " (call add_domain first)");
      return domains_[static_cast<std::size_t>(k)];
    }
    /// Row r >= 1 of head h of the projected table.
    const T* zrow(const Tensor<T>& z, index_t r, index_t h) const { return z.data() + r * H_ * dc_ + h * dc_; }
    index_t random_row(index_t R) { return 1 + static_cast<index_t>(rng_.below(static_cast<std::uint64_t>(R - 1))); }

    /// Whether the codebooks were data-initialised (on a device: one scalar copied back per call).
    bool initialised() const {
      if constexpr (B::is_host) return initialised_->value[0] != T(0);
      else return memory<B>::to_host(initialised_->value)[0] != T(0);
    }

    /// Host views of the codebook and the EMA state for data init and restarts:
    /// the parameters' own storage on the host; on a device copies, written
    /// back by store().
    struct HostState {
      Tensor<T> codebook, ema_sum, ema_count;
      bool empty() const { return codebook.empty(); }
    };
    HostState host_state() const {
      HostState s{memory<B>::to_host(codebook_->value), {}, {}};
      if (cfg_.ema) {
        s.ema_sum = memory<B>::to_host(ema_sum_->value);
        s.ema_count = memory<B>::to_host(ema_count_->value);
      }
      return s;
    }
    void store(const HostState& s) {
      if constexpr (!B::is_host) {
        memory<B>::upload(s.codebook, codebook_->value);
        if (cfg_.ema) {
          memory<B>::upload(s.ema_sum, ema_sum_->value);
          memory<B>::upload(s.ema_count, ema_count_->value);
        }
      } else {
        (void)s;
      }
    }

    void set_code(HostState& s, index_t h, index_t j, const T* v) {
      std::copy_n(v, dc_, s.codebook.data() + (h * K_ + j) * dc_);
      if (cfg_.ema) {
        std::copy_n(v, dc_, s.ema_sum.data() + (h * K_ + j) * dc_);
        s.ema_count[h * K_ + j] = T(1);
      }
    }

    /// Codebooks from random distinct projected rows (with repetition only when rows - 1 < K).
    /// On a device: runs once, on host copies of z and the codebook.
    void init_from(const TensorOf<T, B>& z_b) {
      memory<B>::fill(initialised_->value, T(1));
      const Tensor<T> z = memory<B>::to_host(z_b);
      const index_t R = z.rows(), n = R - 1;
      if (n < 1) return;
      HostState cb = host_state();
      std::vector<index_t> idx(static_cast<std::size_t>(n));
      for (index_t h = 0; h < H_; ++h) {
        std::iota(idx.begin(), idx.end(), index_t(1));
        for (index_t j = 0; j < K_; ++j) {
          const index_t m = j % n;
          if (m == 0) std::iota(idx.begin(), idx.end(), index_t(1));
          const index_t s = m + static_cast<index_t>(rng_.below(static_cast<std::uint64_t>(n - m)));
          std::swap(idx[static_cast<std::size_t>(m)], idx[static_cast<std::size_t>(s)]);
          set_code(cb, h, j, zrow(z, idx[static_cast<std::size_t>(m)], h));
        }
      }
      store(cb);
    }

    /// EMA codebook update (VQ-VAE appendix; Laplace smoothing as in Razavi et al. 2019).
    void ema_update(Tape<T, B>& t, const Tensor<T>& z, const std::int32_t* codes) {
      const index_t R = z.rows();
      const double g = cfg_.decay, eps = cfg_.ema_epsilon;
      Tensor<T> cnt = t.zeros(Shape{K_}), sum = t.zeros(Shape{K_, dc_});
      for (index_t h = 0; h < H_; ++h) {
        cnt.zero();
        sum.zero();
        for (index_t r = 1; r < R; ++r) {
          const index_t j = codes[h * R + r];
          cnt[j] += T(1);
          const T* zr = zrow(z, r, h);
          for (index_t e = 0; e < dc_; ++e) sum[j * dc_ + e] += zr[e];
        }
        T* N = ema_count_->value.data() + h * K_;
        T* M = ema_sum_->value.data() + h * K_ * dc_;
        double total = 0;
        for (index_t j = 0; j < K_; ++j) {
          N[j] = static_cast<T>(g * N[j] + (1 - g) * cnt[j]);
          total += static_cast<double>(N[j]);
        }
        for (index_t j = 0; j < K_; ++j) {
          const double smoothed = (static_cast<double>(N[j]) + eps) / (total + static_cast<double>(K_) * eps) * total;
          T* c = codebook_->value.data() + (h * K_ + j) * dc_;
          for (index_t e = 0; e < dc_; ++e) {
            M[j * dc_ + e] = static_cast<T>(g * M[j * dc_ + e] + (1 - g) * sum[j * dc_ + e]);
            c[e] = static_cast<T>(M[j * dc_ + e] / smoothed);
          }
        }
      }
    }

    /// `codes` are host codes. A restart (rare) copies z and the codebook to the host on a device.
    void track_and_restart(const TensorOf<T, B>& z_b, const std::int32_t* codes) {
      const index_t R = z_b.rows();
      for (index_t h = 0; h < H_; ++h)
        for (index_t r = 1; r < R; ++r) last_used_[static_cast<std::size_t>(h * K_ + codes[h * R + r])] = step_;
      if (cfg_.dead_after <= 0 || R < 2) return;
      Tensor<T> z;  // host copies, taken at the first restart of this call
      HostState cb;
      for (index_t h = 0; h < H_; ++h)
        for (index_t j = 0; j < K_; ++j) {
          auto& last = last_used_[static_cast<std::size_t>(h * K_ + j)];
          if (step_ - last < cfg_.dead_after) continue;
          if (cb.empty()) {
            z = memory<B>::to_host(z_b);
            cb = host_state();
          }
          set_code(cb, h, j, zrow(z, random_row(R), h));
          last = step_;
          ++restarts_;
        }
      if (!cb.empty()) store(cb);
    }

    nn::ParameterStore<T, B>* store_;
    Config cfg_;
    index_t d_, H_, K_, dc_;
    Rng rng_;
    Parameter<T, B>* proj_ = nullptr;
    Parameter<T, B>* codebook_ = nullptr;
    Parameter<T, B>* out_ = nullptr;
    Parameter<T, B>* initialised_ = nullptr;
    Parameter<T, B>* ema_count_ = nullptr;
    Parameter<T, B>* ema_sum_ = nullptr;
    std::vector<Domain> domains_;
    std::vector<std::int64_t> last_used_;  ///< [H, K] training step of last use
    std::vector<std::int32_t> host_codes_;  ///< device only: the last apply's codes copied back
    std::int64_t step_ = 0;
    index_t restarts_ = 0;
  };
};

}  // namespace metarec::quantizers
