"""Hidden experiments: a design a student handed in, run by the grader in its own process on data the
notebook never shows, so that a design exercise earns points for what the design does, not for what the
student's kernel says it did. The kernel's probe returns the design as plain data (Homework 1: the
student's λ at 101 points of training progress); a check's ``expect`` runs the experiment here.

Homework 1's schedule design: the course's trainer (tiny model, one thread, the planted settings) mixes a
held-out draw of the planted target (``plant_qa``: 64 training questions, 200 hidden ones scored) with the
auxiliary that shares its rule (256 questions), λ following the student's values, at three seeds; the bar
is naive multi-task learning, λ = 0.5, under the same seeds and data, committed in
``resources/schedule_bar.json`` by ``python -m itft_grader.checks.experiments`` (tested to reproduce).
A design passes when its mean F1 over the seeds beats the bar's by more than :data:`MARGIN`.

Where it runs: a class's grading starts :func:`service` in the grader's main process, which has the training
stack imported already, and every nbgrader run sends its experiments there over a Unix socket in the
grader's private folder (``ITFT_EXPERIMENTS``), one at a time; importing torch in each nbgrader run instead
cost 4 of the experiment's 6 seconds per submission. Without the service (nbgrader run by hand, the tests)
the experiment runs in the calling process.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import socketserver
import statistics
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from itft_grader.checks.scoring import GraderFault

GRID = 101  # the schedule's values at progress 0, 0.01, ..., 1
SEEDS = (0, 1, 2)
DATA_SEED = 7  # a draw of the planted family that no notebook uses
SIZES = {"target": 64, "auxiliary": 256, "scored": 200}
MARGIN = 0.5  # F1 points a design must beat the bar's mean by (float noise between machines is far smaller)
CHECK_TOLERANCE = 0.05  # F1 points the recomputed bar may differ from the committed one (``--check``)
BAR = Path(__file__).resolve().parent / "resources" / "schedule_bar.json"
SERVICE_ENV = "ITFT_EXPERIMENTS"  # the service's socket, in the grader's private folder
MAX_REQUEST = 1_000_000  # bytes: a design is plain data, and small
SERVICE_TIMEOUT = 900.0  # seconds an nbgrader run waits for its experiment (the others' queue included)


def schedule_problem(values: Any) -> str | None:
    """Why ``values`` is not a usable schedule (None: it is): :data:`GRID` finite numbers in [0, 1]."""
    if not isinstance(values, list) or len(values) != GRID:
        return f"expected your schedule's λ at {GRID} points of training, got {type(values).__name__}"
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1]
    return f"λ must be a number in [0, 1] at every step; got {bad[0]!r}" if bad else None


def usable_schedule(values: Any) -> tuple[bool, str]:
    """A check's ``expect``: whether the design is a schedule, and why not."""
    problem = schedule_problem(values)
    return problem is None, problem or ""


#: The designs Homework 1's model answer compares on the hidden pair (``--report`` prints them).
DESIGNS = {
    "the model solution: 0.25 for the first half, then linearly to 1": lambda t: 0.25 if t < 0.5 else 0.25 + 0.75 * (t - 0.5) / 0.5,
    "linear 0.5 -> 1": lambda t: 0.5 + 0.5 * t,
    "linear 0.25 -> 1": lambda t: 0.25 + 0.75 * t,
    "the step at 50 % (auxiliary first), same budget": lambda t: 0.0 if t < 0.5 else 1.0,
    "constant 0.75": lambda t: 0.75,
    "the target alone (constant 1)": lambda t: 1.0,
}


def schedule_scores(values: Sequence[float]) -> list[float]:
    """Test F1 of the planted target at each of :data:`SEEDS`, λ following ``values`` (the hidden experiment)."""
    from itft_utils.data import generate_task
    from itft_utils.homework import PLANTED_SETTINGS, PLANTED_TARGET
    from itft_utils.mtl import LambdaSchedule
    from itft_utils.mtl_sweep import lambda_sweep
    from itft_utils.mtl_training import MTLConfig
    from itft_utils.qa import QASettings
    from itft_utils.runtime import torch_threads
    from itft_utils.training import TrainConfig

    class Tabulated(LambdaSchedule):
        """λ read off the student's values at the nearest of the :data:`GRID` points of progress."""

        def lam_at(self, t: float) -> float:
            return float(values[round(t * (GRID - 1))])

    target = generate_task(PLANTED_TARGET, sizes={"train": SIZES["target"], "validation": SIZES["scored"]}, seed=DATA_SEED)
    auxiliary = generate_task("plant_related", sizes={"train": SIZES["auxiliary"], "validation": 10}, seed=DATA_SEED)
    setting = PLANTED_SETTINGS["tiny"]
    config = TrainConfig(learning_rate=setting.learning_rate, epochs=setting.target_epochs, batch_size=16, warmup_ratio=0.1,
                         progress=False, device="cpu", mixed_precision="no")  # where the bar was made, on any grader
    with torch_threads(1), tempfile.TemporaryDirectory() as tmp:
        rows = lambda_sweep("tiny", target, auxiliary, {target.name: target.split("train"), auxiliary.name: auxiliary.split("train")},
                            target.split("validation"), {"design": MTLConfig(target.name, "weighting", Tabulated())},
                            config=config, settings=QASettings(128, 32), seeds={"design": list(SEEDS)}, out_dir=tmp)
    return [round(row["f1"], 4) for row in rows]


