#!/usr/bin/env bash
# The instructor build, installed the way an instructor installs it, works on a course folder:
# build the wheel, install it with the grader extra into a fresh virtual environment outside the
# checkout, run `itft course --course-dir <checkout>` there, and compare its grade sheets with the
# same command run from the checkout's own environment (.venv, from scripts/setup.sh).
#   bash scripts/check_instructor_build.sh [WORK_DIR]      (about 8 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$(pwd)
WORK=${1:-$(mktemp -d /tmp/itft-instructor-XXXXXX)}
PY=${PYTHON:-python3}
mkdir -p "$WORK/wheel"
.venv/bin/python -m pip wheel -q --no-deps -w "$WORK/wheel" .
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "${ITFT_TORCH:-torch==2.13.0}"
"$WORK/venv/bin/python" -m pip install -q "$(ls "$WORK"/wheel/itft_utils-*.whl)[grader]"
(cd "$WORK" && "$WORK/venv/bin/itft" course --course-dir "$CHECKOUT" --out "$WORK/installed" > "$WORK/installed.log")
.venv/bin/itft course --out "$WORK/checkout" > "$WORK/checkout.log"
status=0
for sheet in "$WORK"/checkout/*/grading/grades.csv; do
  hw=$(basename "$(dirname "$(dirname "$sheet")")")
  if cmp -s "$sheet" "$WORK/installed/$hw/grading/grades.csv"; then
    echo "$hw: the installed build's grade sheet equals the checkout's"
  else
    echo "$hw: grade sheets differ"; diff "$sheet" "$WORK/installed/$hw/grading/grades.csv" || true; status=1
  fi
done
exit $status
