#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. Debian packages (scripts/setup.sh),
#   2. Release build of every suite + ctest (unit suites, install/find_package
#      consumer test, packaging check),
#   3. the `asan` preset (Debug + AddressSanitizer + UBSan) on the core suites.
# Env: METAREC_JOBS (default 2), METAREC_ASAN_SUITES (default "core autograd optim checkpoint ops_nn data eval").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${METAREC_JOBS:-2}"
start=$SECONDS

bash scripts/setup.sh

echo "== Release build and tests"
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release

# Sanitizers on the suites that exercise memory directly: only those that exist.
suites=()
for s in ${METAREC_ASAN_SUITES:-core autograd optim checkpoint ops_nn data eval}; do
  compgen -G "tests/$s/*.cpp" >/dev/null && suites+=("$s")
done
if [[ ${#suites[@]} -gt 0 ]]; then
  echo "== AddressSanitizer + UBSan: ${suites[*]}"
  cmake --preset asan
  cmake --build --preset asan -j "$jobs" --target "${suites[@]/#/test_}"
  labels="^($(IFS='|'; echo "${suites[*]}"))\$"
  ctest --preset asan -L "$labels"
fi
echo "test.sh: done in $((SECONDS - start)) s"
