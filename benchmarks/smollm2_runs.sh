# Sourced by the family benchmarks (locate_family.sh, lifelong_family.sh): the demo benchmark on
# SmolLM2-135M built once in $OUT, and the helpers that run keval on it and publish a mode's figures.
# The caller sets OUT (run folders), FAMILY (the results' name prefix) and MODES.
RES=benchmarks/results
mkdir -p "$OUT"
if [ ! -s "$OUT/bench.jsonl" ]; then
  .venv/bin/kbuild generate --backend kg --in data/kg/seeds.jsonl --out "$OUT/generated.jsonl"
  .venv/bin/kbuild filter --model smollm2-135m --in "$OUT/generated.jsonl" --out "$OUT/bench.jsonl"
fi
keval() {  # mode, limit, run folder, extra keval arguments...
  local mode=$1 limit=$2 dir=$3; shift 3
  .venv/bin/keval run --model smollm2-135m --bench "$OUT/bench.jsonl" --mode "$mode" --limit "$limit" \
    --threads 1 --out "$OUT/$dir" -q "$@" > /dev/null
}
publish() {  # name, run folders...: merged into benchmarks/results/<family>_<name>_smollm2-135m/
  local name=$1; shift
  rm -rf "$RES/${FAMILY}_${name}_smollm2-135m"
  .venv/bin/keval report "$@" --out "$RES/${FAMILY}_${name}_smollm2-135m" -q > /dev/null
}
has() { [[ " $MODES " == *" $1 "* ]]; }
