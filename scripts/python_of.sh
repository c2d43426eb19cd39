#!/usr/bin/env bash
# The interpreter of one Python version (PYTHON if set), from the PATH, else pyenv's versions, else uv's:
#   PY=$(bash scripts/python_of.sh 3.12)
set -euo pipefail
PY=${PYTHON:-python$1}
if ! "$PY" -c "" 2>/dev/null && command -v pyenv >/dev/null; then
  PY="$(pyenv root)/versions/$(pyenv versions --bare | grep "^${1//./\\.}\." | tail -1)/bin/python$1"
fi
if ! "$PY" -c "" 2>/dev/null && [ -x .venv/bin/uv ]; then PY=$(.venv/bin/uv python find "$1" 2>/dev/null || echo "$PY"); fi
"$PY" -c "" || { echo "no Python $1 found (set PYTHON, or install it with pyenv or uv)" >&2; exit 1; }
echo "$PY"
