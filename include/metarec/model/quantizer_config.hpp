#pragma once
/// @file quantizer_config.hpp
/// Runtime settings of the MultiHeadVQ and ProductQuantizer policies, kept
/// beside ModelConfig (which holds them) until each policy owns its Config
/// (ModelConfig::quantizer). Field ranges are checked by validate(d), which
/// ModelConfig::validate runs for every model; the checks that only matter
/// for one policy (heads dividing d) run when that policy is constructed, so
/// an Identity model with an odd d is not rejected for a VQ setting it never uses.
#include <cstdint>
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::quantizers {

struct QuantizerConfig {
  // ---- MultiHeadVQ (MetaRec, SPEC 3.1) ----
  int heads = 4;                  ///< H: item embedding split into H heads of d/H
  index_t codebook_size = 256;    ///< K codewords per head (shared by all domains)
  index_t code_dim = 16;          ///< d_c: projected head size (0 = d/H)
  double beta = 0.25;             ///< commitment weight
  double loss_weight = 1.0;       ///< multiplies the whole VQ loss added to the training loss
  bool ema = false;               ///< EMA codebook updates instead of the codebook loss term
  double decay = 0.99;            ///< EMA decay, in (0, 1)
  double ema_epsilon = 1e-5;      ///< Laplace smoothing of the EMA cluster sizes
  int dead_after = 200;           ///< restart codes unused for this many training applies (0 = never)
  bool data_init = true;          ///< initialise the codebooks from projected item vectors on first training use
  bool residual = false;          ///< per-domain learned residual [rows, d] (zero-initialised) added to the output
  /// Skip connection: the un-quantized item row itself is added to the output (item = out(q(P e)) + e), so
  /// every item keeps its own identity from the first step and the quantized part is a shared correction.
  bool skip = false;
  /// The quantized path sends no gradient into the item table (its projection and codebooks still learn):
  /// the table then learns only through `skip` (or not at all). A diagnostic for what the
  /// straight-through gradient costs the item embeddings.
  bool stop_table_gradient = false;
  /// The quantized representations feed the sequence encoder only; items are scored against their own
  /// table rows, so items that share codes keep separate scores (the shared codes transfer through the input).
  bool input_only = false;
  // ---- ProductQuantizer (VQ-Rec) ----
  int pq_subspaces = 32;          ///< D sub-spaces of the item features
  index_t pq_codewords = 256;     ///< M codewords per sub-space
  int pq_kmeans_iters = 25;       ///< Lloyd iterations of the PQ k-means
  std::uint64_t seed = 17;        ///< seeds codebook init, restarts and PQ k-means

  /// Throws ConfigError naming the first field out of range. `d` is the model width.
  void validate(index_t d) const {
    check_range("quantizer.heads", heads, 1, 1 << 16);
    check_range<index_t>("quantizer.codebook_size", codebook_size, 2, index_t(1) << 24);
    check_range<index_t>("quantizer.code_dim", code_dim, 0, 1 << 16);
    check_range("quantizer.beta", beta, 0.0, 1e6);
    check_range("quantizer.loss_weight", loss_weight, 0.0, 1e6);
    if (!(decay > 0.0 && decay < 1.0))
      throw ConfigError("quantizer.decay = " + std::to_string(decay) + " is out of range (0, 1)");
    if (!(ema_epsilon > 0.0)) throw ConfigError("quantizer.ema_epsilon = " + std::to_string(ema_epsilon) + " must be > 0");
    check_range("quantizer.dead_after", dead_after, 0, 1 << 30);
    check_range("quantizer.pq_subspaces", pq_subspaces, 1, 1 << 16);
    check_range<index_t>("quantizer.pq_codewords", pq_codewords, 2, index_t(1) << 24);
    check_range("quantizer.pq_kmeans_iters", pq_kmeans_iters, 1, 1 << 20);
    (void)d;
  }
  /// The MultiHeadVQ-specific checks (run by its constructor).
  void validate_vq(index_t d) const {
    validate(d);
    if (d % heads != 0)
      throw ConfigError("quantizer.heads = " + std::to_string(heads) + " does not divide d = " + std::to_string(d));
    if (stop_table_gradient && !skip && !input_only)
      throw ConfigError("quantizer.stop_table_gradient needs quantizer.skip or quantizer.input_only "
                        "(otherwise the item table never learns)");
  }
  /// Projected head size actually used.
  index_t head_code_dim(index_t d) const { return code_dim > 0 ? code_dim : d / heads; }
};

}  // namespace metarec::quantizers
