#!/bin/sh
# Virtual environment with the peers we compare against (never used by the
# library): the official PyTorch wheel from PyPI (MKL + oneDNN on CPU; it also
# pulls the CUDA runtime wheels, ~3 GB) and RecBole.
# Usage: benchmarks/torch_ref/setup_venv.sh [VENV]   (default build-torchref/venv)
# Then:  PYTHON=build-torchref/venv/bin/python benchmarks/torch_ref/run.sh benchmarks/torch_ref/train.py ...
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${1:-$ROOT/build-torchref/venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "torch>=2.4" numpy
# RecBole 1.2.1 (and the ray it imports) predates NumPy 2 and setuptools 81
# (pkg_resources): pin what it needs; torch 2.15 runs with NumPy 1.26.
"$VENV/bin/pip" install -q recbole "numpy<2" "pandas<2.3" "scipy<1.14" "setuptools<81" ||
  echo "setup_venv.sh: recbole did not install (see pip's message above)" >&2
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'mkldnn', torch.backends.mkldnn.is_available())"
