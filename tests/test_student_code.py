"""Homework 2's experiment runs the student's code: span labelling, decoding, F1 and the hand-over
replace the library's steps in every source and target run, so a wrong implementation shows in the
transfer numbers, an edited one reruns its cells, and a failing one is named with its input."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from itft_grader.checks import references as ref
from itft_utils import transfer
from itft_utils.homework import prepare_task
from itft_utils.models import build_model
from itft_utils.qa import QASettings
from itft_utils.replaced import StudentCodeError
from itft_utils.training import TrainConfig
from itft_utils.transfer import TaskSpec, run_transfer_matrix

SETTINGS = QASettings(96, 32)
CONFIG = TrainConfig(learning_rate=3e-3, batch_size=8)
TARGET = TaskSpec("gen_qa", "generated", 64, 32, 3)  # enough for the tiny model to find some answers
SOURCES = [TaskSpec("gen_qa", "generated", 24, 8, 1, data_seed=1, label="gen_qa_source"),
           TaskSpec("gen_sentiment", "generated", 16, 0, 1)]
STUDENT = {"label_span": ref.char_to_token_span, "decode_span": ref.best_span,
           "normalize_answer": ref.normalize_answer, "answer_f1": ref.answer_f1}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def run(out, functions=None, hand_over=None, sources=SOURCES):
    settings = QASettings(96, 32, **(functions or {}))
    cells = run_transfer_matrix(sources, [TARGET], [0], out, "tiny", CONFIG, settings, prepare=prepare_task,
                                hand_over=hand_over)
    return {c["source"]: c for c in cells}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return run(tmp_path_factory.mktemp("library"))


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return run(tmp_path_factory.mktemp("student"), STUDENT)


def hand_over(model, folder, task_type, num_labels=2):
    """The exercise's hand-over, as a student writes it: the encoder saved, a fresh head loaded."""
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    model.base_model.save_pretrained(folder)
    heads = {"qa": AutoModelForQuestionAnswering, "classification": AutoModelForSequenceClassification}
    return heads[task_type].from_pretrained(folder, num_labels=2 if task_type == "qa" else num_labels)


def test_correct_functions_reproduce_the_library_run_exactly(library, student):
    assert set(student) == set(library) == {None, "gen_qa_source", "gen_sentiment"}
    for source, cell in student.items():
        assert cell["replaced_steps"] == sorted(STUDENT)
        assert cell["key"] != library[source]["key"], "the student's code is part of the cell's key"
        assert cell["batch_order"] == library[source]["batch_order"]
        assert cell["metrics"] == pytest.approx(library[source]["metrics"], abs=1e-9), source
    # The QA source was trained and scored with the student's code too.
    assert student["gen_qa_source"]["source_metrics"] == pytest.approx(library["gen_qa_source"]["source_metrics"])
    assert "replaced_steps" not in library[None]


def test_scores_are_not_trivial(library):
    """The comparisons below mean something only if the tiny model predicts some answers."""
    assert 0 < library[None]["metrics"]["f1"] < 100


def decode_without_order(start_logits, end_logits, offsets, n_best_size=20, max_answer_length=30):
    """Typical mistake: start and end chosen independently (end may come before start)."""
    context = [i for i, o in enumerate(offsets) if o is not None]
    return max(context, key=lambda i: start_logits[i]), max(context, key=lambda i: end_logits[i])


def f1_recall_only(prediction, ground_truths):
    """Typical mistake: recall in place of F1 (a long prediction holding the answer scores 1)."""
    best = 0.0
    for gold in ground_truths:
        pred, gold_tokens = Counter(ref.normalize_answer(prediction).split()), Counter(ref.normalize_answer(gold).split())
        best = max(best, sum((pred & gold_tokens).values()) / max(1, sum(gold_tokens.values())))
    return best


def label_end_off_by_one(offsets, sequence_ids, start_char, end_char, cls_index=0):
    """Typical mistake: the end token one past the answer."""
    start, end = ref.char_to_token_span(offsets, sequence_ids, start_char, end_char, cls_index)
    return (start, min(end + 1, len(offsets) - 1)) if start != cls_index else (start, end)


@pytest.mark.parametrize("step, mistake", [("decode_span", decode_without_order), ("answer_f1", f1_recall_only),
                                           ("label_span", label_end_off_by_one)])
