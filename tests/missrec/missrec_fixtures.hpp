#pragma once
// Shared helpers of the MISSRec tests: a small model config, random item
// features and a learnable toy domain.
#include <string>
#include <utility>
#include <vector>

#include "metarec/data/split.hpp"
#include "metarec/multimodal/missrec_train.hpp"

namespace missrec_test {
using namespace metarec;
using namespace metarec::multimodal;

/// d 8, 2 heads, FFN 16, max_len 10, one feature file per entry of dims.
inline MissrecConfig small_config(std::vector<index_t> dims, bool prefixes = true) {
  MissrecConfig c;
  c.d = 8;
  c.heads = 2;
  c.inner = 16;
  c.max_len = 10;
  c.dropout = 0.1;
  c.attn_dropout = 0.1;
  c.feature_dims = std::move(dims);
  c.prefix_samples = prefixes;
  c.interest_ratio = 0.5;
  return c;
}

/// Random features [n + 1, f] (row 0 = padding zeros).
inline Tensor<float> features(index_t n, index_t f, Rng& rng) {
  Tensor<float> x({n + 1, f});
  for (index_t i = f; i < x.size(); ++i) x[i] = static_cast<float>(rng.normal());
  return x;
}

/// Users walk the item ring: next item = previous + 1 (mod n); a learnable pattern.
inline data::Split ring_split(const std::string& name, index_t n, int users, Rng& rng) {
  data::Domain d;
  d.name = name;
  d.n_items = static_cast<std::int32_t>(n);
  for (int u = 0; u < users; ++u) {
    std::vector<std::int32_t> s;
    auto item = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(n)));
    const int len = 4 + static_cast<int>(rng.below(5));
    for (int j = 0; j < len; ++j) s.push_back(1 + (item + j) % static_cast<std::int32_t>(n));
    d.sequences.push_back(s);
    d.user_names.push_back(std::to_string(u));
  }
  d.item_names.assign(static_cast<std::size_t>(n + 1), "i");
  return data::split_leave_one_out(d);
}

}  // namespace missrec_test
