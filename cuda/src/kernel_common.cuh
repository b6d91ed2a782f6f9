#pragma once
/// @file kernel_common.cuh
/// Launch helpers shared by the .cu files: grid-stride loops over the element
/// bodies of element_ops.hpp, and explicit instantiation for float and double.
#include <cuda_runtime.h>

#include <algorithm>

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

/// Launches `kernel` over n elements on the stream and checks the launch (no launch when n == 0).
#define METAREC_LAUNCH(kernel, n, stream, ...)                                                              \
  do {                                                                                                      \
    if ((n) > 0) {                                                                                          \
      kernel<<<::metarec::cuda::launch::blocks_for(n), ::metarec::cuda::launch::kThreads, 0,                \
               ::metarec::cuda::launch::as_stream(stream)>>>(__VA_ARGS__);                                 \
      ::metarec::cuda::launch::check(#kernel);                                                              \
    }                                                                                                       \
  } while (0)
