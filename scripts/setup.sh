#!/usr/bin/env bash
# Installs the Debian packages metarec needs, only those missing (idempotent).
# Works as root or through sudo. On a system without apt-get it lists what is
# needed and leaves the rest to CMake's own checks.
set -euo pipefail

packages=(
  cmake make g++                 # toolchain (g++ brings libgomp for OpenMP)
  libeigen3-dev xtensor-dev      # the library's dependencies (xtensor-dev pulls xtl-dev)
  doctest-dev                    # test suites
  libcli11-dev nlohmann-json3-dev libfmt-dev  # the metarec command-line tool only
  python3 python3-matplotlib     # packaging check, plots of results
  libopenmpi-dev openmpi-bin     # optional: distributed training (metarec::mpi, `train --distributed`, ctest -L mpi)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} Debian packages already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup: no apt-get here; please install the equivalents of: ${missing[*]}" >&2
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "setup: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
