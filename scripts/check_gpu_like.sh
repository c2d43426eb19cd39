#!/usr/bin/env bash
# The lent GPU machine's software, here, before a GPU session is spent on bench/gpu_session.py: Python 3.12,
# torch 2.11, transformers 5.17, tokenizers 0.23.2 (the release that drops QA windows), accelerate 1.15,
# numpy, matplotlib, tqdm; no Jupyter stack, no datasets (/work/.library/device/KINDS.md). Prepares .carry/
# (fails if what travels is over 60 MiB), copies the tree as the device tool does (tracked and untracked,
# not ignored, files, plus .carry), runs every stage with --smoke, and checks that the carried tokenizers
# replaced 0.23.2 and that each notebook still makes the runs bench/results/gpu/colab_plan.json counts.
#   bash scripts/check_gpu_like.sh [WORK_DIR]     (downloads about 2.5 GB once, then ~4 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${1:-/tmp/itft-gpu-like}
if [ -z "$(.venv/bin/python -c 'from itft_utils.data import default_data_dir; print(default_data_dir() or "")')" ]; then
  echo "GPU-like check skipped: the Colab path needs the real data folder (ITFT_DATA_DIR or ../shared/data)"; exit 0
fi
PY=$(bash scripts/python_of.sh 3.12)
MACHINE=("torch==2.11.0" "transformers==5.17.0" "tokenizers==0.23.2" "accelerate==1.15.0" numpy matplotlib tqdm)
if [ ! -x "$WORK/venv/bin/python3" ]; then .venv/bin/uv venv -q -p "$PY" "$WORK/venv"; fi
PIP_CONFIG_FILE=/dev/null .venv/bin/uv pip install -q -p "$WORK/venv/bin/python3" "${MACHINE[@]}"
.venv/bin/python bench/gpu_session.py --prepare
rm -rf "$WORK/tree" "$WORK/out"
mkdir -p "$WORK/tree"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/tree"
cp -r .carry "$WORK/tree/"
cd "$WORK/tree"
env -i HOME="$WORK" PATH="$WORK/venv/bin:/usr/bin:/bin" python3 bench/gpu_session.py --smoke --out "$WORK/out" \
  --budget 1800 --write-plan "$WORK/plan.json"
"$WORK/venv/bin/python3" - "$WORK/out/report.json" <<'PY'
import json, sys
machine = json.load(open(sys.argv[1]))["machine"]
assert machine["tokenizers_installed"] == "0.23.2" and machine["tokenizers_used"] == "0.23.3", machine
for name in ("IPython", "nbformat", "nbclient", "datasets", "jupyter_client", "ipykernel"):
    try:
        __import__(name)
    except ImportError:
        continue
    sys.exit(f"{name} is installed: this environment is not like the GPU machine's")
print(f"GPU-like environment: Python {machine['python']}, torch {machine['torch']}, transformers {machine['transformers']}, "
      f"tokenizers {machine['tokenizers_installed']} replaced by the carried {machine['tokenizers_used']}")
PY
if ! diff -u "$ROOT/bench/results/gpu/colab_plan.json" "$WORK/plan.json"; then
  echo "the notebooks' runs changed: copy $WORK/plan.json to bench/results/gpu/colab_plan.json and commit it"; exit 1
fi
echo "GPU-like check passed: every stage ran in --smoke mode; the runs per notebook match bench/results/gpu/colab_plan.json"
