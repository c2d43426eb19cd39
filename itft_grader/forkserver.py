"""A fork server for nbgrader runs: one process imports nbgrader once, then forks a child per run.

Importing nbgrader (and through it nbformat's schema validators and nbconvert) costs seconds of CPU, and
grading a submission runs nbgrader twice (autograde, generate_feedback): forked from a process that
has already imported it, a run starts in milliseconds. Each run is still a process of its own, as
``python -m nbgrader`` was: its own session (a timeout kills it and the kernel it started), its own
environment, folder, address-space cap and log. The server imports nothing but nbgrader, nbconvert
and this package's preprocessors, and never runs a student's code: kernels are started by the
children, in their sandboxes, as before.

``python -m itft_grader.forkserver`` reads one JSON request per line on stdin and answers on stdout
with ``{"id", "pid"}`` when a run starts and ``{"id", "code"}`` when it ends (a negative code: the
signal that killed it). The standard library's ``multiprocessing`` fork server was not used: its
children re-import the caller's main module (``itft``'s command line imports torch), once per run.
"""
from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field

PRELOAD = ("nbgrader.apps", "nbconvert.exporters", "itft_grader.checks.execute")
KILL_GRACE = 30.0  # seconds to wait, after killing a run past its timeout, for the server to report its end


class ServerDied(RuntimeError):
    """The fork server exited while a run was waiting (the grader's fault, never the student's)."""


@dataclass
class _Run:
    pid: int | None = None
    code: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)


class ForkServer:
    """The grader's side: starts the server, sends runs, waits for them (thread-safe)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1)
        self._lock = threading.Lock()  # the runs and whether the server's output has ended
        self._send_lock = threading.Lock()  # one request at a time on the server's input
        self._runs: dict[int, _Run] = {}
        self._next = 0
        self._closed = False  # set by the reader when the server's output ends: no run can start after that
        threading.Thread(target=self._read, daemon=True, name="itft-forkserver-reader").start()

    def alive(self) -> bool:
        with self._lock:
            return not self._closed and self._proc.poll() is None

    def run(self, root: str, argv: list[str], env: dict[str, str], log: str, memory: tuple[int, int | None] | None,
            timeout: float | None) -> int:
        """Run ``nbgrader ARGV`` in ``root``; its exit code (negative: killed by that signal). On
        timeout its whole session is killed and ``subprocess.TimeoutExpired`` raised."""
        request = {"root": root, "argv": argv, "env": env, "log": log, "memory": memory}
        with self._lock:
            if self._closed:
                raise ServerDied("the nbgrader fork server is gone")
            self._next += 1
            key, run = self._next, _Run()
            self._runs[key] = run
        try:  # a lock of its own: the reader must never wait for a writer blocked on a full pipe
            with self._send_lock:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps({"id": key, **request}) + "\n")
                self._proc.stdin.flush()
        except OSError as exc:  # the server is gone (BrokenPipeError)
            with self._lock:
                self._runs.pop(key, None)
            raise ServerDied(f"the nbgrader fork server is gone ({exc})") from None
        try:
            if not run.ended.wait(timeout):
                if run.pid is not None:
                    _kill_session(run.pid)
                run.ended.wait(KILL_GRACE)  # the server reports the killed run (a dead server never will)
                raise subprocess.TimeoutExpired(["nbgrader", *argv], timeout or 0)
        finally:
            with self._lock:
                self._runs.pop(key, None)
        if run.code is None:
            raise ServerDied("the nbgrader fork server died during the run")
        return run.code

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            message = json.loads(line)
            with self._lock:
                run = self._runs.get(message["id"])
            if run is None:
                continue
            if "pid" in message:
                run.pid = message["pid"]
            else:
                run.code = message["code"]
                run.ended.set()
        with self._lock:  # the server is gone: every waiting run is killed and ends, without a code
            self._closed = True
            for run in self._runs.values():
                if run.pid is not None:
                    _kill_session(run.pid)
                run.ended.set()


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # not yet in a session of its own
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


_server: ForkServer | None = None
_server_lock = threading.Lock()


def server() -> ForkServer:
    """This process's fork server, started on first use and again if it died."""
    global _server
    with _server_lock:
        if _server is None or not _server.alive():
            _server = ForkServer()
        return _server


# --- the server's side --------------------------------------------------------------------------


def _child(request: dict) -> int:
    """One nbgrader run, in the forked child: its own session, environment, folder, cap and log."""
    os.setsid()
    if request["memory"] is not None:
        soft, hard = request["memory"]
        resource.setrlimit(resource.RLIMIT_AS, (soft * 2**20, resource.RLIM_INFINITY if hard is None else hard * 2**20))
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["root"])
    log = os.open(request["log"], os.O_WRONLY | os.O_TRUNC)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    from nbgrader.apps.nbgraderapp import NbGraderApp

    sys.argv = ["nbgrader", *request["argv"]]  # what its messages call the program
    try:
        NbGraderApp.launch_instance(argv=request["argv"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _serve() -> None:
    for name in PRELOAD:
        __import__(name)
    selector = selectors.DefaultSelector()
    stdin = sys.stdin.fileno()
    selector.register(stdin, selectors.EVENT_READ)
    pending = b""

    def answer(message: dict) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()  # nothing buffered may be copied into the next child

    while True:
        for key, _ in selector.select():
            if key.fd == stdin:  # raw reads: a buffered reader could hold a request that select() never reports
                chunk = os.read(stdin, 1 << 16)
                if not chunk:
                    return
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    request = json.loads(line)
                    pid = _fork(request)
                    selector.register(os.pidfd_open(pid), selectors.EVENT_READ, (request["id"], pid))
                    answer({"id": request["id"], "pid": pid})
            else:
                run_id, pid = key.data
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                answer({"id": run_id, "code": os.waitstatus_to_exitcode(status)})


def _fork(request: dict) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = _child(request)
    except BaseException:  # anything raised in the child is that run's failure, in its log
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    _serve()
