#!/usr/bin/env bash
# The instructor build, installed the way an instructor installs it, works on a course folder:
# build the wheel, install it with the grader extra into a fresh virtual environment outside the
# checkout, run `itft course --course-dir <checkout>` there, and compare its grade sheets with the
# same command run from the checkout's own environment (.venv, from scripts/setup.sh).
#   bash scripts/check_instructor_build.sh [WORK_DIR] [--installed-only]     (about 8 minutes on 2 cores)
# --installed-only: only the installed build's run, which must end with every sample submission graded
# as expected (`itft course` exits 1 otherwise); the test suite runs this (about 4 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$(pwd)
WORK=${1:-$(mktemp -d /tmp/itft-instructor-XXXXXX)}
ONLY=${2:-}
. scripts/clean_env.sh
mkdir -p "$WORK/wheel"
rm -rf build  # a stale build/lib would ship modules deleted since
.venv/bin/python -m pip wheel -q --no-deps -w "$WORK/wheel" .
WHEEL=$(ls "$WORK"/wheel/itft_utils-*.whl)
make_clean_env "$WORK/venv" "$WHEEL[grader]"
(cd "$WORK" && "$WORK/venv/bin/itft" course --course-dir "$CHECKOUT" --out "$WORK/installed" > "$WORK/installed.log") || {
  tail -30 "$WORK/installed.log"; echo "the installed build's course run failed"; exit 1; }
if [ "$ONLY" = "--installed-only" ]; then
  grep -E "as expected|UNEXPECTED" "$WORK/installed.log"
  exit 0
fi
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
