#!/usr/bin/env bash
# How much can transfer through the shared backbone at all? An "oracle"
# source: Beauty itself under another name, so the model gives it its own
# item table, exactly like Sports or Toys. A source trains on its split's
# training part, i.e. every Beauty user's sequence without the validation
# and test items: all of the target's training data and nothing more. The
# target (a FRACTION of Beauty's users, as in the headline) shares no item
# ids with it as far as the model knows, so what joint pre-training on it
# gains over target-only is the most any source can pass on through the
# backbone alone. With MetaRec over Sports + Toys + the oracle, the
# per-source weights show whether the similarity finds the right source.
# Usage: benchmarks/run_transfer_oracle.sh FRACTION [THREADS] [extra transfer flags...]
# Env: SOURCES (oracle: the oracle alone; all: Sports, Toys and the oracle),
#      METHODS (default joint), SEEDS (default 1), OUT, and as in run_transfer_headline.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fraction="${1:?usage: run_transfer_oracle.sh FRACTION [THREADS] [flags...]}"
threads="${2:-2}"
shift $(( $# >= 2 ? 2 : 1 ))
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec"
work="${ORACLE_DIR:-build-release/oracle}"
mkdir -p "$work"
cp "$data/Beauty.txt" "$work/BeautyOracle.txt"
case "${SOURCES:-oracle}" in
  oracle) sources="$work/BeautyOracle.txt" ;;
  all) sources="$data/Sports_and_Outdoors.txt,$data/Toys_and_Games.txt,$work/BeautyOracle.txt" ;;
  *) echo "SOURCES must be oracle or all" >&2; exit 2 ;;
esac
out="${OUT:-benchmarks/results/transfer_oracle_f${fraction}_${SOURCES:-oracle}}"
mkdir -p "$out"
set -x
build-release/examples/metarec transfer \
  --sources "$sources" --target "$data/Beauty.txt" --target-fraction "$fraction" \
  --backbone "${BACKBONE:-sasrec}" --quantizer "${QUANTIZER:-none}" --meta "${METHODS:-joint}" --seeds "${SEEDS:-1}" \
  --meta-iterations "${META_ITERATIONS:-600}" --source-weight "${SOURCE_WEIGHT:-1}" \
  --epochs "${EPOCHS:-200}" --eval-every "${EVAL_EVERY:-2}" --patience "${PATIENCE:-10}" --threads "$threads" --quiet \
  --out "$out" "$@"
