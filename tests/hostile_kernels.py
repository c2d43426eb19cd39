"""Submissions of the toy assignment that try to raise their *own* score from inside their kernel.

Each is the ``mean_code`` answer cell: an attack, then a wrong ``mean`` (``sum(xs) / 3``, right on the
public check only: 1 of the cell's 3 points) or none, with ``add`` left correct (2 points). With
trusted checks, none may score above what its honest code is worth (``honest``), and each gets the
status that names what happened. Attacks that look for something print one ``HOSTILE <name> ...`` line,
read back from the feedback: what the kernel could see.
"""
from __future__ import annotations

WRONG_MEAN = "\ndef mean(xs):\n    return sum(xs) / 3\n"
HONEST = 3.0  # add (2) + the wrong mean's public check (1 of 3 points)

#: name -> (code of the mean_code cell, its honest auto score, expected status)
ATTACKS: dict[str, tuple[str, float, str]] = {}

#: What a forger does with the one line of answers it finds: every answer of a three-check cell (the
#: mean's) becomes 2.0, which the public check accepts; the add cell's answers are left alone.
FORGE = '''
def _forge(line):
    import json
    marker, nonce, body = line.split(" ", 2)
    answers = json.loads(body)
    if len(answers) == 3:
        answers = [{"value": 2.0}] * 3
    return " ".join([marker, nonce, json.dumps(answers)])
'''


def attack(name: str, code: str, honest: float = HONEST, status: str = "graded") -> None:
    ATTACKS[name] = (code, honest, status)


attack("kernel_view", '''
import importlib, os, sys
modules = []
for name in ("itft_grader", "itft_grader.checks.references", "itft_grader.checks"):
    try:
        importlib.import_module(name)
        modules.append(name)
    except Exception:
        pass
files = [p for p in sys.path if "itft_grader" in p]  # the grading package's folder may exist, shown empty
roots = [p for p in sys.path if p and os.path.isdir(p)] + [os.path.expanduser("~"), "/tmp", "/", "/work", "/root"]
for root in dict.fromkeys(roots):
    for folder, dirs, names in os.walk(root):
        if folder.count(os.sep) - root.count(os.sep) >= 4 or folder.startswith(("/proc", "/sys", "/dev", "/usr/share")):
            dirs[:] = []
            continue
        files += [os.path.join(folder, n) for n in names if "itft_grader" in folder or n == "gradebook.db"]
print("HOSTILE kernel_view modules=%r files=%r" % (modules, sorted(set(files))[:20]))
def mean(xs):
    try:
        return importlib.import_module("itft_grader.checks.references").mean(xs)
    except Exception:
        return sum(xs) / 3
''')

attack("code_swap", '''
import numpy, itft_utils.selfcheck as selfcheck
selfcheck.partial_credit.__code__ = (lambda checks, points: float(points)).__code__
numpy.allclose.__code__ = (lambda *a, **k: True).__code__
''' + WRONG_MEAN)

attack("display_formatter", '''
formatter = get_ipython().display_formatter.formatters["text/plain"]
for kind in (float, int, str, list, dict):
    formatter.for_type(kind, lambda value, printer, cycle: printer.text("3"))
''' + WRONG_MEAN)

attack("compile_hook", FORGE + '''
def _hook(lines):
    source = "".join(lines)
    if "itft" not in source:
        return lines
    return ["import io as _io, contextlib as _cl\\n_buf = _io.StringIO()\\nwith _cl.redirect_stdout(_buf):\\n",
            "    exec(%r)\\n" % source,
            "print(_forge([l for l in _buf.getvalue().split(chr(10)) if l.startswith('itft-check-result')][-1]))\\n"]
get_ipython().input_transformers_post.append(_hook)
''' + WRONG_MEAN)

attack("ast_hook", '''
import ast
class _AllPass(ast.NodeTransformer):
    def visit_Call(self, node):  # every call to raises() and every comparison helper answers True
        self.generic_visit(node)
        if getattr(node.func, "id", "") in ("raises", "isclose", "allclose"):
            return ast.copy_location(ast.Constant(True), node)
        return node
get_ipython().ast_transformers.append(_AllPass())
''' + WRONG_MEAN)

