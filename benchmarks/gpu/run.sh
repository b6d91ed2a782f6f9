#!/usr/bin/env bash
# GPU checks in one script (run on the GPU machine, from the repository root,
# after prepare.sh filled build-gpu/ here; about 4-6 minutes on one H200):
#   1. configure + build the CUDA library and its device tests with nvcc and the
#      unpacked Debian headers (build-gpu/deps),
#   2. test_cuda_device: every device op against its CPU op, on the GPU,
#      (and test_backend_models: SASRec, BERT4Rec, GRU4Rec training steps on
#      backend::Cuda against backend::Cpu, device full ranking, train::fit),
#   3. metarec's SASRec on Beauty on the GPU (`metarec train --device cuda`,
#      2 epochs, default config) and the PyTorch CUDA reference on the same
#      config (torch_ref/train.py --device cuda, 2 epochs): training
#      sequences/s, evaluation users/s, peak device memory, and the ratios,
# and writes everything to one JSON ($OUT/gpu_results.json, OUT default
# build-gpu/out).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out="${OUT:-build-gpu/out}"; mkdir -p "$out"
deps="$PWD/build-gpu/deps/usr"
py="${PYTHON:-python3}"
start=$SECONDS
[[ -d $deps ]] || { echo "run.sh: $deps missing: run benchmarks/gpu/prepare.sh where apt works, then carry build-gpu" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1 || true
export CMAKE_PREFIX_PATH="$deps${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B build-gpu/build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DMETAREC_WITH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DMETAREC_BUILD_TESTS=ON -DMETAREC_BUILD_TOOLS=ON \
  -DMETAREC_BUILD_EXAMPLES=OFF -DMETAREC_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" > "$out/configure.log" 2>&1
cfg=$?
build=1; tests=1
if [[ $cfg -eq 0 ]]; then
  cmake --build build-gpu/build -j "$(nproc)" --target test_cuda_device metarec_tool > "$out/build.log" 2>&1; build=$?
fi
if [[ $build -eq 0 ]]; then
  build-gpu/build/cuda/test_cuda_device --no-intro=true > "$out/device_tests.log" 2>&1; tests=$?
fi
ours=1
if [[ $build -eq 0 ]]; then
  build-gpu/build/tools/metarec/metarec train --data build-gpu/data/Beauty.txt --device cuda --epochs 2 --patience 0 \
    --seed 1 --threads 2 --out "$out/metarec_cuda_sasrec_beauty" > "$out/metarec_cuda.log" 2>&1; ours=$?
fi
"$py" benchmarks/torch_ref/train.py --data build-gpu/data/Beauty.txt --model sasrec --device cuda --threads 2 \
  --epochs 2 --patience 10 --out "$out/torch_cuda_sasrec_beauty.json" > "$out/torch_cuda.log" 2>&1
torch_rc=$?
"$py" - "$out" "$cfg" "$build" "$tests" "$torch_rc" "$ours" "$((SECONDS - start))" <<'PY'
import json, os, sys
out, cfg, build, tests, torch_rc, ours_rc, secs = sys.argv[1], *map(int, sys.argv[2:])
def tail(name, n=40):
    try:
        return open(os.path.join(out, name)).read().splitlines()[-n:]
    except OSError:
        return None
try:
    ref = json.load(open(os.path.join(out, "torch_cuda_sasrec_beauty.json")))
except (OSError, ValueError):
    ref = None
res = dict(
    gpu=(tail("gpu.txt", 5) or [None])[0], seconds=secs,
    configure_rc=cfg, build_rc=build, device_tests_rc=tests, device_tests_tail=tail("device_tests.log"),
    torch_cuda=None if ref is None else dict(rc=torch_rc, torch=ref["config"].get("torch"),
        train_sequences_per_s=ref["timing"]["train_sequences_per_s"], eval_users_per_s=ref["timing"]["eval_users_per_s"],
        peak_device_bytes=ref.get("peak_device_bytes"), test=ref.get("test"), epochs=ref.get("epochs_run")),
    torch_cuda_log_tail=None if ref else tail("torch_cuda.log"),
    metarec_cuda_log_tail=None)
try:
    mine = json.load(open(os.path.join(out, "metarec_cuda_sasrec_beauty", "result.json")))
    res["metarec_cuda"] = dict(rc=ours_rc, train_sequences_per_s=mine["timing"]["train_sequences_per_s"],
        eval_users_per_s=mine["timing"]["eval_users_per_s"], device_memory=mine.get("device_memory"),
        test=mine.get("test"), epochs=mine.get("epochs_run"))
    if res["torch_cuda"]:
        res["ratio_ours_over_torch"] = dict(
            train=res["metarec_cuda"]["train_sequences_per_s"] / res["torch_cuda"]["train_sequences_per_s"],
            eval=res["metarec_cuda"]["eval_users_per_s"] / res["torch_cuda"]["eval_users_per_s"])
except (OSError, ValueError, KeyError):
    res["metarec_cuda"] = dict(rc=ours_rc)
    res["metarec_cuda_log_tail"] = tail("metarec_cuda.log")
json.dump(res, open(os.path.join(out, "gpu_results.json"), "w"), indent=1)
print(json.dumps(res, indent=1)[:3000])
PY
