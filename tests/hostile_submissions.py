"""Hostile submissions of the toy assignment: what a student who attacks the grader would send.

Each puts its attack in the ``mean_code`` answer cell (the ``add`` answer stays correct, 2 points)
and, where it can, still defines a correct ``mean`` afterwards (3 more points), so its honest score
is known. Attacks that look for something print one ``HOSTILE <name> ...`` line, which the tests
read back from the feedback: what the attacker saw.
"""
from __future__ import annotations

MEAN = "\ndef mean(xs):\n    return sum(xs) / len(xs)\n"

#: name -> (code for the mean_code cell, honest auto score if the attack changes nothing)
ATTACKS: dict[str, tuple[str, float]] = {}


def attack(name: str, honest: float):
    def register(fn):
        ATTACKS[name] = (fn, honest)
        return fn

    return register


@attack("read_secrets", 5)
def read_secrets(ctx: dict) -> str:
    """Walk the file system for notebooks, gradebooks, the hidden tests and the grader's folders."""
    return f"""
import os, sys
found = []
for top in ("/", "/tmp", os.path.expanduser("~")):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "lib", "lib64")]
        if root.startswith((os.getcwd(), sys.prefix, sys.base_prefix)):
            continue  # its own scratch folder, and the Python environment every kernel shares
        found += [os.path.join(root, f) for f in files if f.endswith((".ipynb", ".db")) or "HIDDEN" in f]
visible = [p for p in {ctx['paths']!r} if os.path.exists(p)]
print("HOSTILE read_secrets found=%d visible=%d" % (len(found), len(visible)), found[:3], visible)
""" + MEAN


@attack("write_grader", 5)
def write_grader(ctx: dict) -> str:
    """Try to overwrite the grade sheet's folder, a classmate's original and the course folder."""
    return f"""
import os
wrote = 0
for path in {ctx['targets']!r}:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("owned")
        wrote += 1
    except OSError:
        pass
print("HOSTILE write_grader wrote=%d" % wrote)
""" + MEAN


@attack("kernel_injection", 5)
def kernel_injection(ctx: dict) -> str:
    """Find other kernels (processes, connection files) and reach the grader's loopback."""
    return f"""
import glob, os, socket
def cmdline(pid):
    try:
        return open(f"/proc/{{pid}}/cmdline", "rb").read()
    except OSError:
        return b""
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid()) and b"ipykernel" in cmdline(p)]  # 1: its own bwrap
tops = ["/tmp", "/root", "/home", "/run", "/var", os.path.expanduser("~")]
conn = [f for top in tops for f in glob.glob(top + "/**/kernel*.json", recursive=True) if not f.startswith(os.getcwd())]
try:
    socket.create_connection(("127.0.0.1", {ctx['port']}), timeout=2).close()
    net = "connected"
except OSError:
    net = "blocked"
print("HOSTILE kernel_injection kernels=%d connection_files=%d net=%s" % (len(others), len(conn), net))
""" + MEAN


@attack("kill_everyone", 5)
def kill_everyone(ctx: dict) -> str:
    """Signal every process it can see, the grader's included if it could."""
    return """
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
""" + MEAN


@attack("daemon", 5)
def daemon(ctx: dict) -> str:
    """Leave a process behind in its own session that keeps writing to a host path."""
    return f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time\\nwhile True:\\n    open({ctx['heartbeat']!r}, 'w').write('alive')\\n    time.sleep(0.2)",
                  {ctx['token']!r}], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""" + MEAN


@attack("fork_bomb", 2)
def fork_bomb(ctx: dict) -> str:
    """Fork until something stops it (children spin, forking on)."""
    return """
import os, time
for _ in range(5000):
    if os.fork() == 0:
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.05)
""" + MEAN


@attack("memory_children", 5)
def memory_children(ctx: dict) -> str:
    """Three children of 700 MB each: over a 1 GiB cap for the tree, under it for each process."""
    return """
import subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", "b = b'x' * (700 * 2**20)\\nimport time\\ntime.sleep(30)"]) for _ in range(3)]
time.sleep(6)
""" + MEAN


@attack("memory_bomb", 0)
def memory_bomb(ctx: dict) -> str:
    return "hog = b'x' * (3 * 2**30)" + MEAN


@attack("early_exit", 0)
def early_exit(ctx: dict) -> str:
    return "import os\nos._exit(0)"


@attack("segfault", 0)
def segfault(ctx: dict) -> str:
    return "import ctypes\nctypes.string_at(0)"


@attack("flood_one_line", 5)
def flood_one_line(ctx: dict) -> str:
    """100 MB printed on one line."""
    return "print('x' * (100 * 2**20))" + MEAN


@attack("flood_many_lines", 5)
def flood_many_lines(ctx: dict) -> str:
    """3,000 lines of 20,000 characters."""
    return "for i in range(3000):\n    print('y' * 20000)" + MEAN


@attack("stderr_flood", 5)
def stderr_flood(ctx: dict) -> str:
    """200 MB straight to the kernel process's stderr, past IPython's capture, at the grader's pipe."""
    return "import os\nchunk = b'z' * 2**20\nfor _ in range(200):\n    os.write(2, chunk)" + MEAN


@attack("alias_assert_helper", 2)
def alias_assert_helper(ctx: dict) -> str:
    """Disable the test's math.isclose through an alias (the regex scan cannot see it)."""
    return "import math as m\nhelper = m\nsetattr(helper, 'is' + 'close', lambda *a, **k: True)\ndef mean(xs):\n    return 0\n"


@attack("ast_transformer", 2)
def ast_transformer(ctx: dict) -> str:
    """An AST transformer, reached through an alias, that deletes every assert of later cells."""
    return """
import ast
class Quiet(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
shell = globals()["get_" + "ipython"]()
hooks = getattr(shell, "ast_" + "transformers")
hooks.append(Quiet())
def mean(xs):
    return 0
"""
