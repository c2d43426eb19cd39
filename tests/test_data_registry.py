"""Generated tasks, the registry, splits, and the hub source (fed by a fake ``load_dataset``)."""
from __future__ import annotations

import pytest

from itft_utils.data import GENERATED_TASKS, Task, generate_task, load_task, split_by_article, subsample, task_names
from itft_utils.data.hub import load_hub_task


@pytest.mark.parametrize("name", sorted(GENERATED_TASKS))
def test_generated_tasks_are_deterministic_and_well_formed(name):
    a = generate_task(name, sizes={"train": 30, "validation": 10, "test": 10})
    assert a.splits == generate_task(name, sizes={"train": 30, "validation": 10, "test": 10}).splits
    assert a.splits != generate_task(name, sizes={"train": 30, "validation": 10, "test": 10}, seed=1).splits
    assert a.sizes() == {"train": 30, "validation": 10, "test": 10}
    ids = [ex["id"] for rows in a.splits.values() for ex in rows]
    assert len(ids) == len(set(ids))
    for ex in a.split("train"):
        if a.task_type == "qa":
            start, text = ex["answers"]["answer_start"][0], ex["answers"]["text"][0]
            assert ex["context"][start : start + len(text)] == text
        elif a.task_type == "tagging":
            assert len(ex["tokens"]) == len(ex["tags"])
            assert all(0 <= t < len(a.label_names) for t in ex["tags"])
        elif a.task_type == "classification":
            assert ex["label"] in range(a.num_labels)
        else:
            assert 0.0 <= ex["label"] <= 5.0


def test_registry_lists_every_source_and_rejects_unknown_names():
    names = task_names()
    assert {"gen_qa", "squad", "sst2", "ud_pos", "subjqa"} <= set(names)
    with pytest.raises(KeyError, match="known tasks"):
        load_task("hotpotqa_v9")
    with pytest.raises(ValueError, match="no hub source"):
        load_task("gen_qa", source="hub")
    with pytest.raises(ValueError, match="unknown source"):
        load_task("squad", source="ftp")


def test_local_source_without_folder_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("ITFT_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="squad"):
        load_task("squad", source="local")


def test_task_validation():
    with pytest.raises(ValueError, match="unknown task_type"):
        Task("x", "ranking", {})
    with pytest.raises(ValueError, match="label_names"):
        Task("x", "classification", {"train": []})
    task = generate_task("gen_pair", sizes={"train": 2})
    assert task.is_pair and task.num_labels == 2 and task.family == "classification/regression"
    with pytest.raises(KeyError, match="has no split 'dev'"):
        task.split("dev")


def test_subsample_is_seeded_ordered_and_complete_when_large():
    rows = [{"id": i} for i in range(100)]
    a = subsample(rows, 10, seed=0)
    assert a == subsample(rows, 10, seed=0) and a != subsample(rows, 10, seed=1)
    assert [r["id"] for r in a] == sorted(r["id"] for r in a)
    assert subsample(rows, None) == rows and subsample(rows, 500) == rows


def test_split_by_article_shares_no_passage():
    rows = [{"id": i, "title": f"art{i // 3}"} for i in range(30)]  # 10 articles of 3 questions
    first, rest = split_by_article(rows, 4)
    assert len(first) == 12 and len(rest) == 18
    assert {r["title"] for r in first}.isdisjoint(r["title"] for r in rest)
    with pytest.raises(ValueError, match="10 articles"):
        split_by_article(rows, 10)


class _FakeHubSplit(list):
    """What ``datasets.load_dataset`` returns, as far as the converters use it."""

    def __init__(self, rows, features=None):
        super().__init__(rows)
        self.features = features or {}
        self.column_names = list(rows[0]) if rows else []


class _ClassLabels:
    def __init__(self, names):
        self.names = names


class _Sequence:
    def __init__(self, feature):
        self.feature = feature


def test_hub_conversion_for_squad_glue_and_tagging():
    from itft_utils.data.hub import CONLL2000_CHUNK_TAGS

    calls = []

    def fake_load_dataset(path, config, split, **kwargs):
        calls.append((path, config, split, kwargs.get("revision", "main")))
        if path == "rajpurkar/squad":
            return _FakeHubSplit([{"id": "a1", "title": "T", "context": "Paris is big.", "question": "What?",
                                   "answers": {"text": ["Paris"], "answer_start": [0]}}])
        if config == "stsb":
            return _FakeHubSplit([{"sentence1": "a", "sentence2": "b", "label": 3.2, "idx": 5}])
        return _FakeHubSplit([{"id": "0", "tokens": ["He", "runs"], "chunk_tags": [11, 21]}],
                             {"chunk_tags": _Sequence(_ClassLabels(CONLL2000_CHUNK_TAGS))})

    squad = load_hub_task("squad", fake_load_dataset)
    assert squad.split("train")[0]["answers"] == {"text": ["Paris"], "answer_start": [0]}
    assert ("rajpurkar/squad", None, "validation", "main") in calls
    stsb = load_hub_task("stsb", fake_load_dataset)
    assert stsb.split("train")[0] == {"id": "5", "text": "a", "text_pair": "b", "label": 3.2}
    chunks = load_hub_task("conll2000", fake_load_dataset)
    assert ("eriktks/conll2000", None, "test", "refs/convert/parquet") in calls  # the Parquet export, not the script
    assert chunks.label_names == CONLL2000_CHUNK_TAGS
    assert chunks.split("test")[0]["tags"] == [11, 21]
