#!/usr/bin/env bash
# The demo pipeline on the second built-in model, gemma3-270m (issue 12: does in-context editing lead on
# portability once the model can read a context?): kbuild generate --backend kg on the bundled seeds,
# kbuild filter against gemma3-270m (the facts it knows), then keval single mode on 20 cases for
# FT-L, ROME and IKE (and EDITORS=... for more), greedy generation on (gen_em headline).
# Run folders in $OUT (default runs/gemma3_demo; an interrupted run resumes); figures in
# benchmarks/results/demo_single_gemma3-270m/ and the filter's manifest beside the bench.
# Usage: [EDITORS=ft-l,rome,ike] [LIMIT=20] bash benchmarks/gemma3_demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/gemma3_demo}
EDITORS=${EDITORS:-ft-l,rome,ike}
LIMIT=${LIMIT:-20}
mkdir -p "$OUT"
if [ ! -s "$OUT/bench.jsonl" ]; then
  .venv/bin/kbuild generate --backend kg --in data/kg/seeds.jsonl --out "$OUT/generated.jsonl"
  .venv/bin/kbuild filter --model gemma3-270m --in "$OUT/generated.jsonl" --out "$OUT/bench.jsonl" --threads 1 | tee "$OUT/filter.txt"
fi
for ed in ${EDITORS//,/ }; do
  .venv/bin/keval run --model gemma3-270m --bench "$OUT/bench.jsonl" --editors "$ed" --limit "$LIMIT" --threads 1 \
    --out "$OUT/single/$ed" -q > /dev/null
done
rm -rf benchmarks/results/demo_single_gemma3-270m
.venv/bin/keval report "$OUT"/single/*/ --out benchmarks/results/demo_single_gemma3-270m -q > /dev/null
cp "$OUT/filter.txt" benchmarks/results/demo_single_gemma3-270m/filter.txt
