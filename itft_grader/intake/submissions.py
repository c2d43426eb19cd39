"""Intake: keep every file a class sent, decide whose each one is, and which ones count.

The file name (as the LMS wrote it) decides the student; nothing inside a notebook can change that.
A notebook that names another student inside (Colab keeps the Drive file name in its metadata) is
noted on the sheet. Several files of one student are all graded, each under its own key, and marked
as one student's; the ``policy`` (``latest``, ``best`` or ``all``) says which ones count. Archive
junk (``__MACOSX/``, ``._*``, ``.DS_Store``, ``.ipynb_checkpoints/``) is kept with the originals and
listed in the manifest, but never graded or matched to a student.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: The first run of 3+ digits between underscores (Canvas: name_12345_678_file.ipynb; Moodle:
#: Name_12345_assignsubmission_file_x.ipynb; plain: 12345.ipynb). Override for other LMSs.
DEFAULT_STUDENT_PATTERN = r"(?:^|_)(?P<student>\d{3,})(?=_|\.ipynb$)"
JUNK_FOLDERS = {"__MACOSX", ".ipynb_checkpoints"}
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
POLICIES = ("latest", "best", "all")


@dataclass
class Submission:
    file: str  # name as submitted (without the folders of a zip)
    student_id: str | None
    sha256: str
    path: Path  # the kept original
    key: str = ""  # unique per file: the result's name, and nbgrader's student id
    modified: str = ""  # ISO time from the zip entry or the file, for the ``latest`` policy
    claimed_id: str | None = None  # a different id the notebook names inside, if any
    problem: str = ""  # why the file was not read (over a size cap): its row says so, nothing is graded


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def junk_reason(path: str) -> str | None:
    """Why an archive entry is not a submission (None: it is one)."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if any(p in JUNK_FOLDERS for p in parts[:-1]):
        return f"inside {next(p for p in parts if p in JUNK_FOLDERS)}/"
    name = parts[-1] if parts else path
    if name in JUNK_NAMES or name.startswith("._"):
        return "operating-system metadata file"
    return None


#: What a class may expand to: a zip bomb, a huge file or an archive of junk must not fill the
#: grader's disk or memory. A homework notebook with its outputs is a few MB.
MAX_FILE_BYTES = 100 * 2**20
MAX_TOTAL_BYTES = 4 * 2**30
MAX_MEMBERS = 20_000


@dataclass
class _Entry:
    inner: str  # path inside the batch
    data: bytes | None  # None: not read (over a cap)
    modified: str
    problem: str = ""  # why it was not read


def _read_capped(stream, cap: int) -> bytes | None:
    """At most ``cap`` bytes of a stream, or None when it holds more (a zip member's declared size
    can lie, so the bytes are counted as they come)."""
    data = stream.read(cap + 1)
    return None if len(data) > cap else data


def _over(what: str, cap: int) -> str:
    return f"{what} the cap of {cap // 2**20:,} MB: not extracted, not graded"


def _entries(source: Path) -> tuple[list[_Entry], list[dict]]:
    """Every regular file of a zip or a folder (its bytes, unless over a cap), and the manifest records
    of what is listed but not read: links (never followed: a link could point at any file of the
    grader's machine), other non-regular files (devices, pipes) and archive members past the count cap."""
    entries: list[_Entry] = []
    skipped: list[dict] = []
    total = 0
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            for n, info in enumerate(i for i in zf.infolist() if not i.is_dir()):
                if n >= MAX_MEMBERS:
                    skipped.append({"file": info.filename, "student_id": None,
                                    "ignored": f"the archive holds more than {MAX_MEMBERS:,} files: not read"})
                    continue
                modified = dt.datetime(*info.date_time).isoformat()
                if total > MAX_TOTAL_BYTES:
                    entries.append(_Entry(info.filename, None, modified, _over("the class's files together pass", MAX_TOTAL_BYTES)))
                    continue
                with zf.open(info) as stream:
                    data = _read_capped(stream, MAX_FILE_BYTES)
                entries.append(_Entry(info.filename, data, modified, "" if data is not None else _over("larger than", MAX_FILE_BYTES)))
                total += len(data or b"")
        return entries, skipped
    if source.is_dir():
        for p in sorted(source.rglob("*")):
            inner = p.relative_to(source).as_posix()
            if p.is_symlink():
                skipped.append({"file": inner, "student_id": None, "ignored": "a link: not followed, not graded"})
            elif p.is_file():
                modified = dt.datetime.fromtimestamp(p.stat().st_mtime).isoformat(timespec="seconds")
                size = p.stat().st_size
                if size > MAX_FILE_BYTES or total + size > MAX_TOTAL_BYTES:
                    cap = MAX_FILE_BYTES if size > MAX_FILE_BYTES else MAX_TOTAL_BYTES
                    entries.append(_Entry(inner, None, modified, _over("larger than" if cap == MAX_FILE_BYTES
                                                                       else "the class's files together pass", cap)))
                    continue
                entries.append(_Entry(inner, p.read_bytes(), modified))
                total += size
            elif not p.is_dir():
                skipped.append({"file": inner, "student_id": None, "ignored": "not a regular file: not read, not graded"})
        return entries, skipped
    raise FileNotFoundError(f"{source}: neither a folder nor a zip of submissions")


