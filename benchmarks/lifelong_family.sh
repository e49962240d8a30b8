#!/usr/bin/env bash
# The lifelong family (GRACE, WISE, T-Patcher, CaliNet) beside ROME and FT-L on the built-in SmolLM2-135M, on the demo
# pipeline's benchmark (kbuild generate --backend kg + kbuild filter: the facts the model knows), in
#   single      20 cases (greedy generation on), one run folder per editor
#   sequential  every case of the benchmark without rollback, scored every 20 (the decay curve,
#               teacher-forced: --no-generate), one run folder per editor
# Each mode's figures are written to benchmarks/results/lifelong_<mode>_smollm2-135m/ (merged with
# keval report DIR... --out). Run folders stay in $OUT (default runs/locate_family, shared with
# locate_family.sh: the same benchmark); an interrupted run
# resumes from its folder. ROME's 100 sequential edits are locate_family.sh's (a run of the first 100
# cases, another benchmark digest than these runs of all of them: compare in its own table).
# Usage: bash benchmarks/lifelong_family.sh [single|sequential ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/locate_family}
SINGLE_EDITORS=${SINGLE_EDITORS:-grace,wise,t-patcher,calinet}
SEQUENTIAL_EDITORS=${SEQUENTIAL_EDITORS:-grace,t-patcher,wise,calinet,ft-l}
LIMIT=${LIMIT:-1000}
MODES=${*:-single sequential}
FAMILY=lifelong
source benchmarks/smollm2_runs.sh
if has single; then
  for ed in ${SINGLE_EDITORS//,/ }; do
    keval single 20 "lifelong_single/$ed" --editors "$ed"
  done
  publish single "$OUT"/lifelong_single/*/ "$OUT/single"  # every lifelong editor run so far, beside the locate family's
fi
if has sequential; then
  dirs=()
  for ed in ${SEQUENTIAL_EDITORS//,/ }; do
    keval sequential "$LIMIT" "sequential/$ed" --editors "$ed" --every 20 --no-generate
    dirs+=("$OUT/sequential/$ed")
  done
  publish sequential "${dirs[@]}"
fi
