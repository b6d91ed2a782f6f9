#!/usr/bin/env bash
# Foundation benchmark, one run, same machine, same threads:
#   ours:    benchmarks/bench_core (GEMM vs raw Eigen, SASRec step, tape bookkeeping)
#   PyTorch: benchmarks/torch_ref/bench_step.py with Debian's python3-torch on OpenBLAS
# Usage: benchmarks/speed/run_core_bench.sh [THREADS...]   (default: 1 2)
# Writes benchmarks/speed/runs/core_bench.json and prints the ratios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec/Beauty.txt"
threads=("${@:-1 2}")
[[ $# -eq 0 ]] && threads=(1 2)
cmake --preset release >/dev/null
cmake --build --preset release -j 2 --target bench_core >/dev/null
out=benchmarks/speed/runs/core_bench.json
mkdir -p benchmarks/speed/runs
{
  echo "{"
  first=1
  for t in "${threads[@]}"; do
    [[ $first -eq 1 ]] || echo ","
    first=0
    echo "\"threads_$t\": {\"ours\": "
    build-release/benchmarks/bench_core "$t" 10 "$data"
    echo ", \"pytorch_debian\": "
    benchmarks/torch_ref/run.sh benchmarks/torch_ref/bench_step.py --threads "$t" --data "$data" --reps 8
    echo "}"
  done
  echo "}"
} > "$out.tmp"
mv "$out.tmp" "$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key, v in r.items():
    ours, pt = v["ours"], v["pytorch_debian"]
    print(f"== {key}")
    for g in ours["gemm"]:
        print(f"  gemm {g['M']}x{g['N']}x{g['K']}: ours {g['ours_gflops']:.1f} GFLOP/s, raw Eigen {g['eigen_gflops']:.1f} (ratio {g['ratio']:.3f})")
    s = ours["sasrec_step"]
    print(f"  SASRec full step (12,800 positions): ours {s['ms_per_step']:.0f} ms, tape bookkeeping {100*s['tape_bookkeeping_fraction']:.3f}% of step")
    print(f"  PyTorch: {json.dumps({k: pt[k] for k in pt if k in ('full', 'real')})[:400]}")
    b = ours.get("beauty_batches")
    if b:
        print(f"  Beauty batches: ours {b['ms_per_step']:.1f} ms/step, {b['sequences_per_s']:.0f} seq/s")
PY
