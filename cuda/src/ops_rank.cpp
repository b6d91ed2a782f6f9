/// @file ops_rank.cpp
/// Host glue of the device full ranking (ops_rank.hpp).
#include <string>

#include "launch.hpp"
#include "metarec/cuda/ops_rank.hpp"

namespace metarec::cuda {

template <class T>
void target_ranks(Context& ctx, const DeviceTensor<T>& scores, const DeviceTensor<std::int32_t>& targets,
                  const std::int32_t* history_offsets, const std::int32_t* history_items,
                  const DeviceTensor<std::int64_t>& ranks) {
  expect_rank("cuda::target_ranks", "scores", scores.shape(), 2);
  const index_t rows = scores.dim(0), row_len = scores.dim(1);
  if (targets.size() != rows || ranks.size() != rows)
    throw ShapeError("cuda::target_ranks: " + std::to_string(rows) + " score rows, " + std::to_string(targets.size()) +
                     " targets and " + std::to_string(ranks.size()) + " rank slots");
  if (history_offsets)
    launch::mask_history(ctx.stream(), scores.data(), row_len, targets.data(), history_offsets, history_items, rows);
  launch::target_ranks(ctx.stream(), scores.data(), row_len, targets.data(), ranks.data(), rows);
}

template void target_ranks<float>(Context&, const DeviceTensor<float>&, const DeviceTensor<std::int32_t>&,
                                  const std::int32_t*, const std::int32_t*, const DeviceTensor<std::int64_t>&);
template void target_ranks<double>(Context&, const DeviceTensor<double>&, const DeviceTensor<std::int32_t>&,
                                   const std::int32_t*, const std::int32_t*, const DeviceTensor<std::int64_t>&);

}  // namespace metarec::cuda