attack("callback_forgery", FORGE + '''
import sys
_real = sys.stdout.write
def _write(text):
    return _real("\\n".join(_forge(l) if l.startswith("itft-check-result") else l for l in text.split("\\n")))
def _before(info=None):
    sys.stdout.write = _write
get_ipython().events.register("pre_run_cell", _before)
''' + WRONG_MEAN)

# A thread that knows the answer key (the hidden checks' right values) and sends it as an extra answer line
# with the request's parent header: the grader scores every line and keeps the lowest, so the runtime's own
# line, from the wrong mean, decides.
attack("thread_forgery", FORGE + '''
import sys, threading, time
ip = get_ipython()
def _spam():
    main = threading.main_thread().ident
    while True:
        frame = sys._current_frames().get(main)
        while frame is not None and "nonce" not in frame.f_locals:
            frame = frame.f_back
        if frame is not None:
            line = "itft-check-result " + frame.f_locals["nonce"] + ' [{"value": 2.0}, {"value": 0.5}, {"value": 3.0}]'
            ip.kernel.session.send(ip.kernel.iopub_socket, "stream", {"name": "stdout", "text": "\\n" + line + "\\n"},
                                   parent=ip.kernel.get_parent("shell"))
        time.sleep(0.001)
threading.Thread(target=_spam, daemon=True).start()
''' + WRONG_MEAN)

attack("json_patch", '''
import json
_dumps = json.dumps
def _lying_dumps(value, *args, **kwargs):
    if isinstance(value, list) and len(value) == 3 and all(isinstance(a, dict) for a in value):
        value = [{"value": 2.0}] * 3
    return _dumps(value, *args, **kwargs)
json.dumps = _lying_dumps
''' + WRONG_MEAN)

attack("shadowed_globals", '''
partial_credit = lambda *a, **k: 3.0
math = np = torch = json = sys = None
raises = lambda *a, **k: True
exec = print = globals = lambda *a, **k: None
''' + WRONG_MEAN)

attack("trace_and_profile", '''
import sys
def _tracer(frame, event, arg):
    if event == "return" and frame.f_code.co_name == "mean":
        frame.f_locals["result"] = 2.0
    return _tracer
sys.settrace(_tracer)
sys.setprofile(lambda frame, event, arg: None)
''' + WRONG_MEAN)

attack("lying_float", '''
class Liar(float):
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False
    def __float__(self):
        import sys
        frame = sys._getframe(1)
        return float(frame.f_locals.get("want", 2.0))
def mean(xs):
    return Liar(0.0)
''', honest=2.0)

attack("lying_ndarray", '''
import numpy as np
class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
    def tolist(self):
        return 2.0
def mean(xs):
    return np.zeros(()).view(Liar)
''', honest=2.0)

attack("lying_tensor", '''
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.tensor(2.0) if func.__name__ in ("tolist", "item") else super().__torch_function__(func, types, args, kwargs or {})
def mean(xs):
    return torch.zeros(()).as_subclass(Liar)
''', honest=2.0)

attack("array_protocol", '''
class Liar:
    def __array__(self, dtype=None, copy=None):
        import numpy as np
        return np.array(2.0)
    def __float__(self):
        return 2.0
    def tolist(self):
        return 2.0
def mean(xs):
    return Liar()
''', honest=2.0)

attack("fake_infrastructure", '''
class CellTimeoutError(Exception):
    pass
raise CellTimeoutError("No reply from kernel before timeout")
''', honest=2.0)

attack("disk_fill", '''
import os
os.makedirs("fill", exist_ok=True)
for i in range(200_000):
    with open(f"fill/{i}", "w") as f:
        f.write("x" * 4096)
with open("big", "wb") as f:
    for _ in range(4096):
        f.write(b"\\0" * 2**20)
''' + WRONG_MEAN, honest=0.0, status="disk_limit")

attack("sigint_blocked", '''
import signal, time
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
time.sleep(10**6)
''' + WRONG_MEAN, honest=0.0, status="timeout")
