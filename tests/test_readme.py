"""The README's "Adding a task" section runs as written: its python block is executed on small files laid
out as it names them, with the tiny model in place of MiniLM, and its table of readers names real readers
with real parameters, importable from where it says."""
from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

from itft_utils.data.custom import REGISTERED

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "Adding a task"
#: The line that picks the model in the README's block; the test swaps in the tiny random BERT.
MODEL_LINE = re.compile(r'^MODEL = "minilm"', re.MULTILINE)
#: The readers the package offers for files of one's own (issue 34): the README's table lists each.
READERS = {"read_label_lines", "read_class_files", "read_glue_tsv", "read_conll_columns", "read_conllu",
           "read_squad_json", "read_subjqa_csv"}


def section(title: str) -> str:
    """The README's text from the heading ``title`` (any level) to the next ``##`` or ``###`` heading."""
    text = README.read_text(encoding="utf-8")
    start = re.search(rf"^#+ {re.escape(title)}\s*$", text, re.MULTILINE)
    if start is None:
        raise AssertionError(f"README.md has no heading {title!r}")
    end = re.search(r"^#{2,3} ", text[start.end():], re.MULTILINE)
    return text[start.end():start.end() + end.start()] if end else text[start.end():]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


@pytest.fixture
def _registry_restored():
    """register_task writes to a module-level dict: leave it as the other tests expect it."""
    saved = dict(REGISTERED)
    yield
    REGISTERED.clear()
    REGISTERED.update(saved)


def _squad(qid: str, context: str, question: str, answer: str) -> dict:
    return {"data": [{"title": qid, "paragraphs": [{"context": context, "qas": [
        {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}]}]}]}


def write_example_files(data: Path) -> None:
    """A few lines of each format, at the paths the README's block names (made up, never real data)."""
    for folder in ("trec", "mr", "sst", "ner", "bioqa"):
        (data / folder).mkdir(parents=True)
    (data / "trec" / "train_5500.label").write_bytes(
        "DESC:manner How did serfdom end in Köln ?\nLOC:city Where is Oslo ?\nHUM:ind Who wrote Hamlet ?\n"
        "LOC:other Where is the sea ?\nDESC:def What is a dog ?\n".encode("latin-1"))
    (data / "trec" / "TREC_10.label").write_bytes(b"LOC:city Where is Rome ?\nHUM:ind Who painted it ?\n")
    (data / "mr" / "rt-polarity.neg").write_bytes(b"a dull film\nflat and long\n")
    (data / "mr" / "rt-polarity.pos").write_bytes(b"a fine film\nwarm and funny\n")
    (data / "sst" / "train.tsv").write_text("sentence\tlabel\na fine film\t1\na dull film\t0\n", encoding="utf-8")
    (data / "ner" / "train.txt").write_text("Anna NNP B-NP B-PER\nlives VBZ B-VP O\nin IN B-PP O\nOslo NNP B-NP B-LOC\n\n"
                                            "Ben NNP B-NP B-PER\nran VBD B-VP O\n", encoding="utf-8")
    (data / "ner" / "test.txt").write_text("Eva NNP B-NP B-PER\nsat VBD B-VP O\nin IN B-PP O\nRome NNP B-NP B-LOC\n",
                                           encoding="utf-8")
    (data / "bioqa" / "train.json").write_text(json.dumps(
        _squad("q1", "Insulin is made in the pancreas.", "Where is insulin made?", "the pancreas")), encoding="utf-8")
    (data / "bioqa" / "dev.json").write_text(json.dumps(
        _squad("q2", "Bile is stored in the gallbladder.", "Where is bile stored?", "the gallbladder")), encoding="utf-8")


def test_the_adding_a_task_block_loads_and_fine_tunes_a_classification_a_tagging_and_a_qa_task(
        tmp_path, monkeypatch, one_thread, _registry_restored):
    blocks = python_blocks(section(SECTION))
    assert blocks, f"README.md: no ```python block under {SECTION!r}"
    code = "\n".join(blocks)
    assert len(MODEL_LINE.findall(code)) == 1, f"the block must pick its model in one line {MODEL_LINE.pattern!r}"
    code = MODEL_LINE.sub('MODEL = "tiny"', code)
    write_example_files(tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # the block's DATA = "data" is relative

    import itft_utils.finetune

    trained: list[tuple[str, str, dict]] = []
    real_fine_tune = itft_utils.finetune.fine_tune

    def recording_fine_tune(model, task, *args, **kwargs):
        result = real_fine_tune(model, task, *args, **kwargs)
        trained.append((model, task.task_type, result.metrics))
        return result

    # the block imports fine_tune from itft_utils.finetune when it runs, so it gets this one
    monkeypatch.setattr(itft_utils.finetune, "fine_tune", recording_fine_tune)
    exec(compile(code, f"README.md ({SECTION})", "exec"), {"__name__": "readme_example"})

    assert {task_type for _, task_type, _ in trained} == {"classification", "tagging", "qa"}, trained
    assert {model for model, _, _ in trained} == {"tiny"}, "the block must train MODEL, not a name of its own"
    metrics = {task_type: scores for _, task_type, scores in trained}
    assert 0.0 <= metrics["classification"]["accuracy"] <= 1.0
    assert 0.0 <= metrics["tagging"]["f1"] <= 1.0
    assert 0.0 <= metrics["qa"]["exact_match"] <= 100.0


def test_the_readers_table_names_each_reader_its_import_and_real_parameters():
    rows = re.findall(r"^\| `(read_\w+)\((.*?)\)` \| `([\w.]+)` \|", section(SECTION), re.MULTILINE)
    assert {name for name, _, _ in rows} == READERS, "the README's readers table must list exactly the package's readers"
    for name, shown, module in rows:
        reader = getattr(importlib.import_module(module), name, None)
        assert reader is not None, f"README says {name} imports from {module}; it does not"
        params = inspect.signature(reader).parameters
        for arg in shown.split(", "):
            word = re.fullmatch(r"(\w+)(=.*)?", arg)  # `{label: file}` shows a value, not a parameter name
            if word:
                assert word.group(1) in params, f"README shows {name}({shown}); {name} has no {word.group(1)!r}"
