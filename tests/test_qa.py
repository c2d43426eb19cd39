"""Span mapping and decoding for extractive QA, on the real MiniLM tokenizer (WordPiece, offsets)."""
from __future__ import annotations

import numpy as np
import pytest
from transformers import BatchEncoding

from itft_utils import qa


def _example(context: str, answer: str, question: str = "what is it?", start: int | None = None, qid: str = "q1") -> dict:
    start = context.index(answer) if start is None else start
    return {"id": qid, "title": "t", "context": context, "question": question, "answers": {"text": [answer], "answer_start": [start]}}


def _decoded(features, tokenizer, i: int) -> str:
    s, e = features["start_positions"][i], features["end_positions"][i]
    return tokenizer.decode(features["input_ids"][i][s : e + 1])


def test_answer_maps_to_its_tokens(minilm_tokenizer):
    ex = _example("The Eiffel Tower is in Paris, France.", "Paris")
    f = qa.prepare_train_features([ex], minilm_tokenizer, max_length=64, doc_stride=16)
    assert len(f["input_ids"]) == 1
    assert _decoded(f, minilm_tokenizer, 0) == "paris"


def test_unicode_and_odd_whitespace(minilm_tokenizer):
    ex = _example("Zürich  lies\tnear   the Älpli café — très joli.", "Älpli café")
    f = qa.prepare_train_features([ex], minilm_tokenizer, max_length=64, doc_stride=16)
    # The tokenizer lower-cases and strips accents, so compare normalised text.
    assert _decoded(f, minilm_tokenizer, 0) == "alpli cafe"


def test_long_context_windows_and_cls_for_windows_without_answer(minilm_tokenizer):
    filler = " ".join(f"word{i}" for i in range(120))
    ex = _example(f"{filler} The answer is zebra. {filler}", "zebra")
    f = qa.prepare_train_features([ex], minilm_tokenizer, max_length=64, doc_stride=16)
    assert len(f["input_ids"]) > 3  # cut into several windows
    hits = [i for i in range(len(f["input_ids"])) if f["start_positions"][i] != 0]
    assert hits, "some window must contain the answer"
    for i in range(len(f["input_ids"])):
        if i in hits:
            assert _decoded(f, minilm_tokenizer, i) == "zebra"
        else:  # windows without the answer point at CLS (index 0)
            assert f["start_positions"][i] == f["end_positions"][i] == 0