def _schedule_verdict(values: Any) -> tuple[bool, str]:
    problem = schedule_problem(values)
    if problem:
        return False, problem
    bar = json.loads(BAR.read_text())["f1"]
    mine = schedule_scores(values)
    gain = statistics.mean(mine) - statistics.mean(bar)
    # The bar's own scores stay with the grader: printed per seed, they would help tune a design to the hidden draw.
    return gain > MARGIN, (f"hidden planted pair, {len(SEEDS)} seeds: your schedule's F1 {', '.join(f'{m:.1f}' for m in mine)}; "
                           f"its mean minus naive λ = 0.5's: {gain:+.1f} (to pass: more than {MARGIN:+.1f})")


#: The experiments the service runs, by name: each takes a checked design and returns (passed, text).
EXPERIMENTS: dict[str, Callable[[Any], tuple[bool, str]]] = {"schedule": _schedule_verdict}


def beats_naive_mtl(values: Any) -> tuple[bool, str]:
    """A check's ``expect``: the design's hidden scores against the bar's, with the numbers the student reads."""
    return _run("schedule", values)


class ExperimentError(GraderFault):
    """A hidden experiment failed to run: the grader's fault, never the student's (the submission is not scored)."""


def _run(name: str, design: Any) -> tuple[bool, str]:
    """Experiment ``name`` on ``design``: through the class's service when there is one, else here."""
    path = os.environ.get(SERVICE_ENV)
    try:
        if not path:
            return EXPERIMENTS[name](design)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(SERVICE_TIMEOUT)
            conn.connect(path)
            conn.sendall(json.dumps({"experiment": name, "design": design}).encode() + b"\n")
            reply = json.loads(conn.makefile("rb").readline())
    except Exception as exc:  # noqa: BLE001 - whatever failed, it is not the student's doing
        raise ExperimentError(f"the hidden experiment {name!r} could not run: {type(exc).__name__}: {exc}") from exc
    if "error" in reply:
        raise ExperimentError(f"the hidden experiment {name!r} failed in the grader's service: {reply['error']}")
    return bool(reply["passed"]), str(reply["detail"])


@contextlib.contextmanager
def service(folder: Path) -> Iterator[Path]:
    """Run the experiments that nbgrader runs ask for in this process, one at a time, for as long as the
    block lasts; yields the socket to pass on in :data:`SERVICE_ENV`."""
    lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                request = json.loads(self.rfile.readline(MAX_REQUEST))
                with lock:
                    passed, detail = EXPERIMENTS[request["experiment"]](request["design"])
                reply: dict[str, Any] = {"passed": passed, "detail": detail}
            except Exception as exc:  # noqa: BLE001 - the run that asked says what failed
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            self.wfile.write(json.dumps(reply).encode() + b"\n")

    path = Path(folder) / "experiments.sock"
    server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="itft-experiments").start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        path.unlink(missing_ok=True)


def report() -> None:
    """The hidden scores of :data:`DESIGNS` against the committed bar: what the model answer quotes."""
    bar = json.loads(BAR.read_text())["f1"]
    print(f"{'design':<66} {'F1 per seed':<24} mean difference from λ = 0.5")
    for name, shape in DESIGNS.items():
        mine = schedule_scores([shape(k / (GRID - 1)) for k in range(GRID)])
        print(f"{name:<66} {', '.join(f'{m:.1f}' for m in mine):<24} {statistics.mean(mine) - statistics.mean(bar):+.1f}")
    print(f"{'naive λ = 0.5 (the bar)':<66} {', '.join(f'{b:.1f}' for b in bar)}")


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the bar, λ = 0.5's hidden scores; --report: the model answer's designs."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="recompute and compare with the committed bar; write nothing")
    parser.add_argument("--report", action="store_true", help="print the hidden scores of the designs the model answer quotes")
    args = parser.parse_args(argv)
    if args.report:
        report()
        return 0
    bar: dict[str, Any] = {"design": "constant λ = 0.5", "seeds": list(SEEDS), "data_seed": DATA_SEED, "sizes": SIZES,
           "f1": schedule_scores([0.5] * GRID)}
    if args.check:  # F1 on 200 questions moves in steps far above float noise: another CPU may still differ a little
        committed = json.loads(BAR.read_text())
        same = {k: v for k, v in committed.items() if k != "f1"} == {k: v for k, v in bar.items() if k != "f1"} and \
            len(committed["f1"]) == len(bar["f1"]) and all(abs(a - b) <= CHECK_TOLERANCE for a, b in zip(committed["f1"], bar["f1"]))
        print("the committed bar is reproduced" if same else f"differs: committed {committed}, now {bar}")
        return 0 if same else 1
    BAR.parent.mkdir(exist_ok=True)
    BAR.write_text(json.dumps(bar, indent=1) + "\n")
    print(f"wrote {BAR}: {bar['f1']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
