"""Adding a task of your own through the documented API (README: "Adding a task"), and training on it."""
from __future__ import annotations

import pytest

from itft_utils.data import (
    DataFormatError,
    load_task,
    read_class_files,
    read_label_lines,
    register_task,
    split_by_article,
    task_names,
)
from itft_utils.data.custom import REGISTERED
from itft_utils.data.local import read_conll_columns, read_squad_json
from itft_utils.qa import QASettings


@pytest.fixture(autouse=True)
def _forget_registrations():
    yield
    for name in ("my_trec", "my_ner", "my_qa", "my_reviews", "my_mr", "my_nums", "my_empty", "squad", "gen_qa"):
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


SENTENCES = ["the film is a mess", "a quiet and moving story", "it never finds its feet", "one of the year's best",
             "an honest , funny portrait", "too long by half", "yet another heist movie", "this is cinema at its purest",
             "nothing here surprises", "i laughed , i cried", "dull , flat and grey", "what a ride",
             "its heart is in the right place", "slow going", "every scene rings true", "so bad it hurts",
             "perhaps the best thing he has done", "in a word : boring", "few films are this brave", "watch it twice",
             "despite the cast , it sinks", "our hero is a bore", "warm , wise and witty", "how did this get made ?"]


def test_tab_separated_labels_are_refused_under_first_and_read_with_tab(tmp_path):
    """``LABEL<TAB>text`` read as ``LABEL text`` gave the label '1\\ta' and a text without its first word."""
    path = tmp_path / "reviews.tsv"
    path.write_text("1\ta fine film\n0\ta dull one\n")
    with pytest.raises(DataFormatError, match=r"reviews.tsv, record 1: label '1\\ta' contains a tab: .*pass fmt='tab'"):
        read_label_lines(path)
    rows = read_label_lines(path, fmt="tab")
    assert [(r["label"], r["text"]) for r in rows] == [("1", "a fine film"), ("0", "a dull one")]
    path.write_text("1\ta fine film\n0 a dull one\n")
    with pytest.raises(DataFormatError, match=r"reviews.tsv, record 2: no tab between label and text"):
        read_label_lines(path, fmt="tab")
    path.write_text("1\ta fine film\tsource-3\n")
    with pytest.raises(DataFormatError, match=r"reviews.tsv, record 1: more than two tab-separated fields.*read_glue_tsv"):
        read_label_lines(path, fmt="tab")


