#!/usr/bin/env bash
# The locate-then-edit family on the built-in SmolLM2-135M, on the demo pipeline's benchmark (kbuild
# generate --backend kg + kbuild filter: ~100 facts the model knows), in all three modes:
#   single      20 cases, every editor, plus ROME with rome.key_mode=reference (EasyEdit's form)
#   batch       60 cases in one batch of 60
#   sequential  100 edits without rollback, scored every 20 (the decay curve)
# Two chains of keval processes run side by side with one thread each (2 cores): single then batch, and
# sequential. Results (summary.md/.csv, decay
# curve and plots) are copied to benchmarks/results/locate_<mode>_smollm2-135m.*; the run folders stay in
# $OUT (default runs/locate_family; an interrupted run resumes from them).
# Usage: bash benchmarks/locate_family.sh [single|batch|sequential ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/locate_family}
EDITORS=${EDITORS:-rome,memit,pmet,alphaedit,emmet,kn,ft-l}
# the comparisons the literature makes first come first (MEMIT / AlphaEdit against ROME applied in turn)
BATCH_EDITORS=${BATCH_EDITORS:-memit,alphaedit,rome,pmet,emmet,kn,ft-l}
SEQUENTIAL_EDITORS=${SEQUENTIAL_EDITORS:-rome,memit,alphaedit,pmet,emmet,kn,ft-l}
MODES=${*:-single batch sequential}
RES=benchmarks/results
mkdir -p "$OUT"
if [ ! -s "$OUT/bench.jsonl" ]; then
  .venv/bin/kbuild generate --backend kg --in data/kg/seeds.jsonl --out "$OUT/generated.jsonl"
  .venv/bin/kbuild filter --model smollm2-135m --in "$OUT/generated.jsonl" --out "$OUT/bench.jsonl"
fi
run() {  # mode, limit, extra keval arguments...
  local mode=$1 limit=$2 name=$3; shift 3
  .venv/bin/keval run --model smollm2-135m --bench "$OUT/bench.jsonl" --mode "$mode" --limit "$limit" \
    --threads 1 --out "$OUT/$name" -q "$@"
  for f in summary.md summary.csv decay.csv; do
    [ -f "$OUT/$name/$f" ] && cp "$OUT/$name/$f" "$RES/locate_${name}_smollm2-135m.${f#*.}" || true
  done
  [ "$mode" = sequential ] && cp "$OUT/$name/decay.csv" "$RES/locate_${name}_smollm2-135m_decay.csv" || true
  for p in "$OUT/$name"/*.png; do [ -f "$p" ] && cp "$p" "$RES/locate_${name}_smollm2-135m_$(basename "$p")"; done
  return 0
}
has() { [[ " $MODES " == *" $1 "* ]]; }
(
  if has single; then
    run single 20 single --editors "$EDITORS"
    run single 20 single_rome_reference --editors rome --hparam rome.key_mode=reference
  fi
  if has batch; then run batch 60 batch --editors "${BATCH_EDITORS:-$EDITORS}" --batch-size 60; fi
) & a=$!
( if has sequential; then run sequential 100 sequential --editors "${SEQUENTIAL_EDITORS:-$EDITORS}" --every 20; fi ) & b=$!
wait $a; wait $b
