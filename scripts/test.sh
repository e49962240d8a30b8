#!/usr/bin/env bash
# Quick start 2: set up, then run the whole test suite (slow tests included). No tests is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# the real servers the tests talk to, built/installed once and cached outside git:
# llama-server (OpenAI-compatible, serves SmolLM2-135M-Instruct) and Label Studio (its own venv)
KEDIT_LLAMA_SERVER=$(bash scripts/llama_server.sh) || { echo "test.sh: building llama-server failed" >&2; exit 1; }
KEDIT_LABEL_STUDIO=$(bash scripts/label_studio.sh) || { echo "test.sh: installing Label Studio failed" >&2; exit 1; }
export KEDIT_LLAMA_SERVER KEDIT_LABEL_STUDIO
# a real browser for the annotator-view test: Debian's chromium, driven by playwright (never `playwright install`)
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; } \
    || { echo "test.sh: installing chromium failed" >&2; exit 1; }
fi
.venv/bin/pip install -q "playwright==1.65.2" || { echo "test.sh: installing playwright failed" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "test.sh: pytest collected no tests" >&2; exit 1; fi
exit "$rc"
