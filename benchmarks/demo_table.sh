#!/usr/bin/env bash
# Every editor's single-mode figures on the SmolLM2 demo benchmark in one table, gen_em as the headline and
# token_acc beside it: the run folders the family benchmarks leave in $OUT (locate_family.sh single,
# prompt_family.sh, lifelong_family.sh single, trained_family.sh single), merged by keval report into
# benchmarks/results/demo_all_single_smollm2-135m/. Runs nothing itself; a family whose folders are missing is
# left out with a message. Usage: [OUT=runs/locate_family] bash benchmarks/demo_table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/locate_family}
RES=benchmarks/results/demo_all_single_smollm2-135m
dirs=()
# each editor once: the locate family's folder holds ROME and FT-L, which the other families also run beside theirs
for d in "$OUT/single" "$OUT"/prompt_single/{rag,memprompt,ike,mello} "$OUT"/lifelong_single/{grace,wise,t-patcher,calinet,ultraedit} \
         "$OUT"/trained_single/{mend,ke,serac}; do
  if [ -s "$d/cases.jsonl" ]; then dirs+=("$d"); else echo "left out (no run): $d"; fi
done
rm -rf "$RES"
.venv/bin/keval report "${dirs[@]}" --out "$RES" -q > /dev/null
echo "written: $RES (${#dirs[@]} run folders)"
