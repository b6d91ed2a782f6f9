// Host emulation build of kernels_rank.cu (see cuda/README.md).
#include "../kernels_rank.cu"
