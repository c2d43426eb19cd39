"""Catch tampering with test machinery by what the kernel holds, not by how the source is spelled.

A regular expression over the source (``normalize.scan_for_tampering``) misses aliases:
``t = np.testing; t.assert_allclose = ...`` or ``ip = get_ipython(); ip.ast_transformers.append(...)``.
So before grading, a probe cell is put at the top of the notebook and before every test cell. The
first records the identity of what tests rely on (builtins, the assertion helpers and modules the
test cells use, IPython's input and AST transformers, event callbacks and exception hooks); each
later one compares and prints one line with a per-submission nonce. After grading, the pipeline
reads those lines from the graded notebook, flags what changed (naming the test cell it preceded),
flags probes that went silent (output hijacked), and removes the probe cells before feedback.

A submission controls its own kernel, so no check inside it is unbreakable; these make the
known dodges visible to a human, which is what a flag is for.
"""
from __future__ import annotations

import ast
import re
import secrets

import nbformat
from nbformat import NotebookNode

from .syntax import parse

PROBE_HEADER = re.compile(r"# itft integrity probe (\w+) (\d+) before=(\S+) ")
#: Always watched: the usual assertion and comparison helpers (module, attribute).
ALWAYS = [("math", "isclose"), ("operator", "eq"), ("numpy", "allclose"), ("numpy", "isclose"), ("numpy", "array_equal"),
          ("numpy.testing", "assert_allclose"), ("numpy.testing", "assert_array_equal"), ("numpy.testing", "assert_equal"),
          ("numpy.testing", "assert_almost_equal"), ("torch", "allclose"), ("torch", "equal"), ("torch", "isclose"),
          ("torch.testing", "assert_close")]

_PROBE = r'''# itft integrity probe %s %d before=%s (added by the grader)
def _itft_probe(nonce, n, watch):
    import builtins, importlib, sys, types
    try:
        ip = get_ipython()
        key = "_itft_probe_" + nonce
        state = sys.modules.get(key)
        if state is None:
            state = sys.modules[key] = types.ModuleType(key)
            state.base = {}
            for mod in ("math", "operator", "numpy", "numpy.testing"):
                try:
                    importlib.import_module(mod)
                except ImportError:
                    pass
        managed = {"input", "raw_input", "_", "__", "___", "get_ipython", "display", "exit", "quit"}  # IPython's own
        now = {"builtins." + k: v for k, v in vars(builtins).items() if k not in managed and not k.startswith("_i")}
        for mod, name in watch:
            if mod in sys.modules and hasattr(sys.modules[mod], name):
                now[mod + "." + name] = getattr(sys.modules[mod], name)
        for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            now["ipython." + attr] = tuple(getattr(ip, attr, ()))
        for event, callbacks in getattr(ip.events, "callbacks", {}).items():  # libraries add some; students should not
            now["ipython.events." + event] = tuple(c for c in callbacks if getattr(c, "__module__", None) == "__main__")
        now["ipython.custom_exceptions"] = tuple(getattr(ip, "custom_exceptions", ()))
        for name in ("run_cell", "run_ast_nodes", "run_code", "showtraceback", "showsyntaxerror", "transform_cell",
                     "_showtraceback"):
            now["ipython." + name] = vars(ip).get(name, getattr(type(ip), name, None))
        now["ipython.CustomTB"] = getattr(ip, "CustomTB", None)
        changed = []
        for k, v in now.items():
            if k not in state.base:
                suspicious = getattr(v, "__module__", None) == "__main__" or getattr(v, "__name__", "") == "<lambda>"
                if suspicious and not k.startswith(("builtins.", "ipython.", "sys.")):
                    changed.append(k)
                state.base[k] = v
            elif isinstance(v, tuple) and isinstance(state.base[k], tuple):
                if len(v) != len(state.base[k]) or any(a is not b for a, b in zip(v, state.base[k])):
                    changed.append(k)
            elif v is not state.base[k]:
                changed.append(k)
        changed += ["builtins." + k for k in ("AssertionError", "Exception") if k not in vars(builtins)]
        print("ITFT-PROBE", nonce, n, "changed " + ",".join(sorted(set(changed))) if changed else "ok")
    except BaseException as exc:
        print("ITFT-PROBE", nonce, n, "error " + type(exc).__name__)
_itft_probe(%r, %d, %r)
del _itft_probe
'''


def watched_names(test_sources: list[str]) -> list[tuple[str, str]]:
    """(module, attribute) pairs the test cells use: ``from m import a`` and ``alias.attr`` of imports."""
    pairs = set(ALWAYS)
    for source in test_sources:
        tree = parse(source)
        if tree is None:
            continue
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pairs.update((node.module, a.name) for a in node.names if a.name != "*")
            elif isinstance(node, ast.Import):
                aliases.update({(a.asname or a.name.split(".")[0]): (a.name if a.asname else a.name.split(".")[0]) for a in node.names})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                pairs.add((aliases[node.value.id], node.attr))
    return sorted(pairs)


def _probe_cell(nonce: str, n: int, watch: list[tuple[str, str]], before: str | None) -> NotebookNode:
    return nbformat.v4.new_code_cell(_PROBE % (nonce, n, before or "-", nonce, n, watch))


def _probe_header(cell: NotebookNode) -> re.Match | None:
    """(nonce, n, before) of a probe cell; nbgrader clears cell metadata, so the first line says it."""
    return PROBE_HEADER.match(cell.source) if cell.cell_type == "code" else None


def is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def insert_probes(nb: NotebookNode, release: NotebookNode) -> str:
    """Put probe cells into ``nb`` (in place); returns the nonce their lines carry."""
    nonce = secrets.token_hex(8)
    watch = watched_names([c.source for c in release.cells if is_test_cell(c)])
    cells = [_probe_cell(nonce, 0, watch, None)]
    for cell in nb.cells:
        if is_test_cell(cell):
            cells.append(_probe_cell(nonce, len(cells), watch, cell.metadata["nbgrader"]["grade_id"]))
        cells.append(cell)
    nb.cells = cells
    return nonce


def read_probes(nb: NotebookNode, nonce: str) -> tuple[list[str], list[str]]:
    """(flags, tainted test cells) from the probe cells of a graded notebook.

    A test cell is tainted when the probe before it saw changed machinery or printed nothing: its
    result cannot be trusted, so the pipeline scores it 0 and a human reviews the flag.
    """
    flags, tainted = [], []
    pattern = re.compile(rf"ITFT-PROBE {nonce} (\d+) (.*)")
    for cell in nb.cells:
        header = _probe_header(cell)
        if header is None or header.group(1) != nonce:
            continue
        if cell.get("execution_count") is None and not cell.get("outputs"):
            continue  # not run (the kernel stopped earlier): nothing to read
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        match = pattern.search(text)
        before = header.group(3)
        where = f"before test cell {before!r}" if before != "-" else "at the start"
        if match is None:
            flags.append(f"the integrity probe {where} printed nothing: output or execution hijacked")
        elif match.group(2) != "ok":
            flags.append(f"test machinery {match.group(2)} {where}")
        else:
            continue
        if before != "-":
            tainted.append(before)
    return flags, tainted


def probe_indices(nb: NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if _probe_header(c) is not None]


def remove_probes(nb: NotebookNode) -> NotebookNode:
    nb.cells = [c for c in nb.cells if _probe_header(c) is None]
    return nb
