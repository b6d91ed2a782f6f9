#pragma once
/// @file product_quantizer.hpp
/// VQ-Rec style fixed item codes (Hou et al. 2023, "Learning Vector-Quantized
/// Item Representation for Transferable Sequential Recommenders"): the item
/// feature vectors (e.g. text embeddings) are split into D sub-spaces; each
/// sub-space gets M centroids by k-means (product quantization, Jegou et al.
/// 2011); an item's codes are its nearest centroid per sub-space, fixed
/// during training, and its representation is the mean of its D learned code
/// embeddings (table "quantizer.code_embedding" [D*M, d], shared by all
/// domains, trainable).
///
/// Features: `set_features(domain, F)` with F a float [n, f] matrix whose
/// row i is the item of table row i (row 0 = padding, ignored; the
/// data::features convention [n_items + 1, f]); n may be smaller than the
/// table (rows past n, e.g. BERT4Rec's [MASK], have no features).
/// Items without features (rows past n, or an all-zero feature row, the
/// missing-modality convention) keep their own ID embedding row of the
/// domain's item table; a domain without any features is the identity.
///
/// Centroids are fit once, on the features of every domain set so far, by
/// fit() or by the first apply() of a domain that has features; domains
/// whose features arrive later are coded with the same centroids, so codes
/// mean the same thing in every domain. Everything is deterministic given
/// the quantizer seed and the order of set_features calls; the centroids are
/// not parameters, so a restored model re-derives its codes by repeating
/// the set_features calls.
#include <cstdint>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/model/concepts.hpp"
#include "metarec/numeric/kmeans.hpp"
#include "metarec/quantizers/usage.hpp"
#include "metarec/quantizers/vq_ops.hpp"

namespace metarec::quantizers {

struct ProductQuantizer {
  static constexpr const char* name = "pq";

  struct Config {
    int subspaces = 32;         ///< D sub-spaces of the item features
    index_t codewords = 256;    ///< M codewords per sub-space
    int kmeans_iters = 25;      ///< Lloyd iterations of the k-means
    std::uint64_t seed = 17;    ///< seeds the k-means

    template <class V>
    void visit(V&& v) {
      v("pq_subspaces", subspaces, "pq: sub-spaces D of the item features");
      v("pq_codewords", codewords, "pq: codewords M per sub-space");
      v("pq_kmeans_iters", kmeans_iters, "pq: Lloyd iterations of the k-means");
    }
    void validate(const ModelConfig&) const {
      check_range("quantizer.pq_subspaces", subspaces, 1, 1 << 16);
      check_range<index_t>("quantizer.pq_codewords", codewords, 2, index_t(1) << 24);
      check_range("quantizer.pq_kmeans_iters", kmeans_iters, 1, 1 << 20);
    }
  };

  template <class T, class B = backend::Cpu>
  class Model {
   public:
    Model(nn::ParameterStore<T, B>& store, const ModelConfig& config, const Config& pq, Rng& rng)
        : cfg_((pq.validate(config), pq)), D_(cfg_.subspaces), M_(cfg_.codewords) {
      codes_table_ = &store.add("quantizer.code_embedding", {D_ * M_, config.d}, nn::Init::normal(config.init_std), rng);
    }

    void add_domain(int domain, index_t rows) { slot(domain).rows = rows; }

    /// Item features of `domain` (see the file comment); copied.
    void set_features(int domain, const Tensor<float>& features) {
      expect_rank("ProductQuantizer::set_features", "features", features.shape(), 2);
      const index_t f = features.cols();
      if (f < D_)
        throw ConfigError("ProductQuantizer: feature dimension " + std::to_string(f) + " is smaller than quantizer.pq_subspaces = " +
                          std::to_string(D_));
      if (f_ != 0 && f != f_)
        throw ShapeError("ProductQuantizer::set_features: domain " + std::to_string(domain) + " has feature dimension " +
                         std::to_string(f) + ", earlier domains " + std::to_string(f_));
      Domain& dom = slot(domain);
      if (dom.rows > 0 && features.rows() > dom.rows)
        throw ShapeError("ProductQuantizer::set_features: " + std::to_string(features.rows()) +
                         " feature rows for a domain of " + std::to_string(dom.rows) + " table rows");
      f_ = f;
      dom.features = features.clone();
      dom.codes.clear();
      if (fitted_) encode(dom);
    }

    /// Learns the centroids of every sub-space from all features set so far.
    void fit() {
      std::vector<float> pts;
      index_t n = 0;
      for (auto& dom : domains_)
        for (index_t r = 1; r < dom.features.rows(); ++r)
          if (has_features(dom, r)) {
            pts.insert(pts.end(), dom.features.data() + r * f_, dom.features.data() + (r + 1) * f_);
            ++n;
          }
      if (n == 0) throw ConfigError("ProductQuantizer::fit: no item has features (call set_features first)");
      centroids_.clear();
      std::vector<float> sub(static_cast<std::size_t>(n * f_));
      for (index_t s = 0; s < D_; ++s) {
        const index_t a = begin(s), w = begin(s + 1) - a;
        for (index_t i = 0; i < n; ++i)
          std::copy_n(pts.data() + i * f_ + a, w, sub.data() + i * w);
        numeric::KMeansOptions o;
        o.k = std::min(M_, n);
        o.max_iter = cfg_.kmeans_iters;
        o.seed = cfg_.seed + static_cast<std::uint64_t>(s);
        centroids_.push_back(numeric::kmeans(sub.data(), n, w, o).centroids);
      }
      fitted_ = true;
      for (auto& dom : domains_) encode(dom);
    }

