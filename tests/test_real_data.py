"""Every real dataset of the shared data folder, through LOCAL_LOADERS, against the folder's README.

The folder is found through the environment variable ``ITFT_DATA_DIR``, else ``<repo>/../shared/data``
when that exists; without it the whole module is skipped. Nothing from the folder is copied here:
only counts.
"""
from __future__ import annotations

import re

import pytest

from itft_utils.data import default_data_dir
from itft_utils.data.local import (
    EXPECTED_FILES,
    LOCAL_LOADERS,
    missing_files,
    read_cola,
    read_conll_columns,
    read_conllu,
    read_mrpc,
    read_pubmedqa,
    read_pubmedqa_ground_truth,
    read_qnli,
    read_rte,
    read_squad_json,
    read_sst2,
    read_stsb,
    read_subjqa_csv,
)

DATA_DIR = default_data_dir()
if DATA_DIR is None:
    pytest.skip("real data not found: set ITFT_DATA_DIR or place the shared data folder at ../shared/data",
                allow_module_level=True)
if not DATA_DIR.is_dir():
    pytest.skip(f"ITFT_DATA_DIR={DATA_DIR} is not a folder", allow_module_level=True)

#: Examples per split. Counts are those of the README's table except SubjQA's: its files hold one
#: row per annotation (the README counts rows), the loader one example per question (q_review_id).
EXPECTED_SIZES = {
    "squad": {"all": 10570},
    "policyqa": {"train": 3809, "test": 4152},
    "subjqa": {"train": 4984, "validation": 1487, "test": 2363},
    "pubmedqa": {"train": 500, "test": 500},
    "sst2": {"train": 60614, "validation": 6735, "test": 872},
    "cola": {"train": 8551, "validation": 527, "test": 516},
    "rte": {"train": 2490, "validation": 277},
    "mrpc": {"train": 4076, "test": 1725},
    "stsb": {"train": 5749, "validation": 1500, "test": 1379},
    "qnli": {"all": 5463},
    "conll2000": {"train": 8936, "test": 2012},
    "ud_pos": {"train": 2001, "test": 2077},
    "wnut17": {"train": 3394, "validation": 1009, "test": 1287},
}

#: What each loader skips (or, for SubjQA, repairs), by reason; the files are pinned by sha256.
EXPECTED_SKIPPED = {
    "rte": {"unlabelled test example (rte/test.tsv)": 3000},
    "ud_pos": {"multiword token line": 713, "empty node line": 6},
    "wnut17": {"stray byte-order-mark line": 1},
    "subjqa": {"answer span cut at ANSWERNOTFOUND (kept)": 41,
               "ANSWERNOTFOUND annotation of a question another annotator answered": 2410},
}

_present = [n for n in LOCAL_LOADERS if not missing_files(DATA_DIR, n)]
if not _present:
    pytest.skip(f"no dataset of EXPECTED_FILES found under {DATA_DIR}", allow_module_level=True)


@pytest.fixture(scope="module")
def tasks():
    return {name: LOCAL_LOADERS[name](DATA_DIR) for name in _present}


def test_all_datasets_present():
    missing = {n: [str(p) for p in missing_files(DATA_DIR, n)] for n in LOCAL_LOADERS if n not in _present}
    assert not missing, f"datasets with missing files under {DATA_DIR}: {missing}"


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_split_sizes(tasks, name):
    if name not in tasks:
        pytest.skip(f"{name} not present")
    assert tasks[name].sizes() == EXPECTED_SIZES[name]
    assert tasks[name].skipped == EXPECTED_SKIPPED.get(name, {})


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_examples_well_formed(tasks, name):
    if name not in tasks:
        pytest.skip(f"{name} not present")
    task = tasks[name]
    assert task.name == name and task.description and task.domain
    for split, rows in task.splits.items():
        assert len({r["id"] for r in rows}) == len(rows), f"{name}/{split}: duplicate ids"
        if task.task_type == "classification":
            seen = {r["label"] for r in rows}
            assert seen == set(range(len(task.label_names))), f"{name}/{split}: labels {seen}"
        elif task.task_type == "regression":
            assert all(0.0 <= r["label"] <= 5.0 for r in rows)
        elif task.task_type == "tagging":
            assert all(len(r["tags"]) == len(r["tokens"]) > 0 for r in rows)
        else:
            for r in rows:
                for text, start in zip(r["answers"]["text"], r["answers"]["answer_start"]):
                    assert r["context"][start:start + len(text)] == text, r["id"]


