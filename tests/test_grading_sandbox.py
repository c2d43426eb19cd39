"""One class of hostile submissions graded beside honest controls, in the bubblewrap sandbox.

Done means (issue: grading that one student cannot subvert): every control gets exactly its honest
score; every hostile one gets zero or its honest score, with a status or flag naming what it did
where the grader can see it; nothing outside a submission's scratch folder changes (snapshots of the
course folder, the originals and sentinels in the output folder); no process a submission started
survives grading; and the attackers saw nothing they should not (their own reports, read back from
their feedback).
"""
from __future__ import annotations

import csv
import hashlib
import html
import os
import re
import secrets
import socket
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from hostile_submissions import ATTACKS  # noqa: E402
from toy_assignment import ASSIGNMENT, release_toy, toy_solution  # noqa: E402

from itft_grader.grading.pipeline import GradingOptions, grade_class  # noqa: E402
from itft_grader.release.sample_class import copy_notebook, grade_cell, solved  # noqa: E402
from itft_grader.sandbox.bwrap import preflight  # noqa: E402


def _user_namespaces() -> bool:
    try:
        return int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0
    except (OSError, ValueError):
        return False


if not _user_namespaces():  # pragma: no cover - a kernel without them cannot run bubblewrap at all
    pytest.skip("this kernel offers no user namespaces, which bubblewrap needs", allow_module_level=True)
preflight()  # anything else that stops the sandbox is a failure here, not a skip

OPTIONS = GradingOptions(timeout=120, cell_timeout=30, memory_mb=1024, max_pids=256)
CONTROLS = {"doe_1001_perfect.ipynb": 5.0, "roe_1002_untouched.ipynb": 0.0, "poe_1003_syntax.ipynb": 3.0,
            "zed_1004_late.ipynb": 5.0}


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))

RUN_MARK = "ITFT_TEST_GRADING_RUN"

@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    solutions, course, inbox, out = base / "solutions", base / "course", base / "inbox", base / "out"
    for folder in (solutions, course, inbox, out):
        folder.mkdir()
    release = release_toy(solutions)
    good = solved(release, toy_solution())
    (course / "SENTINEL").write_text("the instructor's private course folder")
    (out / "SENTINEL").write_text("the grader's output folder")
    token = f"itft-daemon-{secrets.token_hex(6)}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    ctx = {"paths": [str(solutions), str(course), str(out), str(inbox)],
           "targets": [str(out / "grades.csv"), str(out / "originals" / "doe_1001_perfect.ipynb"),
                       str(out / "results" / "1001.json"), str(course / "SENTINEL"), str(solutions / "toy.ipynb"),
                       str(out / "SENTINEL")],
           "port": listener.getsockname()[1], "heartbeat": f"/tmp/{token}", "token": token}

    def write(name: str, nb) -> None:
        nbformat.write(nb, inbox / name)

    write("doe_1001_perfect.ipynb", good)
    write("roe_1002_untouched.ipynb", release)
    syntax = copy_notebook(good)
    grade_cell(syntax, "add_code").source = "def add(a, b)\n    return a +"
    write("poe_1003_syntax.ipynb", syntax)
    late = copy_notebook(good)
    late.cells.append(nbformat.v4.new_code_cell("print('all done')"))
    write("zed_1004_late.ipynb", late)
    expected = {}
    for n, (name, (make, honest)) in enumerate(ATTACKS.items()):
        nb = copy_notebook(good)
        grade_cell(nb, "mean_code").source = make(ctx)
        file = f"evil_{2001 + n}_{name}.ipynb"
        write(file, nb)
        expected[file] = (name, honest)
    late_exit = copy_notebook(good)  # every test has run when it ends its kernel
    late_exit.cells.append(nbformat.v4.new_code_cell("import os\nos._exit(0)"))
    write("evil_2100_late_exit.ipynb", late_exit)
    expected["evil_2100_late_exit.ipynb"] = ("late_exit", 5)
    # Identity: a file carrying a classmate's id, and archive junk that carries one too.
    impostor = copy_notebook(release)
    impostor.metadata["colab"] = {"name": "hw_1002.ipynb"}  # and names a third student inside
    write("mallory_1001_impostor.ipynb", impostor)
    os.utime(inbox / "mallory_1001_impostor.ipynb", (1.6e9, 1.6e9))  # sent before the real one
    (inbox / "__MACOSX").mkdir()
    (inbox / "__MACOSX" / "._doe_1001_perfect.ipynb").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    inputs, course_before, solutions_before = _tree(inbox), _tree(course), _tree(solutions)
    # Marks the sandboxes this class starts (their launchers inherit the grader's environment), so
    # that processes of other grading runs on a shared machine are not mistaken for survivors.
    os.environ[RUN_MARK] = token
    try:
        results = grade_class(inbox, ASSIGNMENT, out, workers=2, options=OPTIONS, solutions=solutions, progress=False)
    finally:
        listener.close()
        os.environ.pop(RUN_MARK, None)
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    return dict(out=out, rows=rows, results=results, expected=expected, ctx=ctx, inputs=inputs, inbox=inbox,
                course=(course, course_before), solutions=(solutions, solutions_before))