class _DropsOverflowWindows:
    """The real tokenizer, but at most two windows per example, as tokenizers 0.23.1-0.23.2 return."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.padding_side = tokenizer.padding_side
        self.num_special_tokens_to_add = tokenizer.num_special_tokens_to_add

    def __call__(self, *args, **kwargs):
        enc = self.tokenizer(*args, **kwargs)
        if "overflow_to_sample_mapping" not in enc:  # the questions alone, measured before the windows are cut
            return enc
        seen: dict[int, int] = {}
        keep = []
        for i, sample in enumerate(enc["overflow_to_sample_mapping"]):
            seen[sample] = seen.get(sample, 0) + 1
            if seen[sample] <= 2:
                keep.append(i)
        return BatchEncoding({k: [v[i] for i in keep] for k, v in enc.items()}, encoding=[enc.encodings[i] for i in keep])


@pytest.mark.parametrize("prepare", [qa.prepare_train_features, qa.prepare_validation_features])
def test_windows_that_stop_before_the_context_ends_are_an_error(minilm_tokenizer, prepare):
    filler = " ".join(f"word{i}" for i in range(120))
    ex = _example(f"{filler} The answer is zebra.", "zebra", qid="long-one")
    assert len(prepare([ex], minilm_tokenizer, max_length=64, doc_stride=16)["input_ids"]) > 2
    with pytest.raises(RuntimeError, match=r"example 0 \(id long-one\): its windows end at character \d+ of \d+.*tokenizers"):
        prepare([ex], _DropsOverflowWindows(minilm_tokenizer), max_length=64, doc_stride=16)


def test_characters_the_tokenizer_drops_may_trail_the_last_window(minilm_tokenizer):
    filler = " ".join(f"word{i}" for i in range(120))
    ex = _example(f"{filler} The answer is zebra.\u200b \t\n\x00", "zebra")
    assert len(qa.prepare_validation_features([ex], minilm_tokenizer, max_length=64, doc_stride=16)["input_ids"]) > 2


def test_answer_cut_by_a_window_border_points_at_cls_there(minilm_tokenizer):
    words = [f"w{i}" for i in range(200)]
    context = " ".join(words)
    answer = " ".join(words[40:70])  # 30 words, about 60 tokens: more than a 48-token window holds
    ex = _example(context, answer)
    f = qa.prepare_train_features([ex], minilm_tokenizer, max_length=48, doc_stride=8)
    assert len(f["input_ids"]) > 3
    # Windows overlap the answer but none holds all of it, so every window points at CLS.
    assert set(f["start_positions"]) == {0} and set(f["end_positions"]) == {0}
    # A shorter answer that straddles a window border is found whole in the next window.
    short = _example(context, " ".join(words[60:63]))
    g = qa.prepare_train_features([short], minilm_tokenizer, max_length=48, doc_stride=8)
    assert [_decoded(g, minilm_tokenizer, i) for i in range(len(g["input_ids"])) if g["start_positions"][i]] != []
    assert all(_decoded(g, minilm_tokenizer, i).replace(" ", "").replace("#", "") == "w60w61w62"
               for i in range(len(g["input_ids"])) if g["start_positions"][i])


def test_char_to_token_span_at_window_borders():
    # Tokens: [CLS] q [SEP] c0 c1 c2 [SEP]; context characters 0-3, 4-7, 8-11.
    offsets = np.array([(0, 0), (0, 1), (0, 0), (0, 3), (4, 7), (8, 11), (0, 0)])
    in_context = np.array([False, False, False, True, True, True, False])

    def span(start, end):
        return qa._window_positions(offsets, in_context, start, end, 0)

    assert span(0, 3) == (3, 3)  # first context token
    assert span(8, 11) == (5, 5)  # last context token
    assert span(4, 11) == (4, 5)
    assert span(8, 15) == (0, 0)  # runs past the window
    assert span(5, 6) == (4, 4)  # inside one token
    assert qa._window_positions(offsets, np.zeros(7, dtype=bool), 0, 3, 2) == (2, 2)  # no context: CLS


def test_unanswerable_example_points_at_cls(minilm_tokenizer):
    ex = {"id": "u", "title": "t", "context": "Nothing here.", "question": "why?", "answers": {"text": [], "answer_start": []}}
    f = qa.prepare_train_features([ex], minilm_tokenizer, max_length=32, doc_stride=8)
    assert f["start_positions"] == [0] and f["end_positions"] == [0]


def test_validation_offsets_are_none_outside_the_context(minilm_tokenizer):
    ex = _example("Paris is in France.", "Paris", question="where is paris?")
    f = qa.prepare_validation_features([ex], minilm_tokenizer, max_length=32, doc_stride=8)
    offsets = f["offset_mapping"][0]
    tokens = minilm_tokenizer.convert_ids_to_tokens(f["input_ids"][0])
    assert f["example_id"] == ["q1"]
    for token, offset in zip(tokens, offsets):
        if offset is not None:
            assert token not in ("[CLS]", "[SEP]", "where")
    assert sum(o is not None for o in offsets) == 5  # paris is in france .


def test_best_span_respects_validity_rules():
    in_context = np.array([False, True, True, True, False])
    start = np.array([9.0, 1.0, 5.0, 2.0, 8.0])  # best starts are at CLS and the last (None) token
    end = np.array([9.0, 3.0, 1.0, 6.0, 8.0])
    assert qa._top_span(start, end, in_context, 5, 30) == (11.0, 2, 3)  # score 5 + 6; CLS/None spans are excluded
    # One-token spans only: (2,2) scores 5+1, (3,3) scores 2+6, (1,1) scores 1+3.
    assert qa._top_span(start, end, in_context, 20, 1)[1:] == (3, 3)
    # end before start is never valid: the best end (3) comes before the best start (4) here
    assert qa._top_span(np.array([0.0, 0, 0, 1, 6]), np.array([0.0, 0, 0, 5, 0]), np.ones(5, dtype=bool), 20, 30)[1:] == (4, 4)
    assert qa._top_span(np.array([0.0, 5.0]), np.array([0.0, 0.0]), np.zeros(2, dtype=bool), 20, 30) is None
    assert qa._top_span(start, end, in_context, 1, 30) is None  # top start 0 and top end 0: not context


def test_postprocess_picks_the_best_window_and_maps_back_to_text(minilm_tokenizer):
    filler = " ".join(f"filler{i}" for i in range(60))
    context = f"{filler} the capital is Paris today. {filler}"
    ex = _example(context, "Paris")
    f = qa.prepare_validation_features([ex], minilm_tokenizer, max_length=48, doc_stride=16)
    starts, ends = [], []
    target = context.index("Paris")
    for offsets in f["offset_mapping"]:
        s = np.full(len(offsets), -5.0)
        e = np.full(len(offsets), -5.0)
        for t, o in enumerate(offsets):
            if o is not None and o[0] == target:
                s[t] = e[t] = 10.0
        starts.append(s)
        ends.append(e)
    preds = qa.postprocess_qa_predictions([ex], f, starts, ends)
    assert preds == {"q1": "Paris"}  # original casing: text comes from the context, not the tokens


def test_postprocess_rejects_mismatched_logits(minilm_tokenizer):
    ex = _example("a b c", "b")
    f = qa.prepare_validation_features([ex], minilm_tokenizer, max_length=32, doc_stride=8)
    with pytest.raises(ValueError, match="for 1 features"):
        qa.postprocess_qa_predictions([ex], f, [], [])


def test_null_answers_are_decoded_when_no_span_beats_cls(minilm_tokenizer):
    """SQuAD 2.0's rule: "no answer" when the CLS score (lowest over the windows) beats every span."""
    ex = _example("Paris is in France.", "Paris")
    f = qa.prepare_validation_features([ex], minilm_tokenizer, max_length=32, doc_stride=8)
    cls, paris = f["cls_index"][0], next(t for t, o in enumerate(f["offset_mapping"][0]) if o is not None and o[0] == 0)
    for cls_score, expected in ((9.0, ""), (1.0, "Paris")):
        s = np.zeros(len(f["input_ids"][0]))
        e = np.zeros(len(f["input_ids"][0]))
        s[paris] = e[paris] = 3.0  # span score 6
        s[cls] = e[cls] = cls_score / 2
        assert qa.postprocess_qa_predictions([ex], f, [s], [e], null_answers=True) == {"q1": expected}
        assert qa.postprocess_qa_predictions([ex], f, [s], [e]) == {"q1": "Paris"}  # off: a span always wins


