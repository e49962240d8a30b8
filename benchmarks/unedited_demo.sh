#!/usr/bin/env bash
# Multi-hop accuracy edited and unedited apart on the built-in SmolLM2-135M: the demo pipeline's benchmark
# (kbuild generate --backend kg on the bundled seeds, which writes one_hop and one_hop_unedited, then
# kbuild filter: the facts SmolLM2 knows, every hop of each chain included), FT-L and ROME in single mode
# on the first 20 kept cases, greedy generation on. A case's one_hop_unedited questions are asked under
# the next case's edit; a question whose chain that edit rewrites is masked (MQuAKE-Remastered's
# contamination mask) and named in cases.jsonl. Figures: benchmarks/results/unedited_single_smollm2-135m/
# (summary.md/.csv, config.json) and unedited.json (per editor: executed, masked, unknown, accuracy).
# With CASES=unedited the run takes only the kept cases that have one_hop_unedited probes (each then asked under
# the next such case's edit), in $OUT/single_unedited and .../unedited_single_subset_smollm2-135m/.
# An interrupted run resumes from its folder.
# Usage: [EDITORS=ft-l,rome] [LIMIT=20] [CASES=unedited] bash benchmarks/unedited_demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/demo_unedited}
EDITORS=${EDITORS:-ft-l,rome}
LIMIT=${LIMIT:-20}
mkdir -p "$OUT"
if [ ! -s "$OUT/bench.jsonl" ]; then
  .venv/bin/kbuild generate --backend kg --in data/kg/seeds.jsonl --out "$OUT/generated.jsonl" --overwrite > /dev/null
  .venv/bin/kbuild filter --model smollm2-135m --in "$OUT/generated.jsonl" --out "$OUT/bench.jsonl" --threads 1 > /dev/null
fi
bench=$OUT/bench.jsonl run=$OUT/single RES=benchmarks/results/unedited_single_smollm2-135m
if [ "${CASES:-}" = unedited ]; then
  bench=$OUT/bench_unedited.jsonl run=$OUT/single_unedited RES=benchmarks/results/unedited_single_subset_smollm2-135m
  grep '"split": "one_hop_unedited"' "$OUT/bench.jsonl" > "$bench"
  LIMIT=$(wc -l < "$bench")
fi
mkdir -p "$RES"
.venv/bin/keval run --model smollm2-135m --bench "$bench" --editors "$EDITORS" --mode single \
  --limit "$LIMIT" --threads 1 --out "$run" -q > /dev/null
cp "$run"/{summary.md,summary.csv,config.json} "$RES/"
.venv/bin/python - "$bench" "$run" "$RES/unedited.json" <<'PY'
import collections, json, sys
from pathlib import Path
bench, run, dest = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
kept = [json.loads(x) for x in bench.read_text().splitlines()]
fig = {"cases_kept": len(kept), "one_hop_kept": sum(p["split"] == "one_hop" for c in kept for p in c["probes"]),
       "one_hop_unedited_kept": sum(p["split"] == "one_hop_unedited" for c in kept for p in c["probes"]), "editors": {}}
for line in (run / "cases.jsonl").read_text().splitlines():
    r = json.loads(line)
    e = fig["editors"].setdefault(r["editor"], collections.Counter())
    for p in r.get("probes", []):
        if p["split"] not in ("one_hop", "one_hop_unedited"):
            continue
        s = p["split"]
        if p.get("executed"):
            e[f"{s}_executed"] += 1
            for m in ("gen_em", "token_acc"):
                if m in p["metrics"] and p["metrics"][m]["post"] is not None:
                    e[f"{s}_{m}_sum"] += p["metrics"][m]["post"]
                    e[f"{s}_{m}_unedited_model_sum"] += p["metrics"][m]["pre"] or 0.0
        elif "contaminated" in (p.get("skipped") or ""):
            e[f"{s}_masked"] += 1
        else:
            e[f"{s}_not_executed"] += 1
for name, e in fig["editors"].items():
    d = dict(e)
    for s in ("one_hop", "one_hop_unedited"):
        n = d.get(f"{s}_executed", 0)
        for m in ("gen_em", "token_acc"):
            for k in (f"{s}_{m}", f"{s}_{m}_unedited_model"):  # after the edits in the model; the unedited model's
                d[k] = round(d.pop(f"{k}_sum", 0.0) / n, 3) if n else None
    fig["editors"][name] = d
dest.write_text(json.dumps(fig, indent=2) + "\n")
print(json.dumps(fig, indent=2))
PY
