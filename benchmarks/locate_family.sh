#!/usr/bin/env bash
# The locate-then-edit family on the built-in SmolLM2-135M, on the demo pipeline's benchmark (kbuild
# generate --backend kg + kbuild filter: ~100 facts the model knows), in all three modes:
#   single      20 cases, every editor (greedy generation on), plus ROME with rome.key_mode=reference
#   batch       60 cases in one batch of 60 (generation on)
#   sequential  100 edits without rollback, scored every 20 (the decay curve), one run folder per editor
#               (--no-generate: the decay curve is teacher-forced, and generation at every point
#               tripled the time on 2 cores)
# Two queues of keval processes run side by side with one thread each (2 cores): single then batch, and
# the sequential editors. Each mode's figures (summary.md/.csv, decay curve, plots) are written to
# benchmarks/results/locate_<mode>_smollm2-135m/ (sequential: merged with keval report DIR... --out).
# Run folders stay in $OUT (default runs/locate_family); an interrupted run resumes from its folder.
# Usage: bash benchmarks/locate_family.sh [single|batch|sequential ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/locate_family}
EDITORS=${EDITORS:-rome,memit,pmet,alphaedit,emmet,kn,ft-l}
# the comparisons the literature makes first come first (MEMIT / AlphaEdit against ROME applied in turn)
BATCH_EDITORS=${BATCH_EDITORS:-memit,alphaedit,rome,pmet,emmet,kn,ft-l}
SEQUENTIAL_EDITORS=${SEQUENTIAL_EDITORS:-memit,alphaedit,rome,pmet,emmet,kn,ft-l}
MODES=${*:-single batch sequential}
FAMILY=locate
source benchmarks/smollm2_runs.sh
(
  if has single; then
    keval single 20 single --editors "$EDITORS"
    keval single 20 single_rome_reference --editors rome --hparam rome.key_mode=reference
    publish single "$OUT/single"
    publish single_rome_reference "$OUT/single_rome_reference"
  fi
  if has batch; then keval batch 60 batch --editors "$BATCH_EDITORS" --batch-size 60 && publish batch "$OUT/batch"; fi
) & a=$!
(
  if has sequential; then
    for ed in ${SEQUENTIAL_EDITORS//,/ }; do
      keval sequential 100 "sequential/$ed" --editors "$ed" --every 20 --no-generate
    done
    dirs=()  # every family editor whose sequence has run, not only the ones run now
    for ed in rome memit pmet alphaedit emmet kn ft-l; do
      if [ -s "$OUT/sequential/$ed/decay.csv" ]; then dirs+=("$OUT/sequential/$ed"); fi
    done
    publish sequential "${dirs[@]}"
  fi
) & b=$!
wait $a; wait $b
