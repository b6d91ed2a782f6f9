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
"$VENV/bin/pip" install -q recbole || echo "setup_venv.sh: recbole did not install (see pip's message above)" >&2
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'mkldnn', torch.backends.mkldnn.is_available())"
