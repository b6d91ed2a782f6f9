#pragma once
/// @file device_ranking.hpp
/// Full ranking on the CUDA device, for models on backend::Cuda: the item
/// table goes up once, then per block of users one cuBLAS GEMM scores every
/// item, a kernel masks the history and another counts each target's rank
/// with the host evaluator's rule (cuda::elem::count_ahead). Only the ranks
/// come back; the metrics are computed from them as on the host. Same ranks
/// as FullRankingEvaluator whenever the scores are the same (float GEMMs
/// may round differently from Eigen's, which can reorder near-ties).
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "metarec/cuda/context.hpp"
#include "metarec/cuda/ops_rank.hpp"
#include "metarec/eval/full_ranking.hpp"
#include "metarec/eval/metrics.hpp"
#include "metarec/eval/ranking.hpp"

namespace metarec::eval {

/// Ranks case c's target against items 1..n_items by the score U[c.user] . E[j]
/// (E: [n_items + 1, d], row 0 = padding). `ranks`, when given, receives the
/// 0-based ranks (size = cases.size()).
template <class T>
Metrics device_full_ranking(cuda::Context& ctx, std::span<const EvalCase> cases, const Tensor<T>& U, const Tensor<T>& E,
                            index_t n_items, const FullRankingOptions& opt, std::span<index_t> ranks = {}) {
  detail::validate_cases("device_full_ranking", cases, n_items);
  expect_shape("device_full_ranking", "item matrix", E.shape(), Shape{n_items + 1, U.cols()});
  if (!ranks.empty() && ranks.size() != cases.size())
    throw ShapeError("device_full_ranking: ranks holds " + std::to_string(ranks.size()) + " entries for " +
                     std::to_string(cases.size()) + " cases");
  const index_t d = U.cols(), row_len = n_items + 1, n = static_cast<index_t>(cases.size());
  // Users per block: at most 2^26 scores (256 MiB of floats) in flight, whole rows.
  const index_t block = std::max<index_t>(1, std::min<index_t>(n, (index_t{1} << 26) / row_len));
  const cuda::DeviceTensor<T> items = cuda::copy_to_device(ctx, E);
  const cuda::DeviceTensor<T> scores = ctx.alloc<T>(Shape{block, row_len});
  const cuda::DeviceTensor<T> users = ctx.alloc<T>(Shape{block, d});
  const cuda::DeviceTensor<std::int32_t> targets = ctx.alloc<std::int32_t>(Shape{block});
  const cuda::DeviceTensor<std::int64_t> block_ranks = ctx.alloc<std::int64_t>(Shape{block});
  Tensor<T> u_host({block, d});
  std::vector<std::int32_t> t_host(static_cast<std::size_t>(block)), offsets, hist;
  Tensor<std::int64_t> r_host({block});
  std::vector<index_t> all(static_cast<std::size_t>(n));
  for (index_t lo = 0; lo < n; lo += block) {
    const index_t rows = std::min(block, n - lo);
    offsets.assign(1, 0);
    hist.clear();
    for (index_t i = 0; i < rows; ++i) {
      const EvalCase& e = cases[static_cast<std::size_t>(lo + i)];
      std::copy_n(U.data() + static_cast<index_t>(e.user) * d, d, u_host.data() + i * d);
      t_host[static_cast<std::size_t>(i)] = e.target;
      if (opt.mask_history) hist.insert(hist.end(), e.history.begin(), e.history.end());
      offsets.push_back(static_cast<std::int32_t>(hist.size()));
    }
    ctx.memcpy(users.data(), u_host.data(), static_cast<std::size_t>(rows * d) * sizeof(T), 0);
    ctx.memcpy(targets.data(), t_host.data(), static_cast<std::size_t>(rows) * sizeof(std::int32_t), 0);
    cuda::DeviceTensor<std::int32_t> dev_offsets, dev_hist;
    if (opt.mask_history) {
      dev_offsets = cuda::copy_to_device(ctx, offsets.data(), static_cast<index_t>(offsets.size()));
      dev_hist = cuda::copy_to_device(ctx, hist.data(), std::max<index_t>(1, static_cast<index_t>(hist.size())));
    }
    const cuda::DeviceTensor<T> s = scores.slice(0, rows);
    cuda::gemm<T>(ctx, false, true, rows, row_len, d, T(1), users.data(), d, items.data(), d, T(0), s.data(), row_len);
    const cuda::DeviceTensor<std::int64_t> r = block_ranks.slice(0, rows);
    cuda::target_ranks(ctx, s, targets.slice(0, rows), opt.mask_history ? dev_offsets.data() : nullptr,
                       opt.mask_history ? dev_hist.data() : nullptr, r);
    cuda::copy_to_host(ctx, r, r_host.slice(0, rows));
    for (index_t i = 0; i < rows; ++i) {
      const std::int64_t v = r_host[i];
      if (v < 0) {
        const EvalCase& e = cases[static_cast<std::size_t>(lo + i)];
        throw NumericError("device_full_ranking: the score of target item " + std::to_string(e.target) +
                           " for user " + std::to_string(e.user) + " is NaN");
      }
      all[static_cast<std::size_t>(lo + i)] = static_cast<index_t>(v);
    }
  }
  if (!ranks.empty()) std::copy(all.begin(), all.end(), ranks.begin());
  return Metrics::from_ranks(all, opt.ks);
}

}  // namespace metarec::eval
