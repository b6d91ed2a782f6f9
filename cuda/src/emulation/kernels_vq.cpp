// Host emulation build of kernels_vq.cu: the same kernels, compiled by the C++
// compiler (cuda_api.hpp selects cuda_emulation.hpp; see cuda/README.md).
#include "../kernels_vq.cu"
