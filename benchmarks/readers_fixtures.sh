#!/usr/bin/env bash
# The field's formats through keval on their fixtures (tests/data/, written for kedit in each benchmark's
# format): ROME and IKE on the built-in SmolLM2-135M, single mode, greedy generation on; per format a run
# folder in $OUT/<format>/ and its figures in benchmarks/results/readers_fixtures_smollm2-135m/<format>/
# (summary.md/.csv, config.json, and axes.md: `keval report --by axis`, the benchmark's own test axes).
# These are fixture-scale runs (2-3 cases): they show each reader's probes scored end to end, not figures
# to compare methods on. An interrupted run resumes from its folder.
# Usage: [FORMATS=rippleedits,mquake,...] bash benchmarks/readers_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/readers}
FORMATS=${FORMATS:-rippleedits,knowedit,mquake,mquake-remastered}
RES=benchmarks/results/readers_fixtures_smollm2-135m
for fmt in ${FORMATS//,/ }; do
  data=tests/data/${fmt//-/_}.json
  .venv/bin/keval run --model smollm2-135m --bench "$data" --format "$fmt" --editors rome,ike --mode single \
    --threads 1 --out "$OUT/$fmt" -q > /dev/null
  mkdir -p "$RES/$fmt"
  cp "$OUT/$fmt"/{summary.md,summary.csv,config.json} "$RES/$fmt/"
  .venv/bin/keval report "$OUT/$fmt" --by axis -q > "$RES/$fmt/axes.md"
done