    QuantizedItems<T, B> apply(Tape<T, B>& t, Var<T, B> table, int domain) {
      Domain* dom = find(domain);
      if (!dom || dom->features.empty()) return {table, {}};
      if (!fitted_) fit();
      const index_t R = table.shape()[0];
      if (static_cast<index_t>(dom->codes.size()) != R * D_) {
        if (dom->features.rows() > R)
          throw ShapeError("ProductQuantizer::apply: domain " + std::to_string(domain) + " has " +
                           std::to_string(dom->features.rows()) + " feature rows but a table of " + std::to_string(R));
        dom->rows = R;
        encode(*dom);
      }
      return {code_mean(table, t.param(*codes_table_), dom->codes.data(), D_, 1), {}};
    }

    /// Codes [rows, D] of `domain` (global code ids s*M + c; -1 = no features).
    const std::vector<std::int32_t>& codes(int domain) const { return at(domain).codes; }
    /// Usage over the domain's items that have features (code ids local to each sub-space).
    CodebookUsage usage(int domain) const {
      const Domain& dom = at(domain);
      std::vector<std::int32_t> local;
      for (std::size_t i = 0; i + static_cast<std::size_t>(D_) <= dom.codes.size(); i += static_cast<std::size_t>(D_))
        if (dom.codes[i] >= 0)
          for (index_t s = 0; s < D_; ++s) local.push_back(dom.codes[i + static_cast<std::size_t>(s)] - static_cast<std::int32_t>(s * M_));
      const index_t n = static_cast<index_t>(local.size()) / D_;
      return codebook_usage(local.data(), D_, 1, D_, 0, n, M_);
    }
    bool fitted() const { return fitted_; }
    Parameter<T, B>& code_embedding() { return *codes_table_; }

   private:
    struct Domain {
      index_t rows = 0;
      Tensor<float> features;
      std::vector<std::int32_t> codes;  ///< [rows, D]
    };
    Domain& slot(int k) {
      if (k < 0) throw ConfigError("ProductQuantizer: negative domain index " + std::to_string(k));
      if (static_cast<std::size_t>(k) >= domains_.size()) domains_.resize(static_cast<std::size_t>(k) + 1);
      return domains_[static_cast<std::size_t>(k)];
    }
    Domain* find(int k) { return k >= 0 && static_cast<std::size_t>(k) < domains_.size() ? &domains_[static_cast<std::size_t>(k)] : nullptr; }
    const Domain& at(int k) const {
      if (k < 0 || static_cast<std::size_t>(k) >= domains_.size())
        throw ConfigError("ProductQuantizer: unknown domain " + std::to_string(k));
      return domains_[static_cast<std::size_t>(k)];
    }
    index_t begin(index_t s) const { return s * f_ / D_; }
    bool has_features(const Domain& dom, index_t r) const {
      const float* x = dom.features.data() + r * f_;
      for (index_t e = 0; e < f_; ++e)
        if (x[e] != 0.0f) return true;
      return false;
    }
    /// Nearest centroid per sub-space for every featured row (one blocked search per sub-space).
    void encode(Domain& dom) {
      const index_t R = std::max(dom.rows, dom.features.rows()), n = dom.features.rows() - 1;
      dom.codes.assign(static_cast<std::size_t>(R * D_), -1);
      if (n < 1) return;
      std::vector<float> norms(static_cast<std::size_t>(M_)), scratch(static_cast<std::size_t>(numeric::nearest_scratch_size(M_)));
      std::vector<std::int32_t> nearest(static_cast<std::size_t>(n));
      for (index_t s = 0; s < D_; ++s) {
        const Tensor<float>& c = centroids_[static_cast<std::size_t>(s)];
        const index_t a = begin(s), w = begin(s + 1) - a, k = c.dim(0);
        numeric::row_norms(c.data(), k, w, w, norms.data());
        numeric::nearest_centroids(dom.features.data() + f_ + a, n, w, f_, c.data(), k, w, norms.data(),
                                      nearest.data(), static_cast<float*>(nullptr), scratch.data());
        for (index_t r = 1; r <= n; ++r)
          if (has_features(dom, r))
            dom.codes[static_cast<std::size_t>(r * D_ + s)] = static_cast<std::int32_t>(s * M_ + nearest[static_cast<std::size_t>(r - 1)]);
      }
    }

    Config cfg_;
    index_t D_, M_, f_ = 0;
    Parameter<T, B>* codes_table_ = nullptr;
    std::vector<Domain> domains_;
    std::vector<Tensor<float>> centroids_;
    bool fitted_ = false;
  };
};

}  // namespace metarec::quantizers