def test_labels_outside_the_declared_set_are_named_by_line(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("pos a fine film\nneg a dull one\nneutral so-so\n")
    with pytest.raises(DataFormatError, match=r"reviews.txt, record 3: label 'neutral' is not among the declared "
                                              r"labels \['neg', 'pos'\]"):
        read_label_lines(path, labels=["neg", "pos"])
    register_task("my_reviews", "classification", {"train": path}, read_label_lines, label_names=["neg", "pos"])
    with pytest.raises(DataFormatError, match=r"reviews.txt, record 3: label 'neutral'"):  # label_names declare them
        load_task("my_reviews")


def test_unlabelled_sentences_point_at_the_one_file_per_class_reader(tmp_path):
    """MR's rt-polarity.pos read line by line made a "class" of every first word."""
    path = tmp_path / "rt-polarity.pos"
    path.write_text("".join(s + "\n" for s in SENTENCES))
    with pytest.raises(DataFormatError, match=r"rt-polarity.pos: \d+ distinct labels in 24 lines, \d+ of them on one line "
                                              r"only \('the' \(line 1\), 'a' \(line 2\), .*unlabelled text.*read_class_files"):
        read_label_lines(path)
    assert len(read_label_lines(path, max_classes=None)) == 24  # the caller says these are labels
    many = tmp_path / "intents.txt"
    many.write_text("".join(f"intent{i % 120} utterance {i}\n" for i in range(480)))  # 120 classes, 4 lines each
    with pytest.raises(DataFormatError, match=r"intents.txt: 120 distinct labels in 480 lines, 0 of them on one line"):
        read_label_lines(many)
    assert len(read_label_lines(many, max_classes=150)) == len(read_label_lines(many, labels=[f"intent{i}" for i in range(120)]))


def test_one_file_per_class_in_a_few_lines(tmp_path):
    (tmp_path / "mr").mkdir()
    (tmp_path / "mr" / "rt-polarity.pos").write_bytes("a charming , touching film\n\nthe café scene sings\n".encode("latin-1"))
    (tmp_path / "mr" / "rt-polarity.neg").write_bytes(b"a tedious mess\n")
    # -- the README's lines --
    register_task("my_mr", "classification", {"all": {"neg": "mr/rt-polarity.neg", "pos": "mr/rt-polarity.pos"}},
                  read_class_files, encoding="latin-1")
    mr = load_task("my_mr", data_dir=tmp_path)
    # --
    assert mr.label_names == ["neg", "pos"] and mr.skipped == {"blank line": 1}
    assert [(r["id"], r["text"], r["label"]) for r in mr.split("all")] == [
        ("rt-polarity.neg-1", "a tedious mess", 0), ("rt-polarity.pos-1", "a charming , touching film", 1),
        ("rt-polarity.pos-3", "the café scene sings", 1)]


def test_class_files_with_one_name_get_their_folder_and_bad_ones_are_named(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "reviews.txt").write_text(f"a {label} review\n")
    rows = read_class_files({"pos": tmp_path / "pos" / "reviews.txt", "neg": tmp_path / "neg" / "reviews.txt"})
    assert [r["id"] for r in rows] == ["pos/reviews.txt-1", "neg/reviews.txt-1"]
    with pytest.raises(DataFormatError, match=r"reviews.txt: the same file is given for labels 'pos' and 'neg'"):
        read_class_files({"pos": tmp_path / "pos" / "reviews.txt", "neg": tmp_path / "pos" / "reviews.txt"})
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataFormatError, match=r"empty.txt: empty file"):
        read_class_files({"pos": tmp_path / "pos" / "reviews.txt", "neg": tmp_path / "empty.txt"})
    with pytest.raises(TypeError, match=r"takes \{label: file\}"):
        read_class_files(tmp_path / "pos" / "reviews.txt")  # type: ignore[arg-type]


def test_trec_train_and_test_get_different_ids(tmp_path):
    """Both files were called TREC.*, and both gave TREC-1, TREC-2, ..."""
    for split in ("train", "test"):
        (tmp_path / f"TREC.{split}").write_text("LOC:city Where is Oslo ?\nHUM:ind Who wrote it ?\n")
    register_task("my_trec", "classification", {"train": tmp_path / "TREC.train", "test": tmp_path / "TREC.test"},
                  read_label_lines, fmt="colon")
    trec = load_task("my_trec")
    assert [r["id"] for r in trec.split("train")] == ["TREC.train-1", "TREC.train-2"]
    assert [r["id"] for r in trec.split("test")] == ["TREC.test-1", "TREC.test-2"]


def test_ids_shared_by_two_splits_name_both_files(tmp_path):
    def my_reader(path):  # ids from the line number alone: the same in every file
        return [{"id": str(i), "text": line, "label": "x"} for i, line in enumerate(path.read_text().splitlines())]

    for split in ("train", "test"):
        (tmp_path / f"{split}.txt").write_text("x one\nx two\n")
    register_task("my_reviews", "classification", {"train": tmp_path / "train.txt", "test": tmp_path / "test.txt"}, my_reader)
    with pytest.raises(DataFormatError, match=r"test.txt, record 0: task 'my_reviews': id '0' occurs in split 'test' and "
                                              r"in split 'train' \(.*train.txt\); ids must be unique"):
        load_task("my_reviews")
    register_task("my_reviews", "classification", {"train": tmp_path / "train.txt", "test": tmp_path / "train.txt"},
                  read_label_lines)  # one file for two splits
    with pytest.raises(DataFormatError, match=r"train.txt, record train.txt-1: .*occurs in split 'test' and in split 'train'"):
        load_task("my_reviews")


