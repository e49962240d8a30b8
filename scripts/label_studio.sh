#!/usr/bin/env bash
# Install Label Studio in its own venv (it pins openai<2 and pyarrow<25, which kedit's venv must
# not get) and print the path of its `label-studio` executable. Cached under $KEDIT_CACHE/tools.
set -euo pipefail
VERSION=${LABEL_STUDIO_VERSION:-1.23.2}
CACHE=${KEDIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kedit}
VENV="$CACHE/tools/label-studio-$VERSION"
EXE="$VENV/bin/label-studio"
if [ -x "$EXE" ] && [ -f "$VENV/.complete" ]; then echo "$EXE"; exit 0; fi
PY=${PYTHON:-python3}
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >&2
"$VENV/bin/pip" install -q "label-studio==$VERSION" >&2
touch "$VENV/.complete"
echo "$EXE"
