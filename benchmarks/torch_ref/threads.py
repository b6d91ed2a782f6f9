"""Pin every thread pool to one count. OpenBLAS reads OPENBLAS_NUM_THREADS when the
library is loaded, so this must run before `import torch`."""
import os
import sys


def pin_threads(n):
    if "torch" in sys.modules:
        raise RuntimeError("pin_threads must be called before torch is imported")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return torch
