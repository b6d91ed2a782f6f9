#pragma once
/// @file device_util.hpp
/// Helpers of the device tests: skip without a GPU, upload / download.
#include "cuda/cuda_test_util.hpp"
#include "metarec/cuda/cuda.hpp"

/// Ends the test case with a printed reason (and a pass) when no GPU is present.
#define METAREC_REQUIRE_GPU()                                                                              \
  do {                                                                                                     \
    if (::metarec::cuda::Context::device_count() == 0) {                                                  \
      MESSAGE("skipped: no CUDA device (" << ::metarec::cuda::Context::device_count_reason() << ")");     \
      return;                                                                                              \
    }                                                                                                      \
  } while (0)

namespace metarec::test {
template <class T>
cuda::DeviceTensor<T> up(cuda::Context& c, const Tensor<T>& t) { return cuda::copy_to_device(c, t); }
template <class T>
cuda::DeviceTensor<T> up(cuda::Context& c, const std::vector<T>& v) {
  return cuda::copy_to_device(c, v.data(), static_cast<index_t>(v.size()));
}
template <class T>
Tensor<T> down(cuda::Context& c, const cuda::DeviceTensor<T>& t) { return cuda::copy_to_host(c, t); }
}  // namespace metarec::test
