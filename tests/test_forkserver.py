"""nbgrader runs forked from the fork server: each with its own exit code, log, session and timeout,
side by side, and a server that dies fails only the runs it held.

nbgrader reads ``nbgrader_config.py`` from the folder it runs in, so a config that prints, exits or
sleeps stands in for an nbgrader run of that behaviour in milliseconds."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from itft_grader import forkserver
from itft_grader.course import NbgraderError, run_nbgrader

COMMAND = ("generate_assignment", "toy")  # any command that takes --force; the config decides how it ends


def _course(root: Path, config: str) -> Path:
    root.mkdir()
    (root / "nbgrader_config.py").write_text(config)
    return root


def test_runs_side_by_side_come_back_with_their_own_exit_code_and_log(tmp_path):
    roots = [_course(tmp_path / f"c{i}", f"import os, sys\nprint('run {i} in', os.getcwd(), os.environ['MARK'])\n"
                                          f"sys.exit({i})\n") for i in range(4)]  # run 0 succeeds
    outcomes: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            outcomes[i] = run_nbgrader(roots[i], *COMMAND, env={"MARK": f"mark-{i}"}, timeout=120)
        except NbgraderError as exc:
            outcomes[i] = str(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert f"run 0 in {roots[0]} mark-0" in outcomes[0] and "failed" not in outcomes[0]
    for i in (1, 2, 3):
        assert f"failed (exit {i})" in outcomes[i] and f"run {i} in {roots[i]} mark-{i}" in outcomes[i]


def test_a_run_past_its_timeout_is_killed_with_everything_it_started(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    root = _course(tmp_path / "c", "import subprocess, time\n"
                   f"open({str(pid_file)!r}, 'w').write(str(subprocess.Popen(['sleep', '600']).pid))\n"
                   "time.sleep(600)\n")
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_nbgrader(root, *COMMAND, timeout=3)
    assert time.monotonic() - started < 60
    _assert_gone(int(pid_file.read_text()))


def test_a_server_that_dies_fails_its_run_kills_what_it_started_and_is_replaced(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    slow = _course(tmp_path / "slow", "import subprocess, time\n"
                   f"open({str(pid_file)!r}, 'w').write(str(subprocess.Popen(['sleep', '600']).pid))\n"
                   "time.sleep(600)\n")
    fine = _course(tmp_path / "fine", "import sys\nprint('fine')\nsys.exit(0)\n")
    old = forkserver.server()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            run_nbgrader(slow, *COMMAND, timeout=300)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    for _ in range(1200):  # the run has started nbgrader's configuration (a loaded machine: give it a minute)
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    else:
        pytest.fail("the slow run never started")
    old._proc.kill()
    thread.join(60)
    assert not thread.is_alive() and isinstance(outcome[0], NbgraderError) and "fork server died" in str(outcome[0])
    _assert_gone(int(pid_file.read_text()))
    assert "fine" in run_nbgrader(fine, *COMMAND, timeout=60)
    assert forkserver.server() is not old


def _assert_gone(pid: int) -> None:
    for _ in range(200):  # killed with the run's session (reaped by init, so give it a moment)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("a process the run started outlived it")