def _row(rows, file):
    [row] = [r for r in rows if r["file"] == file]
    return row


def test_controls_get_exactly_their_honest_scores(hostile_class):
    rows = hostile_class["rows"]
    for file, score in CONTROLS.items():
        row = _row(rows, file)
        assert float(row["auto_score"]) == score, row
        assert row["status"] in ("graded", "graded_with_notes"), row
        assert row["isolation"].startswith("bwrap+"), row


def test_hostile_submissions_get_zero_or_their_honest_score(hostile_class):
    rows = hostile_class["rows"]
    for file, (name, honest) in hostile_class["expected"].items():
        row = _row(rows, file)
        assert float(row["auto_score"]) in (0.0, honest), (name, row)


def test_statuses_name_what_the_visible_attacks_did(hostile_class):
    rows = {name: _row(hostile_class["rows"], file) for file, (name, _) in hostile_class["expected"].items()}
    assert rows["early_exit"]["status"] == "exited_early" and "mean_code" in rows["early_exit"]["message"]
    assert rows["segfault"]["status"] == "kernel_died" and "SIGSEGV" in rows["segfault"]["message"]
    assert rows["memory_bomb"]["status"] == "kernel_died" and "memory" in rows["memory_bomb"]["message"]
    assert "memory" in rows["memory_children"]["message"], rows["memory_children"]
    assert "process" in rows["fork_bomb"]["message"] or rows["fork_bomb"]["status"] in ("kernel_died", "timeout"), rows["fork_bomb"]
    assert rows["late_exit"]["status"] == "exited_early" and "cell 11" in rows["late_exit"]["message"]
    for flood in ("flood_one_line", "flood_many_lines"):
        assert rows[flood]["status"] == "output_limit" and "cut" in rows[flood]["message"], rows[flood]
        assert (hostile_class["out"] / "feedback" / f"{rows[flood]['student_id']}.html").stat().st_size < 2 * 2**20
    for machinery in ("alias_assert_helper", "ast_transformer"):  # test cells never run in the kernel: nothing to subvert
        assert (rows[machinery]["status"], float(rows[machinery]["auto_score"])) == ("graded", 2.0), rows[machinery]


def test_attackers_saw_and_reached_nothing(hostile_class):
    out = hostile_class["out"]
    key = {name: _row(hostile_class["rows"], file) for file, (name, _) in hostile_class["expected"].items()}

    def report(name: str) -> str:
        row = key[name]
        feedback = out / "feedback" / f"{row['student_id']}.html"
        match = re.search(rf"HOSTILE {name} \w+=(?!%)[^\n\[]*", _text(feedback))  # the output, not the source
        assert match, f"{name}: no report in its feedback"
        return match.group(0)

    assert report("read_secrets").startswith("HOSTILE read_secrets found=0 visible=0")
    # Paths under /tmp exist only in the sandbox's own /tmp: what it "wrote" there is checked to be
    # absent from the real folders in test_nothing_outside_the_scratch_folders_changed.
    assert report("write_grader").startswith("HOSTILE write_grader wrote=")
    assert report("kernel_injection").strip() == "HOSTILE kernel_injection kernels=0 connection_files=0 net=blocked"


