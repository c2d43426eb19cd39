"""Turn whatever a student sent into a notebook nbgrader can grade, and say what was done.

Colab saves nbformat 4.0 with its own metadata (some of it personal: display names in
``executionInfo``), writes a kernelspec without ``language``, and lets students delete, edit or
duplicate locked cells, or lose the ``nbgrader`` metadata altogether. Here we:

* parse defensively (empty file, corrupt JSON and non-notebooks become clear errors);
* upgrade to nbformat 4.5 and drop Colab's metadata;
* restore each cell's nbgrader metadata from the release: by ``grade_id`` where it survived, by
  content for locked cells, and by position between restored neighbours for answer cells;
* drop duplicated grade cells (the first faithful copy wins) and report edited or deleted ones
  (nbgrader itself restores locked sources and, with ``add_missing_cells``, deleted cells);
* flag code that tampers with tests, or hands an exercise back to the course package
  (``delegation.py``), for a human to look at.
"""
from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from itft_grader.intake.delegation import forbidden_names, scan_for_delegation

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
COLAB_CELL_KEYS = ("id", "colab", "executionInfo", "outputId", "colab_type")
GRADING_KEYS = ("grade", "solution", "locked", "points", "task")  # what decides how a cell is graded
class SubmissionError(ValueError):
    """The file cannot be graded at all; ``status`` is the sheet's status for it."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Normalized:
    notebook: NotebookNode
    notes: list[str] = field(default_factory=list)  # what was repaired, for the sheet's message
    flags: list[str] = field(default_factory=list)  # what a human should look at


#: A homework has about 60 cells of a few kB; past these a file is no answer to it, and grading it would
#: tie up a worker for the whole time cap (100,000 cells run one by one) or feed the kernel a 50 MB cell.
MAX_CELLS = 5_000
MAX_CELL_CHARS = 2_000_000


def read_submission(raw: bytes, filename: str) -> NotebookNode:
    """Parse bytes into a v4 notebook, or raise SubmissionError saying what is wrong with the file."""
    if not raw.strip():
        raise SubmissionError("empty_file", f"{filename}: the file is empty")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError("corrupt_notebook", f"{filename}: not valid notebook JSON ({exc})") from None
    except RecursionError:
        raise SubmissionError("corrupt_notebook", f"{filename}: JSON nested too deeply to read, not a notebook") from None
    if not isinstance(data, dict) or "cells" not in data or not isinstance(data.get("cells"), list):
        raise SubmissionError("corrupt_notebook", f"{filename}: JSON without a list of cells, not a notebook")
    if len(data["cells"]) > MAX_CELLS:
        raise SubmissionError("too_large", f"{filename}: {len(data['cells'])} cells (at most {MAX_CELLS}); not graded")
    for n, cell in enumerate(data["cells"], start=1):
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        size = len(source) if isinstance(source, str) else sum(len(x) for x in source if isinstance(x, str))
        if size > MAX_CELL_CHARS:
            raise SubmissionError("too_large", f"{filename}: cell {n} holds {size:,} characters (at most "
                                  f"{MAX_CELL_CHARS:,}); not graded")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except RecursionError:  # a value nested deeper than Python's stack, e.g. in the metadata
        raise SubmissionError("corrupt_notebook", f"{filename}: a value nested too deeply to read") from None
    except Exception as exc:  # nbformat raises several types for malformed cells
        raise SubmissionError("corrupt_notebook", f"{filename}: unreadable notebook ({exc})") from None
    return nb


def _clean_colab(nb: NotebookNode) -> None:
    """Drop Colab's metadata (some of it personal) and set a complete kernelspec."""
    nb.metadata.pop("colab", None)
    nb.metadata.pop("accelerator", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.nbformat, nb.nbformat_minor = 4, 5
    for i, cell in enumerate(nb.cells):
        for key in COLAB_CELL_KEYS:
            cell.metadata.pop(key, None)
        cell["id"] = f"cell-{i}"  # nbformat 4.5 wants ids; Colab drops them


def _grade_id(cell: NotebookNode) -> str | None:
    meta = cell.metadata.get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _release_id(cell: NotebookNode) -> str:
    """The grade id of a cell of the release, which always has one."""
    gid = _grade_id(cell)
    assert gid is not None, "release cells are chosen by having a grade id"
    return gid


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def restore_metadata(nb: NotebookNode, release: NotebookNode) -> list[str]:
    """Give every release grade/solution/locked cell its metadata back; returns notes on what was done."""
    notes: list[str] = []
    reference = [c for c in release.cells if _grade_id(c)]
    by_id = {_grade_id(c): c for c in reference}
    owner: dict[str, int] = {}  # grade_id -> index of the submission cell that now carries it

    # 0. Locked cells whose grade_id was swapped with another's: the content decides.
    by_content = {(c.cell_type, _squash(c.source)): _grade_id(c) for c in reference if c.metadata["nbgrader"].get("locked")}
    for cell in nb.cells:
        gid = _grade_id(cell)
        true_gid = by_content.get((cell.cell_type, _squash(cell.source)))
        if gid in by_id and true_gid and true_gid != gid and by_id[gid].metadata["nbgrader"].get("locked"):
            cell.metadata["nbgrader"]["grade_id"] = true_gid
            notes.append(f"cell {gid!r} carried the grade id of another locked cell; restored as {true_gid!r} by its content")
    # 1. Cells whose grade_id survived: keep the first faithful one, strip duplicates.
    for i, cell in enumerate(nb.cells):
        gid = _grade_id(cell)
        if gid is None:
            cell.metadata.pop("nbgrader", None)  # damaged (not a dict) or empty
            continue
        if gid not in by_id:
            notes.append(f"unknown grade cell {gid!r} treated as an ordinary cell")
            cell.metadata.pop("nbgrader")
            continue
        if gid in owner:
            keep_new = by_id[gid].metadata["nbgrader"].get("locked") and _squash(cell.source) == _squash(by_id[gid].source) \
                and _squash(nb.cells[owner[gid]].source) != _squash(by_id[gid].source)
            loser = owner[gid] if keep_new else i
            nb.cells[loser].metadata.pop("nbgrader", None)
            if keep_new:
                owner[gid] = i
            notes.append(f"duplicated grade cell {gid!r}: graded one copy, ignored the other")
            continue
        owner[gid] = i
    # 2. Locked cells found by their content.

    def free() -> list[int]:
        return [i for i, c in enumerate(nb.cells) if _grade_id(c) is None and i not in owner.values()]

    restored: list[str] = []
    for ref in reference:
        gid = _release_id(ref)
        if gid in owner or not ref.metadata["nbgrader"].get("locked"):
            continue
        for i in free():
            if nb.cells[i].cell_type == ref.cell_type and _squash(nb.cells[i].source) == _squash(ref.source):
                owner[gid] = i
                restored.append(gid)
                break
    # 3. Answer cells found between their restored neighbours in release order.
    order = [_grade_id(c) for c in reference]
    for k, ref in enumerate(reference):
        gid = _release_id(ref)
        if gid in owner:
            continue
        before = max((owner[g] for g in order[:k] if g in owner), default=-1)
        after = min((owner[g] for g in order[k + 1 :] if g in owner), default=len(nb.cells))
        candidates = [i for i in free() if before < i < after and nb.cells[i].cell_type == ref.cell_type]
        if candidates:
            best = max(candidates, key=lambda i: difflib.SequenceMatcher(None, nb.cells[i].source, ref.source).ratio())
            owner[gid] = best
            restored.append(gid)
    # 4. Write the release's metadata onto every owner (repairs damaged flags and points too).
    for gid, i in owner.items():
        cell, reference_meta = nb.cells[i], by_id[gid].metadata["nbgrader"]
        current = cell.metadata.get("nbgrader", {})
        if gid not in restored and any(current.get(k) != reference_meta.get(k) for k in GRADING_KEYS):
            notes.append(f"repaired the nbgrader metadata of {gid!r}")
        cell.metadata["nbgrader"] = copy.deepcopy(reference_meta)
    if restored:
        notes.append(f"restored nbgrader metadata of {len(restored)} cell(s) from the release: {', '.join(restored)}")
    for ref in reference:
        gid, meta = _grade_id(ref), ref.metadata["nbgrader"]
        if gid not in owner:
            if meta.get("grade") or meta.get("locked"):
                notes.append(f"cell {gid!r} was deleted; nbgrader adds it back from the release")
            else:
                notes.append(f"answer cell {gid!r} was not found; it scores 0")
        elif meta.get("locked") and _squash(nb.cells[owner[gid]].source) != _squash(ref.source):
            notes.append(f"locked cell {gid!r} was edited; nbgrader grades the release's version")
    return notes


def normalize(raw: bytes, filename: str, release: NotebookNode, forbidden: set[str] | None = None) -> Normalized:
    """A gradeable notebook from a submission's bytes; raises SubmissionError for hopeless files.

    ``forbidden``: the course-package names answers may not call (``delegation.forbidden_names`` of
    the source notebook, whose cells declare them); by default, those the release itself implies.
    """
    nb = read_submission(raw, filename)
    _clean_colab(nb)
    notes = restore_metadata(nb, release)
    if not any(_grade_id(c) for c in nb.cells):
        raise SubmissionError("not_this_assignment", f"{filename}: no cell matches the release; is this the right notebook?")
    forbidden = forbidden_names(release) if forbidden is None else forbidden
    return Normalized(nb, notes, scan_for_delegation(nb, forbidden))
