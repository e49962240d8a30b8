#!/usr/bin/env bash
# Quick start 1: set up, then run the whole pipeline on the embedded default, offline, no LLM key:
#   kbuild generate --backend kg   (bundled knowledge graph and seed edits, data/kg/)
#   kbuild filter                  (the built-in smollm2-135m must know each prerequisite fact)
#   keval run                      (FT-L, ROME, IKE, single mode; table, plots, ranking)
#   kbuild export                  (Hugging Face dataset layout of the filtered benchmark)
# Annotation in Label Studio is a human step and stays optional (kbuild annotate --help).
# Everything goes to runs/demo/ (KEDIT_DEMO_OUT); KEDIT_DEMO_LIMIT caps the cases keval edits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${KEDIT_DEMO_OUT:-runs/demo}
LIMIT=${KEDIT_DEMO_LIMIT:-20}  # more cases: KEDIT_DEMO_LIMIT=60 (about 20 minutes on 2 cores)
mkdir -p "$OUT"
.venv/bin/kbuild generate --backend kg --in data/kg/seeds.jsonl --out "$OUT/generated.jsonl"
.venv/bin/kbuild filter --model smollm2-135m --in "$OUT/generated.jsonl" --out "$OUT/bench.jsonl"
.venv/bin/keval run --model smollm2-135m --bench "$OUT/bench.jsonl" --editors ft-l,rome,ike --mode single \
  --limit "$LIMIT" --out "$OUT/eval" "$@"
.venv/bin/kbuild export --in "$OUT/bench.jsonl" --out "$OUT/dataset" --overwrite