def test_qa_specifics(tasks):
    if not {"squad", "policyqa", "subjqa"} <= set(tasks):
        pytest.skip("QA datasets not all present")
    assert len({r["title"] for r in tasks["squad"].split("all")}) == 48
    assert all(r["answers"]["text"] for r in tasks["squad"].split("all"))
    pq = tasks["policyqa"]
    assert not {r["title"] for r in pq.split("train")} & {r["title"] for r in pq.split("test")}
    subj = tasks["subjqa"]
    unanswerable = {s: sum(not r["answers"]["text"] for r in rows) for s, rows in subj.splits.items()}
    assert unanswerable == {"train": 1902, "validation": 822, "test": 868}
    assert all("ANSWERNOTFOUND" not in r["context"] for rows in subj.splits.values() for r in rows)


def test_qnli_is_made_of_the_squad_target(tasks):
    """Why QNLI is never a measured source for the SQuAD target offline (``atlas.ATLAS_SOURCES``): the
    local QNLI file (GLUE's dev set) is built from SQuAD v1.1's dev questions, so it holds questions of
    the target's training articles and of its 10 evaluation articles, with the sentence that answers
    each labelled as entailment: training on it would leak the test set into the source."""
    if not {"squad", "qnli"} <= set(tasks):
        pytest.skip("SQuAD and QNLI not both present")
    from itft_utils.data.splits import SQUAD_TRAIN_ARTICLES, split_by_article

    train, held_out = split_by_article(tasks["squad"].split("all"), SQUAD_TRAIN_ARTICLES)
    qnli = {r["text"].strip() for r in tasks["qnli"].split("all")}
    shared = {name: len(qnli & {r["question"].strip() for r in rows}) for name, rows in (("train", train), ("held_out", held_out))}
    assert shared == {"train": 3373, "held_out": 727}


def test_subjqa_validation_mostly_repeats_train(tasks):
    """A property of the original SubjQA splits, pinned here so nobody is surprised by it: 928 of
    the 1,487 validation questions (same question, same review) also occur in train."""
    if "subjqa" not in tasks:
        pytest.skip("subjqa not present")
    subj = tasks["subjqa"]
    shared = {r["id"] for r in subj.split("validation")} & {r["id"] for r in subj.split("train")}
    assert len(shared) == 928
    assert not {r["id"] for r in subj.split("test")} & {r["id"] for r in subj.split("train")}


# ------------------------------------------------------------------ the README's per-file table

def _count_file(rel: str) -> int:
    path = DATA_DIR / rel
    if rel.startswith(("squad_v1.1/", "policyqa/")):
        return len(read_squad_json(path))
    if rel.startswith("subjqa/"):
        return len(read_subjqa_csv(path, group=False))  # the README counts annotation rows
    if rel == "pubmedqa/ori_pqal.json":
        return len(read_pubmedqa(path))
    if rel == "pubmedqa/test_ground_truth.json":
        return len(read_pubmedqa_ground_truth(path))
    readers = {"sst2_glue/": read_sst2, "cola/": read_cola, "rte/": read_rte, "mrpc/": read_mrpc,
               "stsb/": read_stsb, "qnli/": read_qnli}
    for prefix, reader in readers.items():
        if rel.startswith(prefix):
            return len(reader(path))
    if rel.startswith("conll2000/"):
        return len(read_conll_columns(path, 0, 2))
    if rel.startswith("wnut17/"):
        return len(read_conll_columns(path, 0, 1))
    if rel.startswith("ud_en_ewt/"):
        return len(read_conllu(path))
    raise AssertionError(f"no reader for {rel}")


def _readme_counts() -> dict[str, int]:
    readme = DATA_DIR / "README.md"
    if not readme.is_file():
        pytest.skip(f"{readme} not found")
    rows = re.findall(r"^\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|", readme.read_text(encoding="utf-8"), flags=re.M)
    return {rel: int(n) for rel, n in rows}


def test_readme_table_covers_every_expected_file():
    table = _readme_counts()
    expected = {rel for rels in EXPECTED_FILES.values() for rel in rels}
    assert expected == set(table), f"differ: {sorted(expected ^ set(table))}"


@pytest.mark.parametrize("rel", sorted({rel for rels in EXPECTED_FILES.values() for rel in rels}))
def test_readme_count_per_file(rel):
    table = _readme_counts()
    if rel not in table or not (DATA_DIR / rel).is_file():
        pytest.skip(f"{rel} not in the README table or absent")
    assert _count_file(rel) == table[rel]
