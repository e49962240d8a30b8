#!/usr/bin/env bash
# The trained editors (MEND, KE, SERAC) on the built-in SmolLM2-135M: train each with keval train on KG
# counterfactual edits (benchmarks/kg_counterfactuals.py, expanded by kbuild generate --backend kg), the
# subjects of the demo benchmark left out (--drop-overlap), then evaluate on that benchmark (the one
# locate_family.sh builds) beside FT-L and ROME:
#   train       artifacts in $OUT/trained/<editor>/, the training log and figures in
#               benchmarks/results/trained_training_smollm2-135m.json
#   single      20 cases, greedy generation on, beside FT-L and ROME
#   sequential  the first 60 cases without rollback, scored every 10 (teacher-forced)
# Each mode's figures go to benchmarks/results/trained_<mode>_smollm2-135m/. Interrupted steps resume.
# Usage: bash benchmarks/trained_family.sh [train single sequential]
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/locate_family}
EDITORS=${EDITORS:-mend,ke,serac}
N_TRAIN=${N_TRAIN:-3000}
MODES=${*:-train single sequential}
FAMILY=trained
source benchmarks/smollm2_runs.sh
T="$OUT/trained"
mkdir -p "$T"
hp() { local ed=$1; echo --hparam "$ed.artifact=$T/$ed"; }
if has train; then
  [ -s "$T/train.jsonl" ] || {
    .venv/bin/python benchmarks/kg_counterfactuals.py --n "$N_TRAIN" --out "$T/seeds.jsonl"
    .venv/bin/kbuild generate --backend kg --in "$T/seeds.jsonl" --out "$T/train.jsonl" --overwrite > /dev/null
  }
  for ed in ${EDITORS//,/ }; do
    .venv/bin/keval train --editor "$ed" --model smollm2-135m --train "$T/train.jsonl" --bench "$OUT/bench.jsonl" \
      --drop-overlap --out "$T/$ed" --threads 1 -q | tee "$T/$ed.log"
  done
  .venv/bin/python - "$T" "$EDITORS" <<'PY' > "$RES/trained_training_smollm2-135m.json"
import json, platform, sys
from pathlib import Path
import torch
t, editors = Path(sys.argv[1]), sys.argv[2].split(",")
out = {"model": "smollm2-135m", "machine": f"{platform.machine()} {platform.system()}, 1 torch thread, cpu",
       "torch": torch.__version__, "train_edits": "benchmarks/kg_counterfactuals.py (seed 0) + kbuild generate --backend kg",
       "editors": {}}
for ed in editors:
    m = json.loads((t / ed / "manifest.json").read_text())
    st = json.loads((t / ed / "checkpoint" / "state.json").read_text())
    out["editors"][ed] = {"best_step": m["steps"], "steps_run": st["step"], "stopped": st["stopped"],
                          "train_seconds_total": round(st["seconds"], 1), "validation_best": m["validation"],
                          "data": m["data"], "architecture": {k: v for k, v in m["architecture"].items() if k not in ("params", "shapes")},
                          "params": m["architecture"].get("params"), "history": st["history"]}
print(json.dumps(out, indent=2))
PY
fi
if has single; then
  for ed in ${EDITORS//,/ } ft-l rome; do
    extra=(); [[ "$ed" = ft-l || "$ed" = rome ]] || extra=($(hp "$ed"))
    keval single 20 "trained_single/$ed" --editors "$ed" "${extra[@]}"
  done
  publish single "$OUT"/trained_single/*/
fi
if has sequential; then
  for ed in ${EDITORS//,/ } ft-l; do
    extra=(); [ "$ed" = ft-l ] || extra=($(hp "$ed"))
    keval sequential 60 "trained_sequential/$ed" --editors "$ed" --every 10 --no-generate "${extra[@]}"
  done
  publish sequential "$OUT"/trained_sequential/*/
fi
