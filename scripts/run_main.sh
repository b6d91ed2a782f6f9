#!/usr/bin/env bash
# The main job: builds metarec and runs the most complete end-to-end path that
# exists today. It follows the capabilities as they land.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null

# MAIN-JOB: TODO(lead) replace with the `metarec transfer ...` run once the tool
# and the MetaRec learner land. Until then: install metarec into a scratch
# prefix, build an out-of-tree program against it with find_package(metarec)
# and train a user-defined module composed from library ops.
work="$PWD/build-release/main-job"
cmake -DMETAREC_BUILD_DIR="$PWD/build-release" \
      -DCONSUMER_SOURCE_DIR="$PWD/tests/consumer" \
      -DWORK_DIR="$work" \
      -DCXX_COMPILER="$(command -v c++)" \
      -DBUILD_TYPE=Release \
      -P tests/consumer/run_consumer.cmake
