#pragma once
/// @file info_nce.hpp
/// In-batch InfoNCE (van den Oord et al. 2018, "Representation Learning with
/// Contrastive Predictive Coding"), as used by MISSRec's sequence-item and
/// sequence-sequence pre-training losses: logits = a b^T / temperature, the
/// positive of row i is column i, the other rows of b are its negatives.
/// It is full_softmax_ce with h = a, items = b, targets = 0..N-1 and a logit
/// scale of 1/temperature, so it reuses the blocked kernel (no N x N matrix).
#include <string>

#include "metarec/autograd/ops/cross_entropy.hpp"

namespace metarec::ops {

/// Mean over rows of -log softmax(a b^T / temperature)[i, i]. a, b: [N, d].
template <class T, class B = backend::Cpu>
Var<T, B> info_nce(Var<T, B> a, Var<T, B> b, double temperature) {
  if (!(temperature > 0) || !std::isfinite(temperature))
    throw ConfigError("info_nce: temperature = " + std::to_string(temperature) + " must be positive and finite");
  expect_rank("info_nce", "a", a.shape(), 2);
  expect_shape("info_nce", "b", b.shape(), a.shape());
  const index_t n = a.shape()[0];
  std::int32_t* targets = a.tape->template alloc_n<std::int32_t>(n);
  for (index_t i = 0; i < n; ++i) targets[i] = static_cast<std::int32_t>(i);
  return detail::full_ce("info_nce", a, b, targets, 0, n, static_cast<T>(1.0 / temperature), 0, 0);
}

}  // namespace metarec::ops
