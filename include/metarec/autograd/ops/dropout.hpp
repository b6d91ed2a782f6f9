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

namespace metarec::ops {

/// Throws ConfigError unless 0 <= p < 1.
inline void check_dropout_p(const char* op, double p) {
  if (!(p >= 0.0 && p < 1.0))
    throw ConfigError(std::string(op) + ": drop probability p = " + std::to_string(p) + " is out of range [0, 1)");
}

/// Fills keep[0..n) with 1 (keep, probability 1-p) or 0 (drop), drawing one
/// seed from `rng`. Reusable by fused ops that drop inside a kernel.
inline void draw_keep_mask(Rng& rng, double p, std::uint8_t* keep, index_t n) {
  constexpr index_t chunk = 8192;
  const std::uint64_t base = rng.next();
  // Each 64-bit draw yields two 32-bit uniforms; drop when u < p * 2^32.
  const auto threshold = static_cast<std::uint64_t>(p * 4294967296.0);
  const index_t chunks = (n + chunk - 1) / chunk;
  METAREC_PARALLEL_FOR(n)
  for (index_t c = 0; c < chunks; ++c) {
    Rng r(base + static_cast<std::uint64_t>(c));
    const index_t end = std::min(n, (c + 1) * chunk);
    for (index_t i = c * chunk; i < end; i += 2) {
      const std::uint64_t u = r.next();
      keep[i] = (u & 0xffffffffULL) >= threshold;
      if (i + 1 < end) keep[i + 1] = (u >> 32) >= threshold;
    }
  }
}

namespace detail {
template <class T>
void dropout_backward(Tape<T>& t, Node<T>& n) {
  const auto* keep = static_cast<const std::uint8_t*>(n.ptr[0]);
  const T scale = static_cast<T>(n.real[0]);
  const T* g = n.grad.data();
  T* gx = t.grad(n.in[0]).data();
  const index_t total = n.value.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) gx[i] += scale * static_cast<T>(keep[i]) * g[i];  // branch-free: vectorises
}
}  // namespace detail

/// Inverted dropout with drop probability p in [0, 1). Returns x itself (no
/// node, no random draw) in eval mode or when p == 0.
template <class T>
Var<T> dropout(Var<T> x, double p) {
  check_dropout_p("dropout", p);
  Tape<T>& t = *x.tape;
  if (!t.training() || p == 0.0) return x;
  const Tensor<T>& xv = x.value();
  const index_t total = xv.size();
  auto* keep = t.template alloc_n<std::uint8_t>(total);
  draw_keep_mask(t.rng(), p, keep, total);
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  Tensor<T> y = t.alloc(xv.shape());
  const T* xp = xv.data();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) y[i] = scale * static_cast<T>(keep[i]) * xp[i];
  Var<T> out = t.record("dropout", y, {x}, &detail::dropout_backward<T>);
  t.node(out).ptr[0] = keep;
  t.node(out).real[0] = 1.0 / (1.0 - p);
  return out;
}

}  // namespace metarec::ops
