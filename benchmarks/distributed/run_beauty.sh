#!/usr/bin/env bash
# SASRec on Beauty, 2 epochs, same global batch (256): 1 rank x 1 thread vs
# 2 ranks x 1 thread (docs/distributed.md). Usage: run_beauty.sh OUTDIR [EPOCHS]
set -euo pipefail
out=${1:?OUTDIR}; epochs=${2:-2}
tool=${TOOL:-build-release/tools/metarec/metarec}
data=${DATA:-../shared/data/amazon-s3rec/Beauty.txt}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(train --data "$data" --backbone sasrec --epochs "$epochs" --patience 0 --threads 1)
"$tool" "${common[@]}" --out "$out/ce_1rank" 2>/dev/null
mpirun -np 2 ${MPIRUN_ARGS:---bind-to core --mca mpi_yield_when_idle 0} "$tool" "${common[@]}" --distributed --out "$out/ce_2ranks" 2>/dev/null
"$tool" "${common[@]}" --loss bce --sparse-items --out "$out/bce_1rank" 2>/dev/null
mpirun -np 2 ${MPIRUN_ARGS:---bind-to core --mca mpi_yield_when_idle 0} "$tool" "${common[@]}" --loss bce --sparse-items --distributed \
  --out "$out/bce_2ranks" 2>/dev/null