def test_nothing_outside_the_scratch_folders_changed(hostile_class):
    out = hostile_class["out"]
    for folder, before in (hostile_class["course"], hostile_class["solutions"]):
        assert _tree(folder) == before
    assert (out / "SENTINEL").read_text() == "the grader's output folder"
    assert _tree(hostile_class["inbox"]) == hostile_class["inputs"]
    kept = _tree(out / "originals")
    for name, digest in hostile_class["inputs"].items():
        assert kept[Path(name).name] == digest, name
    assert not Path(hostile_class["ctx"]["heartbeat"]).exists()
    # The output folder holds only what the grader writes, one of each per submitted file.
    keys = {p.stem for p in (out / "results").iterdir()}
    allowed = {"SENTINEL", "grades.csv", ".grader-key", "originals/manifest.json"}
    allowed |= {f"results/{k}.json" for k in keys} | {f"feedback/{k}.html" for k in keys} | {f"logs/{k}.log" for k in keys}
    allowed |= {f"originals/{Path(name).name}" for name in hostile_class["inputs"]}
    assert set(_tree(out)) <= allowed, set(_tree(out)) - allowed
    assert len(keys) == len(hostile_class["rows"])
    assert max(p.stat().st_size for p in (out / "logs").iterdir()) < 2**20  # a kernel cannot flood the logs


def test_no_process_survives_grading(hostile_class):
    psutil = pytest.importorskip("psutil")
    token = hostile_class["ctx"]["token"]
    survivors = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if token in cmdline:
            survivors.append(cmdline[:120])
        elif proc.info["name"] == "bwrap" or "itft_grader.sandbox.bwrap" in cmdline:
            try:  # a sandbox of this class (not of another run on the same machine)
                ours = proc.environ().get(RUN_MARK) == token
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                ours = False
            if ours:
                survivors.append(cmdline[:120])
    assert survivors == []


def test_identity_from_file_names_only(hostile_class):
    rows = hostile_class["rows"]
    perfect, impostor = _row(rows, "doe_1001_perfect.ipynb"), _row(rows, "mallory_1001_impostor.ipynb")
    assert perfect["student_id"] == impostor["student_id"] == "1001"
    assert float(perfect["auto_score"]) == 5.0 and float(impostor["auto_score"]) == 0.0  # neither replaced the other
    assert {perfect["submission"], impostor["submission"]} == {"1/2", "2/2"}
    assert (perfect["counted"], impostor["counted"]) == ("yes", "no")  # the policy: the latest file counts
    assert impostor["submission"] == "1/2" and "names student 1002 inside" in impostor["message"]
    assert "2 files from this student" in perfect["message"]
    assert not any("__MACOSX" in r["file"] or r["file"].startswith("._") for r in rows)
    manifest = (hostile_class["out"] / "originals" / "manifest.json").read_text()
    assert "archive junk" in manifest


def test_the_watchdog_fallback_holds_the_tree_too(tmp_path):
    """Where no cgroup can be made (an ordinary user without delegation), the watchdog enforces."""
    solutions, inbox = tmp_path / "solutions", tmp_path / "inbox"
    solutions.mkdir()
    inbox.mkdir()
    release = release_toy(solutions)
    good = solved(release, toy_solution())
    nbformat.write(good, inbox / "doe_1001.ipynb")
    make, _ = ATTACKS["memory_children"]
    greedy = copy_notebook(good)
    grade_cell(greedy, "mean_code").source = make({})
    nbformat.write(greedy, inbox / "evil_2001.ipynb")
    options = GradingOptions(timeout=120, cell_timeout=30, memory_mb=1024, max_pids=256, limits="watchdog")
    results = {r.file: r for r in grade_class(inbox, ASSIGNMENT, tmp_path / "out", workers=2, options=options,
                                              solutions=solutions, progress=False)}
    assert results["doe_1001.ipynb"].total == 5 and results["doe_1001.ipynb"].isolation == "bwrap+watchdog"
    evil = results["evil_2001.ipynb"]
    assert evil.status == "kernel_died" and "1024 MB memory cap" in evil.message and evil.total == 0
