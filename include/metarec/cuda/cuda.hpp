#pragma once
/// @file cuda.hpp
/// The CUDA backend's host API (link metarec::cuda, built when
/// METAREC_WITH_CUDA=ON and nvcc is found; it defines
/// METAREC_WITH_CUDA_BACKEND=1 for its consumers). No CUDA header is needed.
#include "metarec/cuda/allocator.hpp"
#include "metarec/cuda/context.hpp"
#include "metarec/cuda/element_ops.hpp"
#include "metarec/cuda/ops.hpp"
