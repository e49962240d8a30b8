#!/usr/bin/env bash
# The prompt editors (IKE, RAG, MemPrompt, MeLLo) beside ROME on the built-in SmolLM2-135M, on the demo
# pipeline's benchmark (the one locate_family.sh builds), single mode, 20 cases, greedy generation on; one
# run folder per editor in $OUT/prompt_single/, merged into benchmarks/results/prompt_single_smollm2-135m/.
# MeLLo runs only with MELLO_URL set: an OpenAI-compatible endpoint, e.g. the llama-server of
# tests/fixtures/llama_server.py serving SmolLM2-135M-Instruct (http://127.0.0.1:PORT/v1); without it
# a MeLLo run folder left by an earlier call is still merged. An interrupted run resumes from its folder.
# Usage: [MELLO_URL=http://127.0.0.1:18555/v1] bash benchmarks/prompt_family.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-runs/locate_family}
EDITORS=${EDITORS:-rag,memprompt,ike,rome}
MODES=single
FAMILY=prompt
source benchmarks/smollm2_runs.sh
for ed in ${EDITORS//,/ }; do
  keval single 20 "prompt_single/$ed" --editors "$ed"
done
if [ -n "${MELLO_URL:-}" ]; then
  keval single 20 prompt_single/mello --editors mello --hparam "mello.base_url=$MELLO_URL"
fi
publish single "$OUT"/prompt_single/*/
