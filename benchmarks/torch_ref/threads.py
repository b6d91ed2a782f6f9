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


def blas_library():
    """Path of the BLAS shared object this process loaded (after `import torch`)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]}
    return sorted(paths)[0] if paths else None


def warn_if_reference_blas():
    lib = blas_library()
    if lib and "openblas" not in lib:
        print(f"warning: BLAS is {lib} (not OpenBLAS): run through benchmarks/torch_ref/run.sh",
              file=sys.stderr, flush=True)
    return lib
