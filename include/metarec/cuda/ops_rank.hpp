#pragma once
/// @file ops_rank.hpp
/// Full-ranking evaluation on the device (eval/ranking.hpp's rule): after a
/// cuBLAS GEMM of a block of users against the item table, each user's
/// history is masked to -inf (the target stays a candidate) and the rank of
/// the target is counted with elem::count_ahead, the host evaluator's body.
/// Only the ranks (one integer per user) come back to the host.
#include <cstdint>

#include "metarec/cuda/context.hpp"

namespace metarec::cuda {

/// scores [R, n_items + 1] (column 0 = padding, never a candidate); targets
/// [R] in 1..n_items; history of row r: items[history_offsets[r] ..
/// history_offsets[r + 1]) (device arrays; null offsets = no masking). The
/// scores are modified (history set to -inf). ranks [R] receives the 0-based
/// rank of each target, or -1 when the target's score is NaN.
template <class T>
void target_ranks(Context& ctx, const DeviceTensor<T>& scores, const DeviceTensor<std::int32_t>& targets,
                  const std::int32_t* history_offsets, const std::int32_t* history_items,
                  const DeviceTensor<std::int64_t>& ranks);

}  // namespace metarec::cuda
