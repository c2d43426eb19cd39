"""Adding a task of your own through the documented API (README: "Adding a task"), and training on it."""
from __future__ import annotations

import pytest

from itft_utils.data import DataFormatError, load_task, read_label_lines, register_task, split_by_article
from itft_utils.data.custom import REGISTERED
from itft_utils.data.local import read_conll_columns, read_squad_json
from itft_utils.qa import QASettings


@pytest.fixture(autouse=True)
def _forget_registrations():
    yield
    for name in ("my_trec", "my_ner", "my_qa", "my_reviews"):
        REGISTERED.pop(name, None)


def test_a_classification_task_in_a_few_lines_trains_one_step(tmp_path):
    (tmp_path / "trec").mkdir()
    (tmp_path / "trec" / "train.label").write_bytes("DESC:manner How did serfdom end ?\nLOC:city Where is Köln ?\n\n"
                                                    "HUM:ind Who wrote it ?\nLOC:other Where is the sea ?\n".encode("latin-1"))
    # -- the README's lines, as a user writes them --
    register_task("my_trec", "classification", {"train": "trec/train.label"}, read_label_lines, fmt="colon", encoding="latin-1")
    trec = load_task("my_trec", data_dir=tmp_path)
    # --
    assert trec.label_names == ["DESC", "HUM", "LOC"] and [ex["label"] for ex in trec.split("train")] == [0, 2, 1, 2]
    assert trec.split("train")[1]["text"] == "Where is Köln ?" and trec.skipped == {"blank line": 1}
    from itft_utils.finetune import fine_tune
    from itft_utils.training import TrainConfig

    result = fine_tune("tiny", trec, trec.split("train"), trec.split("train"), TrainConfig(epochs=1, batch_size=4),
                       settings=QASettings(32, 8))
    assert len(result.history.steps) >= 1 and 0.0 <= result.metrics["accuracy"] <= 1.0


def test_a_tagging_and_a_qa_task_in_a_few_lines(tmp_path):
    (tmp_path / "ner.txt").write_text("Anna NNP B-PER\nlives VBZ O\nin IN O\nOslo NNP B-LOC\n\nBen NNP B-PER\nran VBD O\n")
    (tmp_path / "qa.json").write_text('{"data": [{"paragraphs": [{"context": "Oslo is cold.", "qas": [{"id": "a", '
                                      '"question": "Which city?", "answers": [{"text": "Oslo ", "answer_start": 0}]}]}]}]}')
    register_task("my_ner", "tagging", {"train": tmp_path / "ner.txt"}, read_conll_columns, word_col=0, tag_col=2)
    register_task("my_qa", "qa", {"train": tmp_path / "qa.json"}, read_squad_json)
    ner, qa = load_task("my_ner"), load_task("my_qa")
    assert ner.label_names == ["O", "B-LOC", "B-PER"] and ner.split("train")[0]["tags"] == [2, 0, 0, 1]
    assert qa.split("train")[0]["answers"]["text"] == ["Oslo"] and qa.repaired  # the padded answer, trimmed


def test_line_reader_names_bad_lines_and_registry_checks_types(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("pos a fine film\nneg\n")
    with pytest.raises(DataFormatError, match=r"reviews.txt, record 2: label 'neg' without a text"):
        read_label_lines(path)
    with pytest.raises(ValueError, match="unknown task_type"):
        register_task("my_reviews", "sentiment", {"train": path}, read_label_lines)


def test_split_by_article_without_titles_splits_by_passage():
    rows = [{"id": str(i), "title": "", "context": f"passage {i % 5}", "question": "q", "answers": {"text": [], "answer_start": []}}
            for i in range(20)]
    with pytest.warns(UserWarning, match="by passage"):
        first, rest = split_by_article(rows, 3, seed=1)
    assert len({ex["context"] for ex in first}) == 3 and not {ex["context"] for ex in first} & {ex["context"] for ex in rest}
    with pytest.warns(UserWarning):
        assert split_by_article(rows, 3, seed=1) == (first, rest)
