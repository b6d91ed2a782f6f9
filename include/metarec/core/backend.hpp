#pragma once
/// @file backend.hpp
/// Backend tag types (Eigen's TensorExecutor<Expr, Device> is the model): a
/// model picks where it runs with one template argument.
#include <concepts>

namespace metarec::backend {

/// Host execution: Eigen GEMM, OpenMP loops. Always available.
struct Cpu {
  static constexpr const char* name = "cpu";
  static constexpr bool is_host = true;
};

/// NVIDIA GPU execution (cuBLAS + kernels in cuda/); only usable when the
/// library was built with METAREC_WITH_CUDA.
struct Cuda {
  static constexpr const char* name = "cuda";
  static constexpr bool is_host = false;
};

}  // namespace metarec::backend

namespace metarec {
/// Contract of a backend tag: a name and whether its memory is host memory.
template <class B>
concept Backend = requires {
  { B::name } -> std::convertible_to<const char*>;
  { B::is_host } -> std::convertible_to<bool>;
};
}  // namespace metarec
