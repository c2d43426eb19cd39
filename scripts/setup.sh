#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv: idempotent, offline-safe.
# torch is installed first and pinned (ITFT_TORCH overrides the pin, e.g. ITFT_TORCH="torch>=2.6" on a GPU
# box), and a torch that already imports is kept. The pin alone does not make it a CPU build: on x86-64
# Linux the public index's torch==2.13.0 is the CUDA build (several GB); where this machine keeps the CPU
# wheel on disk (PIP_FIND_LINKS) pip takes it, elsewhere install the CPU build first (README: setup).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
python -c "import torch" 2>/dev/null || python -m pip install -q "${ITFT_TORCH:-torch==2.13.0}"
python -m pip install -q -e ".[dev]"
echo "environment ready: $(python -c 'import tokenizers, torch, transformers; print("torch", torch.__version__, "| transformers", transformers.__version__, "| tokenizers", tokenizers.__version__)')"
