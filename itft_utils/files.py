"""Files that are never half-written, and short content keys for caches.

Runs are resumable (an interrupted transfer matrix, task library or grading run picks up where it
stopped), so everything they leave on disk is written under a temporary name and moved into place in
one step: a reader sees the old file or the whole new one. Cache folders are named by a digest of what
decides their content, so a changed setting never reuses a stale result.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def digest(obj: Any, length: int = 12) -> str:
    """A short sha256 of ``obj`` as canonical JSON (sorted keys; other objects by ``str``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


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
