#!/bin/sh
# Run a torch_ref script with Debian's python3 on OpenBLAS: the system one if it is
# installed, else the copy unpacked by fetch_openblas.sh. The script itself pins
# OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / torch threads to its --threads value.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for d in /usr/lib/x86_64-linux-gnu/openblas-pthread \
         "$ROOT/build-torchref/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread"; do
  if [ -e "$d/libblas.so.3" ]; then
    export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    break
  fi
done
# OpenBLAS 0.3.21 does not recognise this CPU model and falls back to SSE3
# kernels; name the core so the reference runs at its real speed.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
# PYTHON: another interpreter, e.g. a venv with the official PyTorch wheel (setup_venv.sh).
exec "${PYTHON:-/usr/bin/python3}" "$@"