def kept_name(inner: str) -> str:
    """The file name kept in ``originals/``: the entry's own name, unless that is empty, ``.`` or ``..``
    (a zip member named ``sub_622/..`` must not name a folder), then one made from its whole path."""
    name = PurePosixPath(inner.replace("\\", "/")).name
    return name if name.strip(".") else f"unnamed_{safe_id(inner)}"


def claimed_id(data: bytes, regex: re.Pattern) -> str | None:
    """The student id a notebook's own metadata names (Colab's Drive file name), if any."""
    try:
        meta = json.loads(data.decode("utf-8-sig")).get("metadata", {})
        name = meta.get("colab", {}).get("name", "")
    except (ValueError, AttributeError, RecursionError):  # not a notebook: its own row says so later
        return None
    match = regex.search(name) if isinstance(name, str) else None
    return safe_id(match.group("student")) if match else None


def intake(source: Path, out: Path, pattern: str = DEFAULT_STUDENT_PATTERN) -> list[Submission]:
    """Copy every file into ``out/originals`` byte for byte; return the submissions (junk excluded).

    ``originals/manifest.json`` lists every file, junk included, with its sha256 and what became of it.
    """
    originals = out / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    regex = re.compile(pattern)
    submissions: list[Submission] = []
    used_names: set[str] = set()
    per_student: dict[str, int] = {}
    entries, manifest = _entries(Path(source))
    for entry in sorted(entries, key=lambda e: (e.inner, e.modified)):
        inner, data, modified = entry.inner, entry.data, entry.modified
        name = PurePosixPath(inner).name
        junk = junk_reason(inner)
        match = regex.search(name) if name.endswith(".ipynb") and not junk else None
        sid = safe_id(match.group("student")) if match else None
        if data is None:  # over a cap: listed, and a row of its own when it is somebody's submission
            manifest.append({"file": inner, "kept_as": None, "sha256": None, "modified": modified, "student_id": sid,
                             "ignored": entry.problem})
            if sid is not None:
                submissions.append(Submission(name, sid, "", originals / "manifest.json", key=_student_key(sid, per_student),
                                              modified=modified, problem=f"{name}: {entry.problem}"))
            continue
        keep = kept_name(inner)
        while keep in used_names:  # two files of one name inside a zip: keep both
            keep = f"dup_{keep}"
        used_names.add(keep)
        (originals / keep).write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        record = {"file": inner, "kept_as": keep, "sha256": sha, "modified": modified}
        if junk:
            manifest.append({**record, "student_id": None, "ignored": f"archive junk ({junk}): not graded"})
            continue
        key = f"unidentified_{safe_id(keep)}" if sid is None else _student_key(sid, per_student)
        sub = Submission(name, sid, sha, originals / keep, key=key, modified=modified)
        claim = claimed_id(data, regex) if sid else None
        sub.claimed_id = claim if claim and claim != sid else None
        submissions.append(sub)
        manifest.append({**record, "student_id": sid, "key": key})
    (originals / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return submissions


def _student_key(sid: str, per_student: dict[str, int]) -> str:
    """The id for a student's first file, ``id__k`` for its k-th (counted in ``per_student``)."""
    per_student[sid] = per_student.get(sid, 0) + 1
    return sid if per_student[sid] == 1 else f"{sid}__{per_student[sid]}"


def counted(subs: list[tuple[Submission, float]], policy: str) -> set[str]:
    """Keys of the submissions that count, given (submission, auto total) pairs and a policy."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    by_student: dict[str, list[tuple[Submission, float]]] = {}
    for sub, total in subs:
        if sub.student_id:
            by_student.setdefault(sub.student_id, []).append((sub, total))
    keys: set[str] = set()
    for group in by_student.values():
        if policy == "all":
            keys.update(s.key for s, _ in group)
        elif policy == "latest":
            keys.add(max(group, key=lambda st: (st[0].modified, st[0].file))[0].key)
        else:
            keys.add(max(group, key=lambda st: (st[1], st[0].modified, st[0].file))[0].key)
    return keys
