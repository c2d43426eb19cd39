#!/usr/bin/env bash
# The long CPU runs that issues 15, 16 and 18 still need, in order, as two lanes (one per core). Every
# command is resumable (finished cells and runs are files under bench/results/ and are skipped), so the
# queue can be stopped at any point and started again; a lane's log is bench/out/queue-<lane>.log.
#
#     nohup bash bench/cpu_queue.sh a > /dev/null 2>&1 &
#     nohup bash bench/cpu_queue.sh b > /dev/null 2>&1 &
#
# Needs .carry/minilm (python bench/gpu_session.py --prepare) and, for the Trainer ablation,
# pip install -e .[bench]. Pause a lane with kill -STOP, resume with kill -CONT (e.g. around a benchmark).
set -uo pipefail
cd "$(dirname "$0")/.."
lane="${1:?lane a or b}"
mkdir -p bench/out
exec >> "bench/out/queue-$lane.log" 2>&1
run() {  # one resumable step, one thread, lowest priority; a failed step is logged and the lane goes on
    echo "== $(date -u '+%F %T') $*"
    nice -n 19 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python "$@" || echo "!! failed ($?): $*"
}
transfer=(bench/bench_transfer.py --model .carry/minilm --cache bench/results/transfer/intermediate)
case "$lane" in
a)  # issue 15: the target-size axis at 250 questions, seeds 3-5 (1,000 is the main matrix; seed 5's PolicyQA
    # encoder is trained here, for every size), and 500 at seed 5; issue 18: six seeds of the baseline and the QA sources
    # (SubjQA's seed 5 runs in lane b, so the two lanes never train the same cell);
    # then the Trainer ablation, more SubjQA seeds and 2,000 questions (about an hour a run)
    run "${transfer[@]}" --out bench/results/transfer_n250 --target-n 250 --seeds 3,4,5 --sources policyqa
    run "${transfer[@]}" --out bench/results/transfer_n500 --target-n 500 --seeds 5 --sources policyqa
    run "${transfer[@]}" --out bench/results/transfer --seeds 3,4,5 --sources policyqa
    run "${transfer[@]}" --out bench/results/transfer --seeds 4 --sources subjqa
    run bench/trainer_ablation.py --epochs 2
    run "${transfer[@]}" --out bench/results/transfer --seeds 6,7,8 --sources subjqa  # SubjQA's +1 F1 needs ~17 seeds
    run "${transfer[@]}" --out bench/results/transfer_n2000 --target-n 2000 --seeds 3,4 --sources policyqa
    ;;
b)  # issue 15: 500 questions; issue 16: the race's four more sources at seed 3 (whose encoders the race
    # reads), then the race
    run "${transfer[@]}" --out bench/results/transfer_n500 --target-n 500 --seeds 3,4 --sources policyqa
    run "${transfer[@]}" --out bench/results/transfer --seeds 3 --sources mrpc,stsb,wnut17,rte
    run bench/estimator_race.py --model .carry/minilm --seed 3 --out bench/results/estimator_race
    run "${transfer[@]}" --out bench/results/transfer --seeds 5 --sources subjqa  # issue 18, beside lane a's seed 4
    run bench/trainer_ablation.py --epochs 4
    run "${transfer[@]}" --out bench/results/transfer --seeds 0,1,2 --sources mrpc,stsb,wnut17,rte
    ;;
*)  echo "lane a or b"; exit 2 ;;
esac
echo "== $(date -u '+%F %T') lane $lane done"
