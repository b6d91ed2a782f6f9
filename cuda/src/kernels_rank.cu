/// @file kernels_rank.cu
/// Full-ranking kernels (ops_rank.hpp): history masking, one thread per
/// (row, history entry); the target's rank, one thread per row over the
/// host evaluator's count_ahead body.
#include "kernel_common.cuh"

namespace metarec::cuda::launch {
namespace {

template <class T>
__global__ void k_mask_history(T* scores, idx row_len, const std::int32_t* targets, const std::int32_t* offsets,
                               const std::int32_t* items, idx rows) {
  // One thread per row: histories are short (tens of items) and rows many.
  METAREC_GRID_STRIDE(r, rows) {
    const std::int32_t t = targets[r];
    for (std::int32_t i = offsets[r]; i < offsets[r + 1]; ++i) {
      const std::int32_t h = items[i];
      if (h > 0 && h != t && h < row_len) scores[r * row_len + h] = elem::neg_inf<T>();
    }
  }
}

template <class T>
__global__ void k_target_ranks(const T* scores, idx row_len, const std::int32_t* targets, std::int64_t* ranks,
                               idx rows) {
  METAREC_GRID_STRIDE(r, rows) {
    const T* s = scores + r * row_len;
    const std::int32_t t = targets[r];
    const T st = s[t];
    ranks[r] = elem::is_nan(st) ? -1 : elem::count_ahead(s, 0, 1, row_len, st, t);
  }
}

}  // namespace

template <class T>
void mask_history(Stream s, T* scores, idx row_len, const std::int32_t* targets, const std::int32_t* offsets,
                  const std::int32_t* items, idx rows) {
  METAREC_LAUNCH(k_mask_history<T>, rows, s, scores, row_len, targets, offsets, items, rows);
}
template <class T>
void target_ranks(Stream s, const T* scores, idx row_len, const std::int32_t* targets, std::int64_t* ranks, idx rows) {
  METAREC_LAUNCH(k_target_ranks<T>, rows, s, scores, row_len, targets, ranks, rows);
}

#define METAREC_INSTANTIATE(T)                                                                              \
  template void mask_history<T>(Stream, T*, idx, const std::int32_t*, const std::int32_t*, const std::int32_t*, \
                                idx);                                                                     \
  template void target_ranks<T>(Stream, const T*, idx, const std::int32_t*, std::int64_t*, idx);
METAREC_INSTANTIATE(float)
METAREC_INSTANTIATE(double)
#undef METAREC_INSTANTIATE

}  // namespace metarec::cuda::launch
