"""Memory and process-count limits for a submission's whole process tree.

A per-process rlimit does not hold a submission to its budget (three children of 2.5 GiB each pass
a 6 GiB ``RLIMIT_AS``), so each submission gets a control group of its own, which the sandbox
launcher joins before it becomes bwrap. Three ways, the first that works here:

* ``cgroup-v2``: a child of the grader's own cgroup, where memory and pids are delegated to it
  (``systemd-run --user --scope -p Delegate=yes itft grade ...`` gives an ordinary user that);
* ``cgroup-v1``: memory and pids hierarchies the grader may write (root in a container);
* ``watchdog``: no cgroup available: a thread sums the resident memory and counts the processes of
  the sandbox's tree every 0.2 s and kills the sandbox past either limit. Coarser (a fast burst can
  overshoot between two looks), and the grade sheet says which one was in force.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path for a v1 controller, or the v2 path when ``controller`` is None."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller and controller in controllers.split(",")):
            return path
    return None


def _kill_all(procs_file: Path) -> None:
    for _ in range(50):  # processes can fork while we kill; repeat until the group is empty
        try:
            pids = [int(p) for p in procs_file.read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def _remove_group(group: Path) -> None:
    """rmdir a cgroup once its killed processes are gone (the kernel frees it a moment later)."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


class TreeLimits:
    """The limits of one submission's process tree; ``kind`` says how they are enforced.

    Besides memory and processes, the cgroup kinds hold the tree to one CPU where the machine lets
    them, so a fork bomb slows its own grading, not its classmates'.
    """

    kind = "none"

    def __init__(self, memory_mb: int, max_pids: int):
        self.memory_mb, self.max_pids = memory_mb, max_pids

    def procs_files(self) -> list[str]:
        """cgroup.procs files the launcher writes its pid to (none for the watchdog)."""
        return []

    def watch(self, pid_file: Path) -> None:
        """Start enforcing for the sandbox whose outer pid will appear in ``pid_file``."""

    def exceeded(self) -> str | None:
        """Which limit the tree ran into, if any ("memory" or "processes")."""
        return None

    def close(self) -> None:
        """Kill whatever is left of the tree and remove the group."""


class CgroupV1Limits(TreeLimits):
    kind = "cgroup-v1"

    def __init__(self, memory_mb: int, max_pids: int):
        super().__init__(memory_mb, max_pids)
        name = f"itft-{uuid.uuid4().hex[:12]}"
        self.memory = CGROUP_ROOT / "memory" / (_own_cgroup("memory") or "/").lstrip("/") / name
        self.pids = CGROUP_ROOT / "pids" / (_own_cgroup("pids") or "/").lstrip("/") / name
        self.cpu: Path | None = CGROUP_ROOT / "cpu" / (_own_cgroup("cpu") or "/").lstrip("/") / name
        self.memory.mkdir()
        try:
            self.pids.mkdir()
            try:  # one CPU for the tree, where the cpu hierarchy is writable too
                self.cpu.mkdir()
                (self.cpu / "cpu.cfs_quota_us").write_text(str(int((self.cpu / "cpu.cfs_period_us").read_text())))
            except OSError:
                self.cpu = None
            (self.memory / "memory.limit_in_bytes").write_text(str(memory_mb * 2**20))
            swap = self.memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory_mb * 2**20))
            (self.pids / "pids.max").write_text(str(max_pids))
        except OSError:
            self.close()
            raise

    def procs_files(self) -> list[str]:
        groups = [self.memory, self.pids] + ([self.cpu] if self.cpu else [])
        return [str(g / "cgroup.procs") for g in groups]

    def exceeded(self) -> str | None:
        try:
            control = (self.memory / "memory.oom_control").read_text()
            if any(line.split()[1] != "0" for line in control.splitlines() if line.startswith("oom_kill ")):
                return "memory"
            if int((self.pids / "pids.events").read_text().split()[-1]) > 0:
                return "processes"
        except (OSError, ValueError, IndexError):
            pass
        return None

    def close(self) -> None:
        for group in [self.pids, self.memory] + ([self.cpu] if self.cpu is not None else []):
            _kill_all(group / "cgroup.procs")
            _remove_group(group)


