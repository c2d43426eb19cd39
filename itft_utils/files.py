"""Files that are never half-written, and short content keys for caches.

Runs are resumable (an interrupted transfer matrix, task library or grading run picks up where it
stopped), so everything they leave on disk is written under a temporary name and moved into place in
one step: a reader sees the old file or the whole new one. Cache folders are named by a digest of what
decides their content, so a changed setting never reuses a stale result.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import types
from pathlib import Path
from typing import Any


def digest(obj: Any, length: int = 12) -> str:
    """A short sha256 of ``obj`` as canonical JSON (sorted keys; other objects by ``str``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def slug(name: str) -> str:
    """``name`` as a short file-name part (its last 40 safe characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[-40:]


def code_digest(obj: Any, length: int = 12) -> str:
    """A short key for what a function (or class, partial or callable object) computes.

    A cache keyed by a function's name would hand a student who fixed a bug the numbers of the buggy
    version. This key covers the bytecode, constants, defaults and closure, and follows every function
    or class the code names from its own module (a notebook's helpers), so editing any of them changes it.
    """
    return digest(_code_parts(obj, set()), length)


def _code_parts(obj: Any, seen: set[int]) -> Any:
    if id(obj) in seen:
        return "<recursion>"
    if isinstance(obj, functools.partial):
        seen.add(id(obj))
        return ["partial", _code_parts(obj.func, seen), [_code_parts(a, seen) for a in obj.args],
                {k: _code_parts(v, seen) for k, v in sorted(obj.keywords.items())}]
    if inspect.ismethod(obj):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        seen.add(id(obj))
        module = obj.__module__
        named = [_code_parts(obj.__globals__[name], seen) for name in _names(obj.__code__)
                 if name in obj.__globals__ and _same_module(obj.__globals__[name], module)]
        cells = [_code_parts(c.cell_contents, seen) for c in obj.__closure__ or () if _filled(c)]
        return ["function", _code_object(obj.__code__), [_code_parts(d, seen) for d in obj.__defaults__ or ()], cells, named]
    if inspect.isclass(obj):
        seen.add(id(obj))
        methods = {k: _code_parts(v, seen) for k, v in sorted(vars(obj).items())
                   if callable(v) or isinstance(v, (staticmethod, classmethod))}
        return ["class", obj.__qualname__, methods]
    if isinstance(obj, (staticmethod, classmethod)):
        return _code_parts(obj.__func__, seen)
    if callable(obj) and hasattr(obj, "__dict__"):  # a callable object (a schedule): its class and its state
        seen.add(id(obj))
        return ["object", _code_parts(type(obj), seen), {k: _code_parts(v, seen) for k, v in sorted(vars(obj).items())}]
    return repr(obj)


def _code_object(code: types.CodeType) -> list:
    consts = [_code_object(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return [code.co_code.hex(), consts, list(code.co_names)]


def _names(code: types.CodeType) -> list[str]:
    """The global names a code object (and the functions nested in it) refers to."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _names(const)
    return sorted(set(names))


def _same_module(value: Any, module: str) -> bool:
    return (isinstance(value, types.FunctionType) or inspect.isclass(value)) and getattr(value, "__module__", None) == module


def _filled(cell: types.CellType) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # a closure variable not assigned yet
        return False
    return True


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)
    return path


def new_folder(target: str | Path) -> Path:
    """An empty temporary folder beside ``target``, to fill and then :func:`move_into_place`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))


def move_into_place(tmp: Path, target: str | Path, replace: bool = False) -> Path:
    """Rename a finished temporary folder to ``target``. If another process got there first, its
    copy (built from the same key) is kept and ours dropped; ``replace`` drops the old one instead."""
    target = Path(target)
    if replace and target.exists():
        shutil.rmtree(target)
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
