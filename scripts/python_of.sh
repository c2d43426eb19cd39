#!/usr/bin/env bash
# The interpreter of one Python version (PYTHON if set), from the PATH or else pyenv's versions:
#   PY=$(bash scripts/python_of.sh 3.12)
set -euo pipefail
PY=${PYTHON:-python$1}
if ! "$PY" -c "" 2>/dev/null && command -v pyenv >/dev/null; then
  PY="$(pyenv root)/versions/$(pyenv versions --bare | grep "^${1//./\\.}\." | tail -1)/bin/python$1"
fi
"$PY" -c "" || { echo "no Python $1 found (set PYTHON)" >&2; exit 1; }
echo "$PY"
