"""Homework 3's transfer cell reads whatever Homework 2 left (issue 30): its runs folder may be
missing, empty, unfinished, for another target, damaged, partial or complete (Homework 2 often ran
weeks earlier, in another runtime, on another target). The solution's own cell runs on each, never
raises, and says in one line which results it used."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import nbformat
import pytest

from itft_grader.checks.local import solution_namespace

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["gen_qa_aux", "gen_sentiment", "gen_topic", "gen_pair", "gen_similarity", "gen_tagging"]


def _cell(target: str, source: str | None, seed: int, f1: float) -> dict:
    return {"target": target, "source": source, "seed": seed, "metric": "f1", "metrics": {"f1": f1},
            "target_type": "qa", "source_type": None if source is None else "qa", "source_spec": {"n_train": 32}}


def _write(folder: Path, cells: list[dict]) -> None:
    for c in cells:
        path = folder / "cells" / c["target"] / f"{c['source'] or 'baseline'}-seed{c['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(c))


def _missing(folder: Path) -> None:
    pass


def _empty(folder: Path) -> None:
    (folder / "cells").mkdir(parents=True)


def _unfinished(folder: Path) -> None:  # killed during its first write: only the atomic write's temporary file
    (folder / "cells" / "gen_qa").mkdir(parents=True)
    (folder / "cells" / "gen_qa" / ".baseline-seed0.json.4242.tmp").write_text('{"target": "gen_')


def _foreign(folder: Path) -> None:  # Homework 2 in Colab, on SQuAD
    _write(folder, [_cell("squad", None, 0, 60.0), _cell("squad", "hotpotqa", 0, 63.0)])


def _damaged(folder: Path) -> None:
    _write(folder, [_cell("gen_qa", None, 0, 20.0)])
    (folder / "cells" / "gen_qa" / "gen_pair-seed0.json").write_text('{"target": "gen_qa", "sou')


def _partial(folder: Path) -> None:  # interrupted after the baseline and one source
    _write(folder, [_cell("gen_qa", None, 0, 20.0), _cell("gen_qa", "gen_qa_aux", 0, 30.0)])


def _complete(folder: Path) -> None:
    _write(folder, [_cell("gen_qa", s, seed, 20.0 + i + seed) for seed in (0, 1) for i, s in enumerate([None, *SOURCES])])


KINDS = {  # what Homework 2 left -> what the cell's line must say
    "missing": (_missing, "the course's recorded run for gen_qa, because no Homework 2 runs in"),
    "empty": (_empty, "the course's recorded run for gen_qa, because no Homework 2 runs in"),
    "unfinished": (_unfinished, "the course's recorded run for gen_qa, because Homework 2 left only unfinished files"),
    "foreign": (_foreign, "the course's recorded run for gen_qa, because Homework 2's finished runs in"),
    "damaged": (_damaged, "the course's recorded run for gen_qa, because Homework 2's runs in"),
    "partial": (_partial, "your Homework 2 runs in"),
    "complete": (_complete, "your Homework 2 runs in"),
}


@pytest.fixture(scope="module")
def before_transfers(tmp_path_factory):
    """The solution's namespace just before its transfer cell (grading mode: the generated library)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ITFT_MODE", "grading")
        mp.setenv("ITFT_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
        mp.delenv("ITFT_TRANSFER_RESULTS", raising=False)
        nb = nbformat.read(ROOT / "solutions" / "hw3_taskemb.ipynb", as_version=4)
        namespace = solution_namespace(nb, "heatmap_run")
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "transfers_run")
    choice = next(c for c in nb.cells if c.get("id") == "transfers-choice")  # the student's editable choice, as left
    return namespace, choice.source + "\n" + cell.source


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_transfer_cell_runs_on_whatever_homework2_left_and_says_what_it_used(kind, before_transfers, tmp_path,
                                                                                monkeypatch):
    namespace, source = before_transfers
    make, said = KINDS[kind]
    make(tmp_path / "hw2_intermediate")
    monkeypatch.setenv("ITFT_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("ITFT_TRANSFER_RESULTS", raising=False)
    printed = io.StringIO()
    ns = dict(namespace)
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<transfers_run>", "exec"), ns)
    first = printed.getvalue().splitlines()[0]
    assert first.startswith("transfer results: ") and said in first, first
    results = ns["results"]
    assert results.target == "gen_qa" and set(ns["scores"]) == set(SOURCES)  # every source of the library ranked
    if kind == "complete":
        assert results.scores == {s: pytest.approx(20.5 + i + 1) for i, s in enumerate(SOURCES)} and "taken" not in first
    if kind == "partial":  # the student's own numbers kept, the rest taken from the course's run, and said
        assert results.scores["gen_qa_aux"] == pytest.approx(30.0) and results.baseline == pytest.approx(20.0)
        assert "taken from the course's recorded run: " in first
    if kind == "foreign":
        assert "are for squad, not gen_qa" in first
    if kind == "damaged":
        assert "could not be read" in first


def test_the_transfer_cell_reads_the_class_atlas_by_name(before_transfers, tmp_path, monkeypatch):
    """TRANSFERS = "atlas": the class atlas the course publishes (ITFT_ATLAS_HOME, set by the setup cell), by
    name, for the chosen target; not published yet: a clear error that says where it looked."""
    namespace, source = before_transfers
    scores = {s: 30.0 + i for i, s in enumerate(SOURCES)}
    atlas = {"itft_atlas": 2, "targets": {"gen_qa": {"target": "gen_qa", "metric": "f1 in points", "baseline": 25.0,
                                                     "scores": scores, "note": "the class atlas"}}}
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("ITFT_ATLAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ITFT_TRANSFER_RESULTS", "atlas")
    monkeypatch.setenv("ITFT_RUNS_DIR", str(tmp_path / "runs"))  # no Homework 2 runs
    colab = {**namespace, "MODE": "colab"}  # the atlas is read where the class ran it, not while grading
    with pytest.raises(FileNotFoundError, match="has not published the class atlas yet"):
        exec(compile(source, "<transfers_run>", "exec"), dict(colab))
    graded, printed = dict(namespace), io.StringIO()
    with contextlib.redirect_stdout(printed):  # grading mode: the student's choice cannot break the graded run
        exec(compile(source, "<transfers_run>", "exec"), graded)
    assert printed.getvalue().startswith("transfer results: the course's recorded run for gen_qa")
    (tmp_path / "home" / "atlas.json").write_text(json.dumps(atlas))
    printed, ns = io.StringIO(), dict(colab)
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<transfers_run>", "exec"), ns)
    assert printed.getvalue().splitlines()[0] == "transfer results: atlas (gen_qa)"
    assert ns["results"].scores == scores and ns["rankings"]["TaskEmb"][0] in SOURCES


def test_with_the_atlas_the_selection_is_scored_on_every_target(before_transfers, tmp_path, monkeypatch):
    """The atlas cell after the selection table scores the student's TaskEmb and TextEmb rankings, with their own
    functions, on every atlas target that is in the task library, and averages them."""
    namespace, source = before_transfers
    nb = nbformat.read(ROOT / "solutions" / "hw3_taskemb.ipynb", as_version=4)
    across = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "atlas_targets_run").source
    rows = {t: {"target": t, "metric": "f1 in points", "baseline": 25.0, "scores": {s: 30.0 + i for i, s in enumerate(names)}}
            for t, names in (("gen_qa", SOURCES), ("gen_pair", ["gen_qa", "gen_qa_aux", "gen_sentiment", "gen_tagging"]),
                             ("not_in_the_library", SOURCES))}
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "atlas.json").write_text(json.dumps({"itft_atlas": 2, "targets": rows}))
    monkeypatch.setenv("ITFT_ATLAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ITFT_TRANSFER_RESULTS", "atlas")
    printed, ns = io.StringIO(), {**namespace, "MODE": "colab"}
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<transfers_run>", "exec"), ns)
        exec(compile(across, "<atlas_targets_run>", "exec"), ns)
    assert set(ns["across"]) == {"gen_qa", "gen_pair"}
    assert "TaskEmb over 2 atlas targets: mean NDCG@3" in printed.getvalue()
    ndcg = ns["ndcg_at_k"]
    ranking = ns["cosine_ranking"]("gen_pair", {s: ns["taskemb"][s] for s in ["gen_pair", *rows["gen_pair"]["scores"]]})
    assert ns["across"]["gen_pair"]["TaskEmb"][0] == pytest.approx(ndcg(ranking, rows["gen_pair"]["scores"], 3))
