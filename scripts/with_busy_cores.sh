#!/usr/bin/env bash
# Run a command with N busy processes beside it (default 2: every core of this project's machines
# kept busy), to show that no test depends on an idle machine:
#   bash scripts/with_busy_cores.sh 2 bash .ci/run
set -euo pipefail
N=${1:?how many busy processes}; shift
pids=()
for _ in $(seq "$N"); do
  python3 -c "while True: pass" & pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
"$@"
