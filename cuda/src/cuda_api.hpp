#pragma once
/// @file cuda_api.hpp
/// The one switch point between the CUDA toolkit and its host emulation: the
/// kernels and the glue include this header instead of <cuda_runtime.h> and
/// <cublas_v2.h>. With METAREC_CUDA_HOST_EMULATION=1 (the metarec_cuda_emulated
/// library, compiled by the host C++ compiler) the same names come from
/// emulation/cuda_emulation.hpp: host memory, synchronous streams, kernels run
/// as loops over the grid, GEMM through metarec::gemm.
#if defined(METAREC_CUDA_HOST_EMULATION) && METAREC_CUDA_HOST_EMULATION
#include "emulation/cuda_emulation.hpp"
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif
