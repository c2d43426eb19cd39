"""Tests for itft_utils.metrics: hand-computed values (the arithmetic is in the comments) plus
cross-checks against scikit-learn, scipy and a transcription of seqeval's chunker on random data."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from itft_utils import metrics as M

# ---------------------------------------------------------------------------------- SQuAD


def _normalized(s: str) -> str:
    return " ".join(M._tokens(s))


def test_normalize_answer_example():
    # lower: "the  quick, brown fox!" -> no punctuation: "the  quick brown fox"
    # -> article "the" -> " ": "   quick brown fox" -> collapse whitespace: "quick brown fox"
    assert _normalized("The  Quick, brown fox!") == "quick brown fox"


def test_normalize_answer_official_order():
    # Punctuation goes *before* articles: "a-b" -> "ab" (no standalone "a" left).
    # Removing articles first would give " -b" -> "b".
    assert _normalized("A-b") == "ab"
    # \b keeps articles inside words: "Theory of an Anthem" -> "theory of anthem"
    assert _normalized("Theory of an Anthem") == "theory of anthem"
    assert _normalized("  the\ta\nan  ") == ""


def _one(prediction: str, golds: list[str]) -> dict[str, float]:
    return M.squad_metrics({"q": prediction}, {"q": golds})


def test_exact_match_by_hand():
    assert _one("The Cat!", ["cat"])["exact_match"] == 100.0
    assert _one("cats", ["cat"])["exact_match"] == 0.0


def test_squad_f1_by_hand():
    # pred tokens [cat, sat], gold tokens [cat, sat, down]; common = 2
    # P = 2/2 = 1, R = 2/3, F1 = 2*1*(2/3) / (1 + 2/3) = (4/3)/(5/3) = 0.8
    assert _one("the cat sat", ["a cat sat down"])["f1"] == pytest.approx(80.0)
    # Counter overlap is clipped: "cat cat" vs "cat": common 1, P = 1/2, R = 1, F1 = 2/3
    assert _one("cat cat", ["cat"])["f1"] == pytest.approx(200 / 3)
    # no common token -> 0 (also when one side normalises to nothing)
    assert _one("dog", ["cat"])["f1"] == 0.0
    assert _one("the", ["cat"])["f1"] == 0.0


def test_best_over_gold_answers():
    # "cat" vs "dog": 0; vs "the cat sat" -> [cat, sat]: P = 1, R = 1/2, F1 = 2/3
    assert _one("cat", ["dog", "the cat sat"])["f1"] == pytest.approx(200 / 3)
    assert _one("cat", ["dog", "The Cat!"])["exact_match"] == 100.0
    assert _one("cat", ["dog", "cats"])["exact_match"] == 0.0


def test_squad_metrics_by_hand_and_missing_prediction(capsys):
    references = {"q1": ["Paris"], "q2": ["cat sat down", "a dog"], "q3": ["42"]}
    predictions = {"q1": "paris.", "q2": "the cat sat"}
    # q1: EM 1, F1 1. q2: best F1 is vs "cat sat down" = 0.8 (see above), EM 0.
    # q3: missing -> 0. EM = 100 * 1/3, F1 = 100 * (1 + 0.8) / 3 = 60
    result = M.squad_metrics(predictions, references)
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(60.0)
    assert set(result) == {"exact_match", "f1"}
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_squad_metrics_errors():
    with pytest.raises(ValueError, match="zz"):
        M.squad_metrics({"q1": "x", "zz": "y"}, {"q1": ["x"]})
    with pytest.raises(ValueError):
        M.squad_metrics({}, {})


# ---------------------------------------------------------------------------- classification

# Binary example used below: TP = 2 (idx 0,1), FN = 1 (idx 2), FP = 1 (idx 3), TN = 4.
Y_TRUE = [1, 1, 1, 0, 0, 0, 0, 0]
Y_PRED = [1, 1, 0, 1, 0, 0, 0, 0]


def test_accuracy_by_hand():
    # correct: idx 0,1,4,5,6,7 -> 6/8
    assert M.accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.75)
    assert M.accuracy(["a", "b"], ["a", "a"]) == pytest.approx(0.5)


def test_f1_by_hand():
    # positive 1: 2TP / (2TP + FP + FN) = 4 / 6 = 2/3
    assert M.f1(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)
    # positive 0: TP = 4, FP = 1, FN = 1 -> 8 / 10 = 0.8
    assert M.f1(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(0.8)
    # macro = (2/3 + 0.8) / 2
    assert M.f1(Y_TRUE, Y_PRED, average="macro") == pytest.approx((2 / 3 + 0.8) / 2)
    # labels seen only in predictions count too: a: 2/(2+0+1) = 2/3, b: 1, c: 0 -> 5/9
    assert M.f1(["a", "a", "b"], ["a", "c", "b"], average="macro") == pytest.approx(5 / 9)
    # no positive anywhere -> 0.0, not an error
    assert M.f1([0, 0], [0, 0]) == 0.0
    with pytest.raises(ValueError, match="binary"):
        M.f1([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="average"):
        M.f1([0, 1], [0, 1], average="micro")


def test_mcc_by_hand():
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (8 - 1) / sqrt(3*3*5*5) = 7/15
    assert M.matthews_corrcoef(Y_TRUE, Y_PRED) == pytest.approx(7 / 15)
    # 3 classes, confusion (rows true, cols pred) [[1,1,0],[0,2,0],[1,0,1]]:
    # t_sum = [2,2,2], p_sum = [2,3,1], n = 6, correct = 4
    # cov_tp = 4*6 - (4+6+2) = 12; cov_pp = 36 - (4+9+1) = 22; cov_tt = 36 - 12 = 24
    # MCC = 12 / sqrt(24*22)
    assert M.matthews_corrcoef([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]) == pytest.approx(
        12 / math.sqrt(528)
    )
    # constant prediction -> zero denominator -> 0.0
    assert M.matthews_corrcoef([0, 1, 1], [1, 1, 1]) == 0.0
    assert M.matthews_corrcoef([1, 0, 1], [0, 1, 0]) == pytest.approx(-1.0)


def test_length_mismatch_message():
    with pytest.raises(ValueError, match="got 3 predictions for 5 references"):
        M.accuracy([0] * 5, [0] * 3)
    with pytest.raises(ValueError, match="got 3 predictions for 5 references"):
        M.matthews_corrcoef([0] * 5, [0] * 3)
    with pytest.raises(ValueError):
        M.accuracy([], [])
    with pytest.raises(ValueError):
        M.pearson([1.0, 2.0, 3.0], [1.0, 2.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_matches_sklearn(seed):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, size=150)
    y_pred = np.where(rng.random(150) < 0.7, y_true, 1 - y_true)
    assert M.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert M.f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred))
    assert M.f1(y_true, y_pred, pos_label=0) == pytest.approx(
        skm.f1_score(y_true, y_pred, pos_label=0)
    )
    assert M.matthews_corrcoef(y_true, y_pred) == pytest.approx(
        skm.matthews_corrcoef(y_true, y_pred)
    )
    # multiclass, string labels, one label that only the predictions use
    names = np.array(["neg", "neu", "pos", "odd"])
    t = names[rng.integers(0, 3, size=150)]
    p = np.where(rng.random(150) < 0.6, t, names[rng.integers(0, 4, size=150)])
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    assert M.f1(t, p, average="macro") == pytest.approx(skm.f1_score(t, p, average="macro"))
    assert M.matthews_corrcoef(t, p) == pytest.approx(skm.matthews_corrcoef(t, p))


# -------------------------------------------------------------------------------- regression


def test_pearson_spearman_by_hand():
    # centred x = [-1,0,1], y = [-1,1,0]: dot 1, norms sqrt(2)*sqrt(2) = 2 -> 0.5
    assert M.pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # average ranks: [10,20,20,5] -> 5 is 1st, 10 2nd, the two 20s share (3+4)/2 = 3.5
    np.testing.assert_allclose(M._rankdata(np.array([10.0, 20, 20, 5])), [2, 3.5, 3.5, 1])
    # ranks x = [1,2.5,2.5,4] (centred [-1.5,0,0,1.5]), y = [1,2,3,4] (centred [-1.5,-.5,.5,1.5])
    # dot 4.5, |x|^2 = 4.5, |y|^2 = 5 -> 4.5 / sqrt(22.5)
    assert M.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    # monotone but non-linear: rho = 1 exactly, r < 1
    assert M.spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)
    assert M.pearson([1, 2, 3, 4], [1, 8, 27, 64]) < 0.99


def test_correlation_of_constant_is_nan():
    assert math.isnan(M.pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(M.spearman([1, 2, 3], [5, 5, 5]))
    with pytest.raises(ValueError):
        M.pearson([1.0], [2.0])


@pytest.mark.parametrize("seed", [0, 1])
def test_correlations_match_scipy(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=80)
    y = 0.5 * x + rng.normal(size=80)
    assert M.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert M.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    # heavy ties (STS-B style 0-5 scores rounded)
    a = np.round(rng.uniform(0, 5, size=80))
    b = np.round(a + rng.normal(scale=1.5, size=80))
    assert M.spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0])
    assert M.pearson(a, b) == pytest.approx(stats.pearsonr(a, b)[0])


# ----------------------------------------------------------------------------------- tagging


def test_bio_spans_basic():
    # end is exclusive: B-NP I-NP at 0..1 -> (NP, 0, 2)
    assert M.bio_spans(["B-NP", "I-NP", "O", "B-VP"]) == {("NP", 0, 2), ("VP", 3, 4)}
    # two B- of the same type are two spans
    assert M.bio_spans(["B-NP", "B-NP"]) == {("NP", 0, 1), ("NP", 1, 2)}
    # a span running to the end of the sentence is closed
    assert M.bio_spans(["O", "B-X", "I-X"]) == {("X", 1, 3)}
    assert M.bio_spans(["O", "O"]) == set()
    assert M.bio_spans([]) == set()


def test_bio_spans_i_after_o_starts_span():
    # conlleval: I-NP after O opens a span (IOB1 / sloppy model output is not dropped)
    assert M.bio_spans(["O", "I-NP", "I-NP", "O"]) == {("NP", 1, 3)}
    assert M.bio_spans(["I-NP"]) == {("NP", 0, 1)}


def test_bio_spans_type_change_breaks_span():
    # B-NP I-VP: the I- of another type ends NP and starts VP
    assert M.bio_spans(["B-NP", "I-VP", "I-VP"]) == {("NP", 0, 1), ("VP", 1, 3)}


def test_bio_spans_rejects_untyped_tags():
    with pytest.raises(ValueError, match="token_accuracy"):
        M.bio_spans(["NOUN", "VERB"])


def test_span_f1_partial_span_is_wrong():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]
    # gold {(PER,0,2),(LOC,3,4)}, pred {(PER,0,1),(LOC,3,4)}: only LOC matches
    # P = 1/2, R = 1/2, F1 = 1/2
    result = M.span_f1(gold, pred)
    assert result == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    # micro over sentences: add gold [B-ORG] missed by pred [O]
    # correct 1, pred 2, gold 3: P = 1/2, R = 1/3, F1 = 2*(1/6)/(5/6) = 0.4
    result = M.span_f1(gold + [["B-ORG"]], pred + [["O"]])
    assert result == pytest.approx({"precision": 0.5, "recall": 1 / 3, "f1": 0.4})


def test_span_f1_wrong_type_and_perfect():
    assert M.span_f1([["B-PER", "I-PER"]], [["B-ORG", "I-ORG"]])["f1"] == 0.0
    assert M.span_f1([["B-PER", "I-PER"]], [["B-PER", "I-PER"]])["f1"] == 1.0


def test_span_f1_spans_do_not_cross_sentences():
    # Concatenated, gold [B-X, I-X] would be one span (X,0,2) and pred 2 spans -> F1 0.
    # Per sentence, gold and pred both have (X,0,1) in each sentence -> F1 1.
    assert M.span_f1([["B-X"], ["I-X"]], [["B-X"], ["B-X"]])["f1"] == 1.0


def test_span_f1_no_spans_is_zero():
    zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert M.span_f1([["B-X", "O"]], [["O", "O"]]) == zero
    assert M.span_f1([["O"]], [["O"]]) == zero


def test_tagging_length_checks():
    with pytest.raises(ValueError, match="got 1 predicted sequences for 2 reference sequences"):
        M.span_f1([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sequence 1: got 1 predicted tags for 2 reference tags"):
        M.span_f1([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="sequence 0"):
        M.token_accuracy([["NOUN"]], [["NOUN", "VERB"]])


def test_token_accuracy_by_hand():
    # 3 tokens, "VERB" tagged "NOUN" wrong -> 2/3
    gold = [["NOUN", "VERB"], ["DET"]]
    pred = [["NOUN", "NOUN"], ["DET"]]
    assert M.token_accuracy(gold, pred) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        M.token_accuracy([[]], [[]])


def _seqeval_get_entities(seq):
    """Transcription of seqeval.metrics.sequence_labeling.get_entities (default mode),
    returning (type, start, end_inclusive); used only as an independent oracle."""

    def end_of_chunk(prev_tag, tag, prev_type, type_):
        chunk_end = False
        if prev_tag == "E":
            chunk_end = True
        if prev_tag == "S":
            chunk_end = True
        if prev_tag == "B" and tag in ("B", "S", "O"):
            chunk_end = True
        if prev_tag == "I" and tag in ("B", "S", "O"):
            chunk_end = True
        if prev_tag != "O" and prev_tag != "." and prev_type != type_:
            chunk_end = True
        return chunk_end

    def start_of_chunk(prev_tag, tag, prev_type, type_):
        chunk_start = False
        if tag in ("B", "S"):
            chunk_start = True
        if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
            chunk_start = True
        if tag != "O" and tag != "." and prev_type != type_:
            chunk_start = True
        return chunk_start

    prev_tag, prev_type, begin, chunks = "O", "", 0, []
    for i, chunk in enumerate(list(seq) + ["O"]):
        tag = chunk[0]
        type_ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def test_bio_spans_matches_seqeval_chunker_on_random_tags():
    rng = random.Random(0)
    tags = ["O", "B-A", "I-A", "B-B", "I-B", "E-A", "S-B"]
    for _ in range(300):
        seq = [rng.choice(tags) for _ in range(rng.randint(0, 10))]
        expected = {(t, s, e + 1) for t, s, e in _seqeval_get_entities(seq)}
        assert M.bio_spans(seq) == expected, seq


def test_unanswerable_question_scores_only_an_empty_prediction():
    from itft_utils.metrics import squad_metrics

    refs = {"q1": [], "q2": ["paris"]}
    # q1 abstained correctly (1), q2 right (1) -> 100; then q1 answered wrongly (0) -> 50.
    assert squad_metrics({"q1": "", "q2": "Paris"}, refs) == {"exact_match": 100.0, "f1": 100.0}
    assert squad_metrics({"q1": "rome", "q2": "paris"}, refs) == {"exact_match": 50.0, "f1": 50.0}
