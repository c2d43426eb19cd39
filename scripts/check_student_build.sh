#!/usr/bin/env bash
# The student artefact works on its own and holds no answers: publish the student tree, install its
# wheel into a fresh virtual environment outside the checkout (with Jupyter's kernel and nbclient, as
# Colab has them), run every released notebook with the solutions filled in (a perfect student) in
# grading mode there, and check the installed library against the hidden tests' references.
#   bash scripts/check_student_build.sh [WORK_DIR]      (about 1 minute on 2 cores with uv, measured 63 s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${1:-$(mktemp -d /tmp/itft-student-XXXXXX)}
. scripts/clean_env.sh
rm -rf "$WORK/tree" "$WORK/perfect" "$WORK/run"
mkdir -p "$WORK/perfect" "$WORK/run"
.venv/bin/itft publish "$WORK/tree" > "$WORK/publish.log"
.venv/bin/python scripts/perfect_students.py "$WORK/perfect"
WHEEL=$(ls "$WORK"/tree/dist/itft_utils-*.whl)
make_clean_env "$WORK/venv" "$WHEEL" ipykernel nbclient nbformat
# From the run folder: a python started in the checkout would find its itft_utils on sys.path.
SITE=$(cd "$WORK/run" && "$WORK/venv/bin/python" -c "import itft_utils, pathlib; print(pathlib.Path(itft_utils.__file__).parent)")
case "$SITE" in "$(pwd)"*) echo "the clean environment imports itft_utils from the checkout ($SITE)"; exit 1;; esac
if (cd "$WORK/run" && "$WORK/venv/bin/python" -c "import itft_grader" 2>/dev/null); then
  echo "the student install contains the grading package"; exit 1
fi
.venv/bin/python - "$SITE" <<'PY'
import sys
from pathlib import Path

from itft_grader.release.publish import integrity_problems

problems = integrity_problems(package_dir=Path(sys.argv[1]))
print("\n".join(problems) or f"the installed library ({sys.argv[1]}) defines none of the hidden tests' references")
sys.exit(1 if problems else 0)
PY
(cd "$WORK/run" && env -i HOME="$WORK/run" PATH="$WORK/venv/bin:/usr/bin:/bin" NBGRADER_EXECUTION=autograde HF_HUB_OFFLINE=1 \
  "$WORK/venv/bin/python" "$ROOT/scripts/run_notebooks.py" "$WORK/perfect" grading)
