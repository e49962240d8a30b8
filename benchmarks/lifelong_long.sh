#!/usr/bin/env bash
# The lifelong family over a long edit sequence on the built-in SmolLM2-135M: 200 edits without rollback,
# scored every 25 (teacher-forced: --no-generate), one run folder per editor in $OUT/<editor>/, merged into
# benchmarks/results/lifelong_long_sequential_smollm2-135m/ (decay curves in its decay.csv and plots).
# The benchmark: 1,500 counterfactual edits made from the bundled KG's triples (benchmarks/kg_counterfactuals.py,
# seed 1), expanded by kbuild generate --backend kg and filtered by kbuild filter on SmolLM2 (the facts it
# knows); the first 200 cases are edited. UltraEdit writes turns of 10 (its lifelong setting) with the layers
# and lr of benchmarks/ultraedit_lifelong.py. An interrupted run resumes from its last scoring point (FT-L, ROME),
# or starts its sequence again (editors with state beside the weights: kedit.eval.checkpoint).
# Usage: [EDITORS=grace,t-patcher,...] bash benchmarks/lifelong_long.sh [publish]
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/lifelong_long}
EDITORS=${EDITORS:-grace,t-patcher,calinet,ft-l,ultraedit,wise,rome}
N=${N:-200}
mkdir -p "$OUT"
if [ ! -s "$OUT/bench.jsonl" ]; then
  .venv/bin/python benchmarks/kg_counterfactuals.py --n 1500 --seed 1 --out "$OUT/seeds.jsonl"
  .venv/bin/kbuild generate --backend kg --in "$OUT/seeds.jsonl" --out "$OUT/generated.jsonl" --overwrite > /dev/null
  .venv/bin/kbuild filter --model smollm2-135m --in "$OUT/generated.jsonl" --out "$OUT/bench.jsonl" --threads 1 > /dev/null
fi
if [ "${1:-}" != publish ]; then
  for ed in ${EDITORS//,/ }; do
    extra=()
    [ "$ed" = ultraedit ] && extra=(--turn-size 10 --hparam "ultraedit.layers=[18,19,20,21,22,23,24,25,26]" --hparam ultraedit.lr=1e-4)
    .venv/bin/keval run --model smollm2-135m --bench "$OUT/bench.jsonl" --mode sequential --limit "$N" --every 25 \
      --no-generate --threads 1 --out "$OUT/$ed" --editors "$ed" -q "${extra[@]}" > /dev/null
  done
fi
dirs=()
for d in "$OUT"/*/; do [ -s "$d/summary.csv" ] && dirs+=("$d"); done
rm -rf benchmarks/results/lifelong_long_sequential_smollm2-135m
.venv/bin/keval report "${dirs[@]}" --out benchmarks/results/lifelong_long_sequential_smollm2-135m -q > /dev/null
