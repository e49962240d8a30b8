#!/usr/bin/env bash
# Quick start 1: set up, then evaluate FT-L, ROME and IKE on the bundled demo benchmark with the
# built-in offline model smollm2-135m (single mode). Prints the table, writes runs/demo/ with plots.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/kbuild
.venv/bin/keval run --model smollm2-135m --bench data/demo/bench.jsonl --editors ft-l,rome,ike \
  --mode single --out "${KEDIT_DEMO_OUT:-runs/demo}" "$@"
