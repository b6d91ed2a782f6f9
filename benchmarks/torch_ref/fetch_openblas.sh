#!/bin/sh
# Debian's libblas.so.3 alternative on this machine is the netlib reference BLAS
# (~1 GFLOP/s): PyTorch's GEMMs crawl. This unpacks Debian's OpenBLAS (pthread
# flavour, same version as bookworm's python3-torch expects) into the git-ignored
# build-torchref/ without touching the system; run.sh puts it on LD_LIBRARY_PATH.
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST="$ROOT/build-torchref/openblas"
TMP=$(mktemp -d)
cd "$TMP" && apt-get download libopenblas0-pthread
dpkg -x libopenblas0-pthread_*.deb "$DEST"
rm -rf "$TMP"
echo "OpenBLAS unpacked under $DEST"