class CgroupV2Limits(TreeLimits):
    kind = "cgroup-v2"

    def __init__(self, memory_mb: int, max_pids: int):
        super().__init__(memory_mb, max_pids)
        own = CGROUP_ROOT / (_own_cgroup(None) or "/").lstrip("/")
        if not {"memory", "pids"} <= set((own / "cgroup.subtree_control").read_text().split()):
            raise OSError(f"{own}: memory and pids are not delegated to this cgroup")
        self.group = own / f"itft-{uuid.uuid4().hex[:12]}"
        self.group.mkdir()
        try:
            (self.group / "memory.max").write_text(str(memory_mb * 2**20))
            (self.group / "memory.swap.max").write_text("0")
            (self.group / "pids.max").write_text(str(max_pids))
            if (self.group / "cpu.max").exists():
                (self.group / "cpu.max").write_text("100000 100000")  # one CPU for the tree
        except OSError:
            self.close()
            raise

    def procs_files(self) -> list[str]:
        return [str(self.group / "cgroup.procs")]

    def exceeded(self) -> str | None:
        try:
            events = dict(line.split() for line in (self.group / "memory.events").read_text().splitlines())
            if int(events.get("oom_kill", 0)) > 0:
                return "memory"
            pids = dict(line.split() for line in (self.group / "pids.events").read_text().splitlines())
            if int(pids.get("max", 0)) > 0:
                return "processes"
        except (OSError, ValueError):
            pass
        return None

    def close(self) -> None:
        kill = self.group / "cgroup.kill"
        if kill.exists():
            try:
                kill.write_text("1")
            except OSError:
                pass
        _kill_all(self.group / "cgroup.procs")
        _remove_group(self.group)


class WatchdogLimits(TreeLimits):
    kind = "watchdog"
    interval = 0.2

    def __init__(self, memory_mb: int, max_pids: int):
        super().__init__(memory_mb, max_pids)
        self._stop = threading.Event()
        self._hit: str | None = None
        self._thread: threading.Thread | None = None

    def watch(self, pid_file: Path) -> None:
        self._thread = threading.Thread(target=self._run, args=(Path(pid_file),), daemon=True)
        self._thread.start()

    def _run(self, pid_file: Path) -> None:
        import psutil

        root = None
        while not self._stop.wait(self.interval):
            if root is None:
                try:
                    root = psutil.Process(int(pid_file.read_text()))
                except (OSError, ValueError, psutil.Error):
                    continue
            try:
                tree = [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                return  # the sandbox is gone
            hit = "memory" if rss > self.memory_mb * 2**20 else "processes" if len(tree) > self.max_pids else None
            if hit:
                self._hit = hit
                try:
                    root.kill()  # bwrap: its PID namespace, and so the whole tree, goes with it
                except psutil.Error:
                    pass
                return

    def exceeded(self) -> str | None:
        return self._hit

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def open_limits(memory_mb: int, max_pids: int = 512, kind: str = "auto") -> TreeLimits:
    """The strongest limits this machine allows for one submission's tree (``kind="watchdog"``
    forces the fallback, to check it where cgroups work)."""
    if kind == "watchdog":
        return WatchdogLimits(memory_mb, max_pids)
    for kind_class in (CgroupV2Limits, CgroupV1Limits):
        try:
            return kind_class(memory_mb, max_pids)
        except (OSError, ValueError):
            continue
    return WatchdogLimits(memory_mb, max_pids)


class ScratchWatch:
    """The submission's scratch folder (its ``HOME`` and working folder, on the grader's disk) held to
    a size and a file count: a thread in the grader sums it twice a second and kills the sandbox
    when it passes either cap, so that one notebook cannot fill the disk every other job shares.
    (``/tmp`` inside the sandbox is a size-limited tmpfs of its own.)"""

    interval = 0.5

    def __init__(self, folder: Path, max_mb: int, max_files: int, pid_file: Path):
        self.folder, self.max_bytes, self.max_files, self.pid_file = Path(folder), max_mb * 2**20, max_files, Path(pid_file)
        self.hit: str | None = None  # what was passed: "1024 MB" or "50000 files"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _usage(self) -> tuple[int, int]:
        size = files = 0
        stack = [self.folder]
        while stack and size <= self.max_bytes and files <= self.max_files:
            try:
                with os.scandir(stack.pop()) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        else:
                            files += 1
                            size += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
        return size, files

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            size, files = self._usage()
            if size > self.max_bytes or files > self.max_files:
                self.hit = f"{self.max_bytes // 2**20} MB" if size > self.max_bytes else f"{self.max_files} files"
                try:
                    os.kill(int(self.pid_file.read_text()), signal.SIGKILL)  # bwrap: its PID namespace goes with it
                except (OSError, ValueError):
                    pass
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
