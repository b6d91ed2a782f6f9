#!/bin/sh
# Runs every fuzz target for SECONDS on a copy of its seed corpus and prints
# one summary line per target (execs, execs/s, crashes).
# Usage: fuzz/run.sh BIN_DIR [SECONDS] [TARGETS...]
set -u
bin=${1:?usage: fuzz/run.sh BIN_DIR [SECONDS] [TARGETS...]}
secs=${2:-60}
shift; [ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
targets=${*:-"sequences pairs atomic unisrec text attributes npy feat"}
work=${FUZZ_WORK:-$(mktemp -d)}
status=0
for t in $targets; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp "$here/corpus/$t/"* "$work/$t/corpus/" 2>/dev/null
  "$bin/fuzz_$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" >"$work/$t/log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t/log" | grep -o '[0-9]*$')
  crashes=$(ls "$work/$t/artifacts" | wc -l)
  echo "fuzz_$t: rc=$rc execs=${execs:-?} execs/s=$(( ${execs:-0} / secs )) crashes=$crashes log=$work/$t/log"
  [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ] && status=1
done
exit $status
