"""Bad data files, written by the tests: wrong encodings, byte-order marks, empty and truncated files.

Each must raise a DataFormatError naming the file and the place (line, byte offset, JSON column),
or, where the file is fine in another encoding, read with ``encoding=``.
"""
from __future__ import annotations

import json

import pytest

from itft_utils.data.errors import DataFormatError
from itft_utils.data.generated_tasks import GENERATED_TASKS, _content, generate_task
from itft_utils.data.local import (
    read_conll_columns,
    read_conllu,
    read_glue_tsv,
    read_pubmedqa,
    read_squad_json,
    read_sst2,
    read_subjqa_csv,
)

SST2 = "sentence\tlabel\nun film très réussi\t1\nmauvais\t0\n"
SQUAD = {"data": [{"title": "T", "paragraphs": [{"context": "Paris is in France.", "qas": [
    {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]}]}]}]}


def test_latin1_file_names_file_line_and_byte(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(SST2.encode("latin-1"))
    with pytest.raises(DataFormatError) as err:
        read_sst2(path)
    message = str(err.value)
    offset = SST2.encode("latin-1").index("è".encode("latin-1"))
    assert str(path) in message and "line 2" in message and f"byte offset {offset}" in message and "encoding=" in message
    assert [ex["text"] for ex in read_sst2(path, encoding="latin-1")] == ["un film très réussi", "mauvais"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-8-sig", "utf-32"])
def test_a_byte_order_mark_decides_the_encoding(tmp_path, codec):
    path = tmp_path / "train.tsv"
    path.write_bytes(SST2.encode(codec))  # these codecs write their BOM first
    assert [ex["label"] for ex in read_sst2(path)] == [1, 0]


@pytest.mark.parametrize("codec, order", [("utf-16-le", "odd"), ("utf-16-be", "even")])
def test_utf16_without_a_byte_order_mark_is_named_with_the_encoding_to_pass(tmp_path, codec, order):
    """Read as UTF-8 it decoded without an error, and every label carried NULs."""
    from itft_utils.data import read_label_lines

    path = tmp_path / "train.tsv"
    path.write_bytes(SST2.encode(codec))  # these codecs write no BOM
    with pytest.raises(DataFormatError, match=rf"train.tsv: 100% of the bytes at {order} offsets are NUL when read as "
                                              rf"utf-8: the file looks like UTF-16 .* pass encoding='{codec}'"):
        read_sst2(path)
    assert [ex["label"] for ex in read_sst2(path, encoding=codec)] == [1, 0]
    labels = tmp_path / "labels.txt"
    labels.write_bytes("pos a fine film\nneg a dull one\n".encode(codec))
    with pytest.raises(DataFormatError, match=rf"labels.txt: .*encoding='{codec}'"):
        read_label_lines(labels, encoding="latin-1")  # decodes anything: only the NULs tell
    assert [ex["label"] for ex in read_label_lines(labels, encoding=codec)] == ["pos", "neg"]


def test_utf32_without_a_byte_order_mark_is_named_too(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(SST2.encode("utf-32-le"))
    with pytest.raises(DataFormatError, match=r"train.tsv: .*UTF-32 .*encoding='utf-32-le'"):
        read_sst2(path)


def test_cr_only_line_endings_end_lines(tmp_path):
    """A file saved with classic-Mac line ends was read as one line: three examples became one."""
    from itft_utils.data import read_label_lines

    path = tmp_path / "mac.txt"
    path.write_bytes(b"pos a fine film\rneg a dull one\r\rpos a fun ride\r")
    skipped: dict[str, int] = {}
    rows = read_label_lines(path, skipped=skipped)
    assert [(r["label"], r["text"]) for r in rows] == [("pos", "a fine film"), ("neg", "a dull one"), ("pos", "a fun ride")]
    assert [r["id"] for r in rows] == ["mac.txt-1", "mac.txt-2", "mac.txt-4"] and skipped == {"blank line": 1}
    tsv = tmp_path / "train.tsv"
    tsv.write_bytes(SST2.replace("\n", "\r").encode())
    assert [ex["text"] for ex in read_sst2(tsv)] == ["un film très réussi", "mauvais"]
    mixed = tmp_path / "mixed.tsv"
    mixed.write_bytes(b"sentence\tlabel\r\ngood\t1\rbad\t0\nfine\t1")
    assert [ex["label"] for ex in read_sst2(mixed)] == [1, 0, 1]


@pytest.mark.parametrize("reader, name", [
    (read_sst2, "train.tsv"), (read_squad_json, "dev.json"), (read_pubmedqa, "ori_pqal.json"),
    (lambda p: read_conll_columns(p, 0, 2), "train.txt"), (read_conllu, "train.conllu"),
    (read_subjqa_csv, "train.csv")])
@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_files_are_named(tmp_path, reader, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match="empty file") as err:
        reader(path)
    assert err.value.source == str(path)


def test_files_without_examples_are_named(tmp_path):
    tsv = tmp_path / "header_only.tsv"
    tsv.write_text("sentence\tlabel\n")
    with pytest.raises(DataFormatError, match="holds no examples"):
        read_sst2(tsv)
    squad = tmp_path / "no_articles.json"
    squad.write_text('{"data": []}')
    with pytest.raises(DataFormatError, match="holds no examples"):
        read_squad_json(squad)
    conll = tmp_path / "docstart_only.txt"
    conll.write_text("-DOCSTART- -X- -X- O\n\n")
    with pytest.raises(DataFormatError, match="holds no examples"):
        read_conll_columns(conll, 0, 3)


def test_truncated_json_gives_line_and_column(tmp_path):
    path = tmp_path / "dev.json"
    text = json.dumps(SQUAD)  # one line, as the official files are
    path.write_text(text[: len(text) // 2])
    with pytest.raises(DataFormatError) as err:
        read_squad_json(path)
    assert err.value.record.startswith("line 1, column ") and int(err.value.record.rsplit(" ", 1)[1]) > 1
    assert "truncated" in err.value.problem


def test_a_broken_json_file_points_inside_it(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD, indent=1).replace('"Where is Paris?"', '"Where is Paris?" oops'))
    with pytest.raises(DataFormatError) as err:
        read_squad_json(path)
    assert err.value.record.startswith("line ") and "truncated" not in err.value.problem


def test_glue_reader_takes_an_encoding(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes("index\tsentence\tlabel\n0\tcafé\t1\n".encode("cp1252"))
    rows = read_glue_tsv(path, ["sentence"], "label", label_map={"0": 0, "1": 1}, id_cols=["index"], encoding="cp1252")
    assert rows[0]["text"] == "café"


@pytest.mark.parametrize("name", sorted(GENERATED_TASKS))
def test_generated_splits_never_share_content(name):
    task = generate_task(name, sizes={"train": 400, "validation": 100, "test": 100})
    train = set(map(_content, task.split("train")))
    held_out = [_content(ex) for split in ("validation", "test") for ex in task.split(split)]
    assert not train & set(held_out)
    assert not set(map(_content, task.split("validation"))) & set(map(_content, task.split("test")))
    assert generate_task(name, sizes={"train": 400, "validation": 100, "test": 100}).splits == task.splits


def test_answers_padded_with_whitespace_are_trimmed_and_counted(tmp_path):
    doc = json.loads(json.dumps(SQUAD))
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [{"text": " France.", "answer_start": 11},
                                                            {"text": "France ", "answer_start": 12}]
    path = tmp_path / "padded.json"
    path.write_text(json.dumps(doc))
    repaired = {}
    [row] = read_squad_json(path, repaired=repaired)
    assert row["answers"] == {"text": ["France.", "France"], "answer_start": [12, 12]}
    assert repaired == {"whitespace stripped around an answer": 2}


def test_every_qa_path_aligns_answers():
    """Hub rows and registered tasks become Tasks too: a QA Task aligns whatever it is given."""
    from itft_utils.data.task import Task

    rows = [{"id": "h1", "title": "t", "context": "In Oslo it is cold.", "question": "Which city?",
             "answers": {"text": [" Oslo"], "answer_start": [2]}}]
    task = Task("hub_like", "qa", {"train": rows})
    assert task.split("train")[0]["answers"] == {"text": ["Oslo"], "answer_start": [3]}
    assert task.repaired == {"whitespace stripped around an answer": 1}
    bad = [{**rows[0], "id": "h2", "answers": {"text": ["Bergen"], "answer_start": [0]}}]
    with pytest.raises(DataFormatError, match="task hub_like, split train.*h2"):
        Task("hub_like", "qa", {"train": bad})


def test_evaluation_reports_golds_over_the_answer_cap(tiny_tokenizer):
    from itft_utils.finetune import golds_over_cap

    context = "the answer is " + " ".join(["paris"] * 40) + " ."
    long = {"id": "l", "context": context, "question": "what?", "answers": {"text": [" ".join(["paris"] * 40)], "answer_start": [14]}}
    short = {"id": "s", "context": context, "question": "what?", "answers": {"text": ["paris", " ".join(["paris"] * 40)],
                                                                             "answer_start": [14, 14]}}
    unanswerable = {"id": "u", "context": context, "question": "what?", "answers": {"text": [], "answer_start": []}}
    assert golds_over_cap([long, short, unanswerable], tiny_tokenizer, 30) == 1  # "short" has one gold that fits
    assert golds_over_cap([long, short, unanswerable], tiny_tokenizer, 64) == 0
