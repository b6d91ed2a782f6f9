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
# Usage: benchmarks/transfer/run_transfer_oracle.sh FRACTION [THREADS] [extra transfer flags...]
# Env: SOURCES (oracle: the oracle alone; all: Sports, Toys and the oracle),
#      METHODS (default joint), SEEDS (default 1), QUANTIZER (default none), OUT, and the
#      rest as in run_transfer_headline.sh, which runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec"
work="${ORACLE_DIR:-build-release/oracle}"
mkdir -p "$work"
cp "$data/Beauty.txt" "$work/BeautyOracle.txt"
case "${SOURCES:-oracle}" in
  oracle) SOURCE_FILES="$work/BeautyOracle.txt" ;;
  all) SOURCE_FILES="$data/Sports_and_Outdoors.txt,$data/Toys_and_Games.txt,$work/BeautyOracle.txt" ;;
  *) echo "SOURCES must be oracle or all" >&2; exit 2 ;;
esac
export SOURCE_FILES QUANTIZER="${QUANTIZER:-none}" METHODS="${METHODS:-joint}" SEEDS="${SEEDS:-1}" \
  OUT="${OUT:-benchmarks/transfer/runs/transfer_oracle_f${1:?usage: run_transfer_oracle.sh FRACTION [THREADS] [flags...]}_${SOURCES:-oracle}}"
exec benchmarks/transfer/run_transfer_headline.sh "$@"