def test_a_wrong_student_function_changes_the_transfer_numbers(step, mistake, student, tmp_path):
    wrong = run(tmp_path, {**STUDENT, step: mistake}, sources=SOURCES[:1])
    cells = (None, "gen_qa_source")
    for source in cells:
        assert wrong[source]["key"] != student[source]["key"]
        assert wrong[source]["batch_order"] == student[source]["batch_order"], "the same batches: only the code differs"
    changed = [s for s in cells if wrong[s]["metrics"]["f1"] != pytest.approx(student[s]["metrics"]["f1"], abs=1e-6)]
    assert changed, f"{step}: a wrong {mistake.__name__} left every F1 as it was"
    if step == "answer_f1":  # exact match does not use answer_f1
        assert wrong[None]["metrics"]["exact_match"] == pytest.approx(student[None]["metrics"]["exact_match"])


def test_an_edited_function_reruns_its_cells_and_an_unchanged_one_reuses_them(tmp_path, monkeypatch):
    first = run(tmp_path, STUDENT, sources=[])
    calls = []
    real = transfer.fine_tune
    monkeypatch.setattr(transfer, "fine_tune", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert run(tmp_path, STUDENT, sources=[]) == first and not calls

    def best_span(start_logits, end_logits, offsets, n_best_size=20, max_answer_length=30):  # a fixed bug
        return ref.best_span(start_logits, end_logits, offsets, n_best_size, max_answer_length)

    run(tmp_path, {**STUDENT, "decode_span": best_span}, sources=[])
    assert calls, "an edited function must not reuse the cells of the old one"


def test_the_student_hand_over_starts_the_target_from_the_source_encoder(student, tmp_path):
    cells = run(tmp_path, STUDENT, hand_over=hand_over)
    for source in ("gen_qa_source", "gen_sentiment"):
        assert cells[source]["replaced_steps"] == [*sorted(STUDENT), "hand_over"]
        assert cells[source]["batch_order"] == student[source]["batch_order"]
    # The QA source's encoder carried over (the sentiment source's 2 steps barely move the tiny encoder).
    assert cells["gen_qa_source"]["metrics"]["f1"] != pytest.approx(cells[None]["metrics"]["f1"])
    assert "hand_over" not in cells[None].get("replaced_steps", []), "the baseline has no hand-over"

    def forgets_the_source(model, folder, task_type, num_labels=2):
        """Typical mistake: a fresh pretrained model, the source's encoder thrown away."""
        return build_model("tiny", task_type)

    forgot = run(tmp_path / "forgot", STUDENT, hand_over=forgets_the_source, sources=SOURCES[:1])
    # Seeded as the baseline's head: forgetting the source gives exactly the baseline, no transfer at all.
    assert forgot["gen_qa_source"]["metrics"] == pytest.approx(forgot[None]["metrics"])
    assert cells["gen_qa_source"]["metrics"]["f1"] != pytest.approx(forgot["gen_qa_source"]["metrics"]["f1"])


def not_done(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("step", sorted(STUDENT))
def test_an_unfinished_exercise_is_named_with_its_input(step, tmp_path):
    with pytest.raises(StudentCodeError, match=r"not_done raised NotImplementedError.*question .*not done yet"):
        run(tmp_path, {**STUDENT, step: not_done}, sources=[])


@pytest.mark.parametrize("step, bad, message", [
    ("label_span", lambda *a: (0, 500), r"returned \(0, 500\).*window has tokens 0\.\.\d+"),
    ("label_span", lambda *a: None, r"returned None.*expected two token indices"),
    ("decode_span", lambda *a: (0, 0), r"token 0 is not part of the context"),
    ("answer_f1", lambda *a: 7, r"returned 7.*expected an F1 between 0 and 1"),
    ("answer_f1", lambda *a: math.nan, r"returned nan"),
])
def test_unusable_results_are_refused_with_what_was_expected(step, bad, message, tmp_path):
    with pytest.raises(StudentCodeError, match=message):
        run(tmp_path, {**STUDENT, step: bad}, sources=[])


def test_settings_refuse_what_is_not_a_function():
    with pytest.raises(TypeError, match="label_span must be a function"):
        QASettings(label_span=np.zeros(2))
