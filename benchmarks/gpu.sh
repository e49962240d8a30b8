#!/usr/bin/env bash
# Issue 17's GPU figures in at most 8 minutes (benchmarks/gpu.py): statistics tokens/s, ROME seconds per
# edit, MEMIT with 10,000 edits in one batch (within a 4-minute budget: the edits done and the rate are
# reported otherwise) and the scorer's speed-up, on a GPT-J-6B-shaped model with random weights in bf16.
# Writes benchmarks/results/gpu_gptj_bfloat16.json with the machine it ran on.
# Usage: bash benchmarks/gpu.sh [extra gpu.py options]     (python benchmarks/gpu.py --shape tiny --device cpu: a CPU check)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "benchmarks/gpu.sh: no CUDA device is visible here; it measures a GPU (python benchmarks/gpu.py --shape tiny --device cpu checks the script)" >&2
  exit 1
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
timeout 470 "$PY" benchmarks/gpu.py --shape gptj --dtype bfloat16 --budget-s 240 "$@"