def test_integer_labels_need_label_names_and_must_index_them(tmp_path):
    def my_reader(path):
        return [{"id": f"n{i}", "text": t, "label": int(y)} for i, (y, t) in enumerate(ln.split(" ", 1) for ln in
                                                                                    path.read_text().splitlines())]

    path = tmp_path / "nums.txt"
    path.write_text("0 a dull one\n2 a fine one\n")
    register_task("my_nums", "classification", {"train": path}, my_reader)
    with pytest.raises(DataFormatError, match=r"nums.txt, record n0: task 'my_nums': the labels are integers \(class "
                                              r"indices up to 2\) .*pass label_names=\[...\] to register_task"):
        load_task("my_nums")
    register_task("my_nums", "classification", {"train": path}, my_reader, label_names=["neg", "pos"])
    with pytest.raises(DataFormatError, match=r"nums.txt, record n1: task 'my_nums': label 2 is not an index into "
                                              r"label_names \['neg', 'pos'\]"):
        load_task("my_nums")
    register_task("my_nums", "classification", {"train": path}, my_reader, label_names=["neg", "mixed", "pos"])
    assert [r["label"] for r in load_task("my_nums").split("train")] == [0, 2]
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("pos a fine one\n")
    register_task("my_nums", "classification", {"train": path, "test": mixed},
                  lambda p: my_reader(p) if p == path else read_label_lines(p))
    with pytest.raises(DataFormatError, match=r"nums.txt, record n0: task 'my_nums': label 0 is an integer, but label "
                                              r"'pos' of 'mixed.txt-1' \(.*mixed.txt\) is a string"):
        load_task("my_nums")


def test_a_reader_that_returns_nothing_names_task_split_and_file(tmp_path):
    path = tmp_path / "nothing.txt"
    path.write_text("x\n")
    register_task("my_empty", "classification", {"validation": path}, lambda p: [])
    with pytest.raises(DataFormatError, match=r"nothing.txt: task 'my_empty', split 'validation': the reader <lambda> "
                                              r"returned an empty list"):
        load_task("my_empty")
    register_task("my_empty", "classification", {"validation": path}, lambda p: [{"text": "x", "label": "a"}])
    with pytest.raises(DataFormatError, match=r"nothing.txt, record row 0: task 'my_empty', split 'validation': .*without an 'id'"):
        load_task("my_empty")


@pytest.mark.parametrize("name", ["squad", "gen_qa"])
def test_a_built_in_name_is_replaced_only_when_asked(tmp_path, name):
    path = tmp_path / "qa.json"
    path.write_text('{"data": [{"paragraphs": [{"context": "Oslo is cold.", "qas": [{"id": "mine", '
                    '"question": "Which city?", "answers": [{"text": "Oslo", "answer_start": 0}]}]}]}]}')
    from itft_utils.data.local import read_squad_json

    with pytest.raises(ValueError, match=rf"task '{name}' is a built-in task; .*pass replace=True"):
        register_task(name, "qa", {"train": path}, read_squad_json)
    assert name not in REGISTERED
    register_task(name, "qa", {"train": path}, read_squad_json, replace=True)
    register_task(name, "qa", {"train": path}, read_squad_json)  # a re-run cell: it is registered now
    task = load_task(name)
    assert [r["id"] for r in task.split("train")] == ["mine"] and name in task_names()
    if name == "gen_qa":  # Homework 2 passes a generated task's sizes: the replacement's files ignore them
        assert load_task(name, sizes={"train": 3}).split("train") == task.split("train")


def test_generated_sizes_for_a_registered_task_are_an_error(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("pos a fine film\n")
    register_task("my_reviews", "classification", {"train": path}, read_label_lines)
    with pytest.raises(TypeError, match=r"'my_reviews' is a registered task, read from its files; \['sizes'\]"):
        load_task("my_reviews", sizes={"train": 3})
