#pragma once
/// @file dropout.hpp
/// Inverted dropout (Srivastava et al. 2014): in training, each element is
/// zeroed with probability p and the survivors scaled by 1/(1-p), so eval mode
/// is the identity. Masks come from the tape's Rng: one 64-bit seed per call,
/// then an independent stream per fixed-size chunk, so masks are drawn in
/// parallel yet depend only on the tape seed (not on the thread count).
#include <algorithm>
#include <cstdint>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/cuda/element_ops.hpp"

namespace metarec::ops {

/// Throws ConfigError unless 0 <= p < 1.
inline void check_dropout_p(const char* op, double p) {
  if (!(p >= 0.0 && p < 1.0))
    throw ConfigError(std::string(op) + ": drop probability p = " + std::to_string(p) + " is out of range [0, 1)");
}

/// Elements per independent random stream of a keep mask (fixed, so masks do not depend on the thread count).
inline constexpr index_t keep_mask_chunk_size = 8192;
/// Drop when a 32-bit uniform is below p * 2^32.
inline std::uint64_t keep_threshold(double p) { return static_cast<std::uint64_t>(p * 4294967296.0); }

/// Fills keep[0..n) with 1 (keep, probability 1-p) or 0 (drop), drawing one
/// seed from `rng`. Reusable by fused ops that drop inside a kernel.
inline void draw_keep_mask(Rng& rng, double p, std::uint8_t* keep, index_t n) {
  const std::uint64_t base = rng.next();
  const std::uint64_t threshold = keep_threshold(p);
  const index_t chunks = (n + keep_mask_chunk_size - 1) / keep_mask_chunk_size;
  METAREC_PARALLEL_FOR(n)
  for (index_t c = 0; c < chunks; ++c)
    cuda::elem::keep_mask_chunk(base + static_cast<std::uint64_t>(c), threshold, keep, c * keep_mask_chunk_size,
                                std::min(n, (c + 1) * keep_mask_chunk_size));
}

namespace detail {
template <class T, class B = backend::Cpu>
void dropout_backward(Tape<T, B>& t, Node<T, B>& n) {
  const auto* keep = static_cast<const std::uint8_t*>(n.ptr[0]);
  if constexpr (!B::is_host) {
    cuda::dropout_backward(memory<B>::context(), keep, n.real[0], n.grad, t.grad(n.in[0]));
    return;
  } else {
  const T scale = static_cast<T>(n.real[0]);
  const T* g = n.grad.data();
  T* gx = t.grad(n.in[0]).data();
  const index_t total = n.value.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) gx[i] += scale * static_cast<T>(keep[i]) * g[i];  // branch-free: vectorises
  }
}
}  // namespace detail

/// Inverted dropout with drop probability p in [0, 1). Returns x itself (no
/// node, no random draw) in eval mode or when p == 0.
template <class T, class B = backend::Cpu>
Var<T, B> dropout(Var<T, B> x, double p) {
  check_dropout_p("dropout", p);
  Tape<T, B>& t = *x.tape;
  if (!t.training() || p == 0.0) return x;
  const TensorOf<T, B>& xv = x.value();
  const index_t total = xv.size();
  auto* keep = t.template alloc_n<std::uint8_t>(total);  // in the tape's memory: the mask is drawn where it is used
  TensorOf<T, B> y = t.alloc(xv.shape());
  if constexpr (B::is_host) {
    draw_keep_mask(t.rng(), p, keep, total);
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    const T* xp = xv.data();
    METAREC_PARALLEL_FOR(total)
    for (index_t i = 0; i < total; ++i) y[i] = scale * static_cast<T>(keep[i]) * xp[i];
  } else {  // the same streams as draw_keep_mask, so the mask equals the host's for the same tape seed
    cuda::dropout_keep_mask(memory<B>::context(), t.rng().next(), p, keep, total);
    cuda::dropout_forward(memory<B>::context(), xv, keep, 1.0 / (1.0 - p), y);
  }
  Var<T, B> out = t.record("dropout", y, {x}, &detail::dropout_backward<T, B>);
  t.node(out).ptr[0] = keep;
  t.node(out).real[0] = 1.0 / (1.0 - p);
  return out;
}

}  // namespace metarec::ops
