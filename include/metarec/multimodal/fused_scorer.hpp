#pragma once
/// @file fused_scorer.hpp
/// Full-ranking scorer for MISSRec's dynamic fusion (SPEC 4): what
/// MISSRecType::make_scorer hands to train::evaluate in place of the
/// dot-product EmbeddingScorer.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "metarec/autograd/ops/fusion.hpp"
#include "metarec/core/error.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::multimodal {

/// Fused MISSRec scores of a user matrix U [n_users, d] against every item:
/// per modality <u, z_m>, fused with softmax(beta s_m) over present modalities,
/// transductive (s_id + 2 s) / 3. Holds tensor handles (shared storage, no copy).
template <class T>
class FusedScorer {
 public:
  static constexpr bool concurrent = true;
  FusedScorer(const Tensor<T>& users, const std::vector<Tensor<T>>& tables, const Tensor<T>& ids,
              const std::uint8_t* present, T beta)
      : U_(users), Z_(tables), ID_(ids), present_(present), beta_(beta) {}

  void operator()(std::span<const std::int32_t> users, T* out, index_t ld) const {
    score_items(users, 0, Z_[0].dim(0), out, ld);
  }
  void score_items(std::span<const std::int32_t> users, index_t first, index_t count, T* out, index_t ld) const {
    const auto m_users = static_cast<index_t>(users.size());
    const index_t d = U_.dim(1), M = static_cast<index_t>(Z_.size()), rows = Z_[0].dim(0);
    if (m_users == 0 || count == 0) return;
    thread_local std::vector<T> u, s;
    u.resize(static_cast<std::size_t>(m_users * d));
    s.resize(static_cast<std::size_t>(m_users * (M + 1) * count));
    for (index_t i = 0; i < m_users; ++i) {
      const std::int32_t r = users[static_cast<std::size_t>(i)];
      if (r < 0 || r >= U_.dim(0)) throw ConfigError("FusedScorer: user " + std::to_string(r) + " out of range");
      std::copy_n(U_.data() + r * d, d, u.data() + i * d);
    }
    // s laid out [user, modality, item] as dynamic_fusion's input.
    for (index_t m = 0; m < M; ++m)
      gemm<T>(false, true, m_users, count, d, T(1), u.data(), d, Z_[static_cast<std::size_t>(m)].data() + first * d, d,
              T(0), s.data() + m * count, M * count);
    T w[ops::max_fused_modalities];
    for (index_t i = 0; i < m_users; ++i)
      for (index_t c = 0; c < count; ++c)
        out[i * ld + c] = ops::detail::fuse_one(s.data() + i * M * count + c, M, count, beta_,
                                                present_ + first + c, rows, w);
    if (ID_.empty()) return;
    T* sid = s.data();  // reuse: [m_users, count]
    gemm<T>(false, true, m_users, count, d, T(1), u.data(), d, ID_.data() + first * d, d, T(0), sid, count);
    for (index_t i = 0; i < m_users; ++i)
      for (index_t c = 0; c < count; ++c) out[i * ld + c] = (sid[i * count + c] + T(2) * out[i * ld + c]) / T(3);
  }

 private:
  Tensor<T> U_;
  std::vector<Tensor<T>> Z_;
  Tensor<T> ID_;
  const std::uint8_t* present_;
  T beta_;
};

}  // namespace metarec::multimodal
