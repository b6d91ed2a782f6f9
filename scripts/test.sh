#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. Debian packages (scripts/setup.sh),
#   (the CUDA backend too when nvcc is installed),
#   2. Release build of every suite + ctest (unit suites, install/find_package
#      consumer test, packaging check; without nvcc also the CUDA backend's
#      host emulation, so that `metarec --device cuda` is exercised on it),
#   3. the `asan` preset (Debug + AddressSanitizer + UBSan) on the core suites
#      and (label cuda) on the allocator suite and the emulated CUDA device tests
#      (cuda_device_emulated: every device op and model test, no GPU or nvcc needed).
# Each test suite, and the tool, compiles as one translation unit (METAREC_UNITY_BUILD):
# a clean build then instantiates the shared templates once per target, not once per file.
# Env: METAREC_JOBS (default 2), METAREC_ASAN_SUITES (default "core autograd optim checkpoint ops_nn data eval"),
#      METAREC_CUDA_EMULATION (default 1; 0 skips the emulated CUDA tests).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${METAREC_JOBS:-2}"
start=$SECONDS

bash scripts/setup.sh
echo "== set-up: $((SECONDS - start)) s"

# The CUDA backend is built whenever nvcc is there (no GPU needed to compile;
# its device tests print why they skip when no GPU is attached).
cuda=()
nvcc="$(command -v nvcc || true)"
[[ -n $nvcc || ! -x /usr/local/cuda/bin/nvcc ]] || nvcc=/usr/local/cuda/bin/nvcc
if [[ -n $nvcc ]]; then
  echo "== nvcc found ($nvcc): building the CUDA backend too"
  cuda=(-DMETAREC_WITH_CUDA=ON "-DCMAKE_CUDA_COMPILER=$nvcc")
  # Without a visible GPU the real backend's test binary only compiles and links the device models
  # (compile_backend.cpp); the emulated binary runs the model tests from the same sources.
  if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "== no GPU visible: test_cuda_device holds the op tests and the compile test, not the model tests"
    cuda+=(-DMETAREC_CUDA_MODEL_TESTS=OFF)
  fi
else
  echo "== no nvcc: the CUDA backend is not built"
fi

# The CUDA sources in host emulation: one more library and test executable. The
# ASan stage builds and runs its device tests; the Release build takes it only when
# there is no nvcc, so that the tool links it and cli_device trains on it.
emu=(-DMETAREC_CUDA_HOST_EMULATION=OFF)
[[ ${METAREC_CUDA_EMULATION:-1} == 0 ]] || emu=(-DMETAREC_CUDA_HOST_EMULATION=ON)
release_emu=("${emu[@]}")
[[ -z $nvcc ]] || release_emu=(-DMETAREC_CUDA_HOST_EMULATION=OFF)
unity=(-DMETAREC_UNITY_BUILD=ON)

echo "== Release build and tests"
cmake --preset release "${cuda[@]}" "${release_emu[@]}" "${unity[@]}"
stage=$SECONDS
# The tool first: its two translation units are the longest, and started last they would leave
# a core idle at the end.
cmake --build --preset release -j "$jobs" --target metarec_tool
cmake --build --preset release -j "$jobs"
echo "== Release build: $((SECONDS - stage)) s"; stage=$SECONDS
ctest --preset release
echo "== Release tests: $((SECONDS - stage)) s"

# Sanitizers on the suites that exercise memory directly: only those that exist.
# With the emulation, the label `cuda` adds the allocator / element-body suite
# and the emulated device tests (device memory is host memory there).
suites=()
for s in ${METAREC_ASAN_SUITES:-core autograd optim checkpoint ops_nn data eval}; do
  compgen -G "tests/$s/*.cpp" >/dev/null && suites+=("$s")
done
targets=("${suites[@]/#/test_}")
if [[ ${METAREC_CUDA_EMULATION:-1} != 0 ]]; then
  [[ " ${suites[*]} " == *" cuda "* ]] || { suites+=(cuda); targets+=(test_cuda); }
  targets+=(test_cuda_device_emulated)
fi
if [[ ${#suites[@]} -gt 0 ]]; then
  echo "== AddressSanitizer + UBSan: ${suites[*]}"
  cmake --preset asan "${emu[@]}" "${unity[@]}"
  stage=$SECONDS
  cmake --build --preset asan -j "$jobs" --target "${targets[@]}"
  echo "== ASan build: $((SECONDS - stage)) s"; stage=$SECONDS
  labels="^($(IFS='|'; echo "${suites[*]}"))\$"
  ctest --preset asan -L "$labels"
  echo "== ASan tests: $((SECONDS - stage)) s"
fi
echo "test.sh: done in $((SECONDS - start)) s"
