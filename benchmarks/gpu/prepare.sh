#!/usr/bin/env bash
# Run HERE (a machine with apt and network), before benchmarks/gpu/run.sh on the
# GPU machine, which has nvcc, CMake, ninja and PyTorch but no network and none
# of our Debian dev packages. Fills build-gpu/ (ignored; under 64 MiB) with:
#   deps/  the headers (and fmt's library) unpacked from the Debian .debs:
#          Eigen, xtensor + xtl, doctest, CLI11, nlohmann-json, fmt
#   data/  Beauty.txt (the benchmark's data)
# Then carry build-gpu to the GPU machine (device tool: carry ["build-gpu"]).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=build-gpu
pkgs=(libeigen3-dev libxtensor-dev xtl-dev doctest-dev libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9)
mkdir -p "$out/debs" "$out/deps" "$out/data"
(cd "$out/debs" && apt-get download "${pkgs[@]}" >/dev/null)
for d in "$out"/debs/*.deb; do dpkg -x "$d" "$out/deps"; done
rm -rf "$out/deps/usr/share/doc" "$out/deps/usr/share/man" "$out/debs"
cp "${METAREC_DATA:-../shared/data}/amazon-s3rec/Beauty.txt" "$out/data/"
du -sh "$out"