def test_evaluation_decodes_no_answer_where_the_set_has_unanswerable_questions(minilm_tokenizer):
    from itft_utils.data.task import Task
    from itft_utils.finetune import EvalSet

    answerable = _example("Paris is in France.", "Paris")
    unanswerable = {**_example("Paris is in France.", "Paris", qid="q2"), "answers": {"text": [], "answer_start": []}}
    task = Task("t", "qa", {"all": [answerable, unanswerable]})
    assert EvalSet.build(task, [answerable, unanswerable], minilm_tokenizer, qa.QASettings(32, 8)).null_answers
    assert not EvalSet.build(task, [answerable], minilm_tokenizer, qa.QASettings(32, 8)).null_answers
    assert not EvalSet.build(task, [answerable, unanswerable], minilm_tokenizer, qa.QASettings(32, 8, null_answers=False)).null_answers


@pytest.mark.parametrize("kwargs", [{"max_length": 4}, {"max_length": 64, "doc_stride": 32}, {"n_best": 0}, {"max_answer_length": 0}])
def test_qa_settings_refuse_windows_that_cannot_work(kwargs):
    with pytest.raises(ValueError):
        qa.QASettings(**kwargs)


@pytest.mark.parametrize("prepare", [qa.prepare_train_features, qa.prepare_validation_features])
def test_a_question_too_long_for_the_window_names_the_example(tiny_tokenizer, prepare):
    """It made the Rust tokenizer panic ("stride must be strictly less than max_len") naming no example."""
    from itft_utils.data import DataFormatError

    context = " ".join(["paris"] * 100)
    fits = _example(context, "paris", question=" ".join(["what"] * 92), qid="fits")  # 128 - 3 specials - 32 - 1
    long = _example(context, "paris", question=" ".join(["what"] * 93), qid="covid-7")
    assert len(prepare([fits], tiny_tokenizer, 128, 32)["input_ids"]) > 1
    with pytest.raises(DataFormatError, match=r"QA example 'covid-7': its question is 93 tokens long, but "
                                              r"QASettings\(max_length=128, doc_stride=32\) leave room for questions of "
                                              r"at most 92 tokens"):
        prepare([fits, long], tiny_tokenizer, 128, 32)
