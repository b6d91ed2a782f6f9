#pragma once
/// @file missrec_layers.hpp
/// The interest-aware decoder layer of MISSRec (Wang et al., ACM MM 2023;
/// post-LN as PyTorch's nn.TransformerDecoderLayer, the authors' module):
///   x = LN1(x + Drop(SelfAttn(x)))            over the item tokens [B, L, d]
///   h = LN2(q + Drop(CrossAttn(q, memory)))    q = the rows that need an output
///   h = LN3(h + Drop(FFN(h)))
/// Self-attention is causal: at a sequence's last position this equals the
/// authors' bidirectional decoder (one layer), and it makes the output at
/// position t depend on items <= t only, so every training prefix of a
/// sequence is one row of a single pass (MissrecConfig::prefix_samples).
/// Cross-attention is packed (segment_attention): each query row attends only
/// its own sample's encoded interest tokens.
#include <string>

#include "metarec/autograd/ops/dropout.hpp"
#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/autograd/ops/segment_attention.hpp"
#include "metarec/autograd/ops/shape.hpp"
#include "metarec/nn/attention.hpp"
#include "metarec/nn/feed_forward.hpp"
#include "metarec/nn/layer_norm.hpp"

namespace metarec::multimodal {

template <class T>
class InterestDecoderLayer {
 public:
  InterestDecoderLayer(nn::ParameterStore<T>& store, const std::string& name, index_t d, int heads, index_t inner,
                       double dropout, double attn_dropout, double ln_eps, Rng& rng)
      : self_(store, name + ".self", d, heads, attn_dropout, rng),
        ln1_(store, name + ".ln1", d, ln_eps),
        cross_(store, name + ".cross", d, heads, attn_dropout, rng),
        ln2_(store, name + ".ln2", d, ln_eps),
        ffn_(store, name + ".ffn", d, inner, dropout, rng),
        ln3_(store, name + ".ln3", d, ln_eps),
        dropout_(dropout) {}

  /// Self-attention sub-layer on x [B, L, d] (mask [B, L], nonzero = real).
  Var<T> self_block(Tape<T>& t, Var<T> x, const std::uint8_t* mask) const {
    ops::AttentionOptions opt;
    opt.causal = true;
    opt.key_mask = mask;
    return ln1_(t, ops::add(x, ops::dropout(self_(t, x, x, opt), dropout_)));
  }

  /// Cross-attention + FFN sub-layers for query rows q [Nq, d] in S segments
  /// (q_off) over the packed memory [Nk, d] (k_off). An empty memory attends nothing.
  Var<T> cross_block(Tape<T>& t, Var<T> q, Var<T> memory, const std::int32_t* q_off, const std::int32_t* k_off,
                     index_t segments) const {
    Var<T> a;
    if (memory.shape()[0] > 0) {
      a = ops::segment_attention(cross_.q_proj()(t, q), cross_.k_proj()(t, memory), cross_.v_proj()(t, memory),
                                 cross_.heads(), q_off, k_off, segments, cross_.dropout());
    } else {
      a = t.leaf(t.zeros(q.shape()));
    }
    Var<T> h = ln2_(t, ops::add(q, ops::dropout(cross_.out_proj()(t, a), dropout_)));
    return ln3_(t, ops::add(h, ops::dropout(ffn_(t, h), dropout_)));
  }

 private:
  nn::MultiHeadAttention<T> self_;
  nn::LayerNorm<T> ln1_;
  nn::MultiHeadAttention<T> cross_;  // its q/k/v/out projections around segment_attention
  nn::LayerNorm<T> ln2_;
  nn::FeedForward<T> ffn_;
  nn::LayerNorm<T> ln3_;
  double dropout_;
};

}  // namespace metarec::multimodal
