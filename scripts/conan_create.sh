#!/usr/bin/env bash
# Builds the Conan package of metarec end to end and runs test_package/:
# a private venv with Conan 2 (from PyPI), a detected profile, `conan create`.
# Dependencies come from the system (scripts/setup.sh); see docs/packaging.md.
# Not part of CI (it needs PyPI). Usage: bash scripts/conan_create.sh [extra conan args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${METAREC_CONAN_VENV:-$root/.venv-conan}"

if [[ ! -x "$venv/bin/conan" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet conan
fi
conan="$venv/bin/conan"
"$conan" profile path default >/dev/null 2>&1 || "$conan" profile detect
# metarec needs C++20; Conan's detected profile usually says gnu17.
"$conan" create "$root" -s compiler.cppstd=20 "$@"
# test_package builds in its own folder; leave the source tree clean.
rm -rf "$root/test_package/build" "$root/test_package/CMakeUserPresets.json"
