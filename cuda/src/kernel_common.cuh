#pragma once
/// @file kernel_common.cuh
/// Launch helpers shared by the .cu files: grid-stride loops over the element
/// bodies of element_ops.hpp, and explicit instantiation for float and double.
/// Also compiled by the host compiler for the emulation (cuda_api.hpp): the
/// launch macros below are the only place where the two differ.
#include <algorithm>

#include "cuda_api.hpp"
#include "launch.hpp"

namespace metarec::cuda::launch {

constexpr int kThreads = 256;

/// Blocks for n elements; grid-stride loops cover any n with at most 8192 blocks.
inline unsigned blocks_for(idx n) {
  return static_cast<unsigned>(std::max<idx>(1, std::min<idx>((n + kThreads - 1) / kThreads, 8192)));
}
inline cudaStream_t as_stream(Stream s) { return static_cast<cudaStream_t>(s); }

}  // namespace metarec::cuda::launch

#define METAREC_GRID_STRIDE(i, n)                                                                      \
  for (::metarec::cuda::elem::idx i = blockIdx.x * static_cast<::metarec::cuda::elem::idx>(blockDim.x) + \
                                      threadIdx.x;                                                     \
       i < (n); i += static_cast<::metarec::cuda::elem::idx>(blockDim.x) * gridDim.x)

#if defined(METAREC_CUDA_HOST_EMULATION) && METAREC_CUDA_HOST_EMULATION
#define METAREC_KERNEL_CALL(kernel, blocks, threads, stream, ...) \
  ::metarec::cuda::emu::launch_threads(kernel, blocks, threads, stream, __VA_ARGS__)
#define METAREC_COOPERATIVE_CALL(kernel, blocks, threads, stream, ...) \
  ::metarec::cuda::emu::launch_blocks(kernel, blocks, threads, stream, __VA_ARGS__)
#define METAREC_BLOCK_THREADS(tid) for (const int tid : ::metarec::cuda::emu::visit(blockDim.x))
#else
#define METAREC_KERNEL_CALL(kernel, blocks, threads, stream, ...) kernel<<<blocks, threads, 0, stream>>>(__VA_ARGS__)
#define METAREC_COOPERATIVE_CALL(kernel, blocks, threads, stream, ...) \
  kernel<<<blocks, threads, 0, stream>>>(__VA_ARGS__)
#define METAREC_BLOCK_THREADS(tid) \
  for (int tid = static_cast<int>(threadIdx.x), tid##_once = 1; tid##_once; tid##_once = 0, __syncthreads())
#endif

/// Launches `kernel` over n elements on the stream and checks the launch (no
/// launch when n == 0). The kernel's threads must be independent (no barrier).
#define METAREC_LAUNCH(kernel, n, stream, ...)                                                              \
  do {                                                                                                      \
    if ((n) > 0) {                                                                                          \
      METAREC_KERNEL_CALL(kernel, ::metarec::cuda::launch::blocks_for(n), ::metarec::cuda::launch::kThreads, \
                          ::metarec::cuda::launch::as_stream(stream), __VA_ARGS__);                         \
      ::metarec::cuda::launch::check(#kernel);                                                              \
    }                                                                                                       \
  } while (0)

/// Launches a cooperative kernel: `blocks` blocks of `threads` threads whose
/// body is a sequence of METAREC_BLOCK_THREADS(tid) phases. On the device each
/// phase is one thread's part followed by __syncthreads(); under emulation the
/// kernel runs once per block and each phase loops over the block's threads,
/// which is exact because the barrier orders everything across the phases.
/// Rules: per-thread values that live across phases go to __shared__ arrays,
/// and every phase is reached by all threads (no return before a phase).
#define METAREC_LAUNCH_COOPERATIVE(kernel, blocks, threads, stream, ...)                                     \
  do {                                                                                                      \
    METAREC_COOPERATIVE_CALL(kernel, static_cast<unsigned>(blocks), static_cast<unsigned>(threads),          \
                             ::metarec::cuda::launch::as_stream(stream), __VA_ARGS__);                      \
    ::metarec::cuda::launch::check(#kernel);                                                                \
  } while (0)

namespace metarec::cuda::launch {
/// Cooperative: folds part[0, blockDim.x) into part[0] by a fixed tree (a max
/// or a sum; blockDim.x a power of two), so the result does not depend on timing.
template <bool Max>
__device__ inline void block_tree(double* part) {
  for (int w = static_cast<int>(blockDim.x) / 2; w > 0; w >>= 1)
    METAREC_BLOCK_THREADS(tid) {
      if (tid < w) part[tid] = Max ? elem::max_(part[tid], part[tid + w]) : part[tid] + part[tid + w];
    }
}
}  // namespace metarec::cuda::launch
