#!/usr/bin/env bash
# Closure editing (issue 16) on the built-in SmolLM2-135M, on the demo pipeline's benchmark (the one
# locate_family.sh builds): single mode, 20 cases, greedy generation on, each editor with and without
# its closure (keval runs EDITOR and EDITOR+closure side by side in one run folder).
#   CLOSURE=kg   (default) the bundled KG's closure: aliases, inverse facts, one-hop chains
#   CLOSURE=llm  the closure an OpenAI-compatible endpoint proposes (CLOSURE_URL, e.g. the
#                llama-server of tests/fixtures/llama_server.py: http://127.0.0.1:PORT/v1)
# Figures: benchmarks/results/closure_<closure>_single_smollm2-135m/. An interrupted run resumes.
# Usage: [EDITORS=memit,alphaedit] [CLOSURE=kg|llm] [CLOSURE_URL=...] bash benchmarks/closure_family.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/locate_family}
EDITORS=${EDITORS:-memit,alphaedit}
CLOSURE=${CLOSURE:-kg}
MODES=single
FAMILY=closure
source benchmarks/smollm2_runs.sh
extra=()
if [ "$CLOSURE" = llm ]; then
  extra=(--closure-base-url "${CLOSURE_URL:?set CLOSURE_URL to an OpenAI-compatible endpoint}")
fi
keval single 20 "closure_single_$CLOSURE" --editors "$EDITORS" --closure "$CLOSURE" "${extra[@]}"
publish "${CLOSURE}_single" "$OUT/closure_single_$CLOSURE"
