"""Readers and loaders of itft_utils.data.local, on tiny synthetic files written to tmp_path."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from itft_utils.data.errors import DataFormatError
from itft_utils.data.local import (
    EXPECTED_FILES,
    LOCAL_LOADERS,
    UPOS_TAGS,
    load_pubmedqa,
    load_rte,
    missing_files,
    read_cola,
    read_conll_columns,
    read_conllu,
    read_glue_tsv,
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
from itft_utils.data.task import Task


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def squad_doc(start: int = 4, title: str = "Cats") -> dict:
    ctx = "The cat sat on the mat."
    return {"version": "1.1", "data": [
        {"title": title, "paragraphs": [{"context": ctx, "qas": [
            {"id": "q1", "question": "Who sat?", "answers": [
                {"text": "cat", "answer_start": start}, {"text": "The cat", "answer_start": 0}]},
            {"id": "q2", "question": "Where?", "answers": [{"text": "the mat", "answer_start": 15}]},
        ]}]},
        {"title": "Dogs", "paragraphs": [{"context": "A dog ran.", "qas": [
            {"id": "q3", "question": "What ran?", "answers": [{"text": "dog", "answer_start": 2}]}]}]},
    ]}


# ----------------------------------------------------------------------------------------- SQuAD

def test_squad_good(tmp_path):
    path = write(tmp_path / "dev.json", json.dumps(squad_doc()))
    rows = read_squad_json(path)
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert rows[0]["title"] == "Cats" and rows[2]["title"] == "Dogs"
    assert rows[0]["answers"] == {"text": ["cat", "The cat"], "answer_start": [4, 0]}
    assert rows[1]["context"][15:22] == "the mat"
    assert set(rows[0]) == {"id", "title", "context", "question", "answers"}


def test_squad_offset_a_little_off_is_repaired_and_counted(tmp_path):
    path = write(tmp_path / "off_by_one.json", json.dumps(squad_doc(start=5)))
    repaired = {}
    rows = read_squad_json(path, repaired=repaired)
    assert rows[0]["answers"] == {"text": ["cat", "The cat"], "answer_start": [4, 0]}
    assert sum(repaired.values()) == 1 and "moved" in next(iter(repaired))


def test_squad_answers_that_cannot_be_placed_are_all_named(tmp_path):
    doc = squad_doc()
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["text"] = "dog"  # not in the cat passage
    doc["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["text"] = "the sofa"
    path = write(tmp_path / "bad_offsets.json", json.dumps(doc))
    with pytest.raises(DataFormatError) as err:
        read_squad_json(path)
    assert "bad_offsets.json" in str(err.value) and err.value.record == "q1"
    assert "2 answer(s) cannot be placed" in str(err.value) and "q2" in str(err.value)  # all of them, not the first


def test_squad_duplicate_id_and_bad_layout(tmp_path):
    doc = squad_doc()
    doc["data"][1]["paragraphs"][0]["qas"][0]["id"] = "q1"
    with pytest.raises(DataFormatError, match="duplicate"):
        read_squad_json(write(tmp_path / "dup.json", json.dumps(doc)))
    with pytest.raises(DataFormatError, match="layout.json"):
        read_squad_json(write(tmp_path / "layout.json", json.dumps({"paragraphs": []})))
    with pytest.raises(DataFormatError, match="not valid JSON"):
        read_squad_json(write(tmp_path / "broken.json", '{"data": ['))


def test_squad_empty_answer_list_means_no_answer(tmp_path):
    doc = squad_doc()
    doc["data"][1]["paragraphs"][0]["qas"][0]["answers"] = []
    rows = read_squad_json(write(tmp_path / "v2.json", json.dumps(doc)))
    assert rows[2]["answers"] == {"text": [], "answer_start": []}


def test_squad_integer_question_ids_become_strings(tmp_path):
    """COVID-QA as distributed numbers its questions; they were refused as "without an 'id' string"."""
    doc = squad_doc()
    for qa, qid in zip((q for a in doc["data"] for p in a["paragraphs"] for q in p["qas"]), (101, 102, 103)):
        qa["id"] = qid
    rows = read_squad_json(write(tmp_path / "covid_qa.json", json.dumps(doc)))
    assert [r["id"] for r in rows] == ["101", "102", "103"]
    doc["data"][1]["paragraphs"][0]["qas"][0]["id"] = 101
    with pytest.raises(DataFormatError, match=r"covid_dup.json, record 101: duplicate question id"):
        read_squad_json(write(tmp_path / "covid_dup.json", json.dumps(doc)))
    doc["data"][1]["paragraphs"][0]["qas"][0]["id"] = True  # a boolean is no id
    with pytest.raises(DataFormatError, match=r"covid_bool.json, record article 1 paragraph 0 question 0: .*got True"):
        read_squad_json(write(tmp_path / "covid_bool.json", json.dumps(doc)))


# ------------------------------------------------------------------------------------- GLUE TSV

def test_glue_tsv_quotes_are_literal(tmp_path):
    # an unbalanced quote must neither swallow the next line nor lose its quote characters
    path = write(tmp_path / "q.tsv", 'sentence\tlabel\nhe said "yes \t1\n"quoted" words\t0\n')
    rows = read_glue_tsv(path, ["sentence"], "label")
    assert [r["text"] for r in rows] == ['he said "yes', '"quoted" words']
    assert [r["label"] for r in rows] == [1, 0]
    assert [r["id"] for r in rows] == ["q-2", "q-3"]


def test_glue_tsv_wrong_column_count_names_line(tmp_path):
    path = write(tmp_path / "cols.tsv", "sentence\tlabel\ngood\t1\nbad\t1\textra\n")
    with pytest.raises(DataFormatError) as err:
        read_glue_tsv(path, ["sentence"], "label")
    assert "cols.tsv" in str(err.value) and "record 3" in str(err.value)
    assert err.value.record == 3


def test_glue_tsv_bad_label_names_line(tmp_path):
    path = write(tmp_path / "lab.tsv", "a\tb\tlabel\nx\ty\t1\nx\ty\tmaybe\n")
    with pytest.raises(DataFormatError) as err:
        read_glue_tsv(path, ["a", "b"], "label")
    assert "lab.tsv" in str(err.value) and err.value.record == 3
    with pytest.raises(DataFormatError, match="record 2"):
        read_glue_tsv(path, ["a", "b"], "label", label_map={"yes": 0})
    with pytest.raises(DataFormatError, match="record 3"):
        read_glue_tsv(path, ["a", "b"], "label", label_map=float)


def test_glue_tsv_float_labels_pairs_crlf_and_missing_header_column(tmp_path):
    path = write(tmp_path / "reg.tsv", "s1\ts2\tscore\r\nA b\tC d\t3.5\r\n")
    rows = read_glue_tsv(path, ["s1", "s2"], "score", label_map=float)
    assert rows == [{"id": "reg-2", "text": "A b", "text_pair": "C d", "label": 3.5}]
    with pytest.raises(DataFormatError, match="lacks column 'label'"):
        read_glue_tsv(path, ["s1"], "label")
    nan = write(tmp_path / "nan.tsv", "s\tscore\nx\tnan\n")
    with pytest.raises(DataFormatError, match="finite"):
        read_glue_tsv(nan, ["s"], "score", label_map=float)


def test_glue_tsv_empty_text_and_duplicate_ids(tmp_path):
    with pytest.raises(DataFormatError, match="empty text"):
        read_glue_tsv(write(tmp_path / "e.tsv", "sentence\tlabel\n  \t1\n"), ["sentence"], "label")
    dup = write(tmp_path / "d.tsv", "index\ts\tlabel\n0\tx\t1\n0\ty\t0\n")
    with pytest.raises(DataFormatError, match="duplicate"):
        read_glue_tsv(dup, ["s"], "label", id_cols=["index"])


def test_sst2_and_qnli(tmp_path):
    rows = read_sst2(write(tmp_path / "sst.tsv", "sentence\tlabel\ngreat fun \t1\ndull\t0\n"))
    assert [(r["text"], r["label"]) for r in rows] == [("great fun", 1), ("dull", 0)]
    q = write(tmp_path / "dev.tsv", "index\tquestion\tsentence\tlabel\n7\tWho?\tHe did.\tnot_entailment\n")
    assert read_qnli(q) == [{"id": "dev-7", "text": "Who?", "text_pair": "He did.", "label": 1}]


def test_cola_no_header(tmp_path):
    path = write(tmp_path / "cola.tsv", "src1\t1\t\tGood sentence.\nsrc1\t0\t*\tSentence bad.\n")
    rows = read_cola(path)
    assert [(r["text"], r["label"]) for r in rows] == [("Good sentence.", 1), ("Sentence bad.", 0)]
    with pytest.raises(DataFormatError, match=r"cola3\.tsv, record 2"):
        read_cola(write(tmp_path / "cola3.tsv", "src1\t1\t\tGood.\nsrc1\t1\tGood.\n"))


def test_mrpc_bom_and_ids(tmp_path):
    text = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t11\t12\tHe said \"hi\".\tHe greeted.\n0\t13\t14\tA.\tB.\n"
    rows = read_mrpc(write(tmp_path / "msr.txt", text))
    assert rows[0] == {"id": "msr-11-12", "text": 'He said "hi".', "text_pair": "He greeted.", "label": 1}
    assert rows[1]["label"] == 0


def test_stsb_extra_columns_and_range(tmp_path):
    text = ("genre\tfile\t2012\t0001\t4.200\tA man.\tA guy.\n"
            "genre\tfile\t2012\t0002\t0.000\tX.\tY.\tsrc one\tsrc two\n")
    rows = read_stsb(write(tmp_path / "sts-x.tsv", text))
    assert [(r["text"], r["text_pair"], r["label"]) for r in rows] == [("A man.", "A guy.", 4.2), ("X.", "Y.", 0.0)]
    with pytest.raises(DataFormatError, match=r"sts-bad\.tsv, record 1"):
        read_stsb(write(tmp_path / "sts-bad.tsv", "g\tf\ty\t1\t5.5\tA.\tB.\n"))
    with pytest.raises(DataFormatError, match=r"sts-short\.tsv, record 1"):
        read_stsb(write(tmp_path / "sts-short.tsv", "g\tf\ty\t1\t2.0\tA.\n"))


def test_rte_labelled_and_unlabelled(tmp_path):
    train = write(tmp_path / "train.tsv", "index\tsentence1\tsentence2\tlabel\n0\tP.\tH.\tentailment\n")
    test = write(tmp_path / "test.tsv", "index\tsentence1\tsentence2\n0\tP.\tH.\n1\tP2.\tH2.\n")
    assert read_rte(train)[0]["label"] == 0
    unl = read_rte(test)
    assert len(unl) == 2 and all("label" not in r for r in unl)
    with pytest.raises(DataFormatError, match="record 2"):
        read_rte(write(tmp_path / "bad.tsv", "index\tsentence1\tsentence2\tlabel\n0\tP.\tH.\tcontradiction\n"))


# ------------------------------------------------------------------------------------- PubMedQA

def pqal(decisions: dict[str, str]) -> str:
    return json.dumps({pmid: {"QUESTION": f"Does {pmid} work?", "CONTEXTS": ["Background.", "Results."],
                              "LABELS": ["B", "R"], "LONG_ANSWER": "Conclusion.", "final_decision": d}
                       for pmid, d in decisions.items()})


def test_pubmedqa_reader(tmp_path):
    rows = read_pubmedqa(write(tmp_path / "ori_pqal.json", pqal({"1": "yes", "2": "maybe"})))
    assert rows[0] == {"id": "1", "text": "Does 1 work?", "text_pair": "Background. Results.", "label": 0}
    assert rows[1]["label"] == 2
    with pytest.raises(DataFormatError) as err:
        read_pubmedqa(write(tmp_path / "bad_pqal.json", pqal({"1": "yes", "99": "perhaps"})))
    assert "bad_pqal.json" in str(err.value) and err.value.record == "99"
    assert read_pubmedqa_ground_truth(write(tmp_path / "gt.json", '{"2": "maybe"}')) == {"2": "maybe"}


def test_load_pubmedqa_splits_by_ground_truth(tmp_path):
    write(tmp_path / "pubmedqa/ori_pqal.json", pqal({"1": "yes", "2": "no", "3": "maybe", "4": "yes"}))
    write(tmp_path / "pubmedqa/test_ground_truth.json", json.dumps({"2": "no", "4": "yes"}))
    task = load_pubmedqa(tmp_path)
    assert [r["id"] for r in task.split("train")] == ["1", "3"]
    assert [r["id"] for r in task.split("test")] == ["2", "4"]
    write(tmp_path / "pubmedqa/test_ground_truth.json", json.dumps({"2": "yes"}))
    with pytest.raises(DataFormatError, match="disagrees"):
        load_pubmedqa(tmp_path)


# --------------------------------------------------------------------------------------- SubjQA

SUBJQA_HEADER = ["item_id", "domain", "q_review_id", "q_reviews_id", "question", "review", "human_ans_spans",
                 "human_ans_indices"]


def subjqa_csv(path: Path, rows: list[tuple[str, str, str, tuple[int, int]]], domain: str = "books") -> Path:
    """rows: (q_review_id, question, review without the marker, span); the marker is appended."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SUBJQA_HEADER)
        for qid, question, review, (s, e) in rows:
            full = review + " ANSWERNOTFOUND"
            w.writerow(["B00X", domain, qid, "qs-" + qid, question, full, full[s:e], f"({s}, {e})"])
    return path


REVIEW = 'Great plot, "twisty", with commas,\nand a newline. Slow start.'
MARKER_SPAN = (len(REVIEW) + 1, len(REVIEW) + 1 + len("ANSWERNOTFOUND"))


def test_subjqa_answers_and_unanswerable(tmp_path):
    path = subjqa_csv(tmp_path / "dev.csv", [
        ("a", "How is the plot?", REVIEW, (0, 10)),
        ("b", "Is the cover nice?", REVIEW, MARKER_SPAN),
    ])
    rows = read_subjqa_csv(path)
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["answers"] == {"text": ["Great plot"], "answer_start": [0]}
    assert rows[1]["answers"] == {"text": [], "answer_start": []}
    assert rows[0]["context"] == REVIEW  # the marker is not part of the passage
    assert rows[0]["title"] == "books/B00X"


def test_subjqa_groups_annotations_and_counts_overruled_no_answer(tmp_path):
    path = subjqa_csv(tmp_path / "test.csv", [
        ("a", "How is the plot?", REVIEW, (0, 10)),
        ("a", "How is the plot?", REVIEW, MARKER_SPAN),
        ("a", "How is the plot?", REVIEW, (50, 60)),
        ("b", "Cover?", REVIEW, MARKER_SPAN),
        ("b", "Cover?", REVIEW, MARKER_SPAN),
    ])
    skipped: dict[str, int] = {}
    rows = read_subjqa_csv(path, skipped=skipped)
    assert len(rows) == 2
    assert rows[0]["answers"] == {"text": ["Great plot", "Slow start"], "answer_start": [0, 50]}
    assert rows[1]["answers"]["text"] == []
    assert skipped == {"ANSWERNOTFOUND annotation of a question another annotator answered": 1}
    flat = read_subjqa_csv(path, group=False)
    assert [r["id"] for r in flat] == ["a-row1", "a-row2", "a-row3", "b-row4", "b-row5"]
    assert flat[1]["answers"] == {"text": [], "answer_start": []}


def test_subjqa_span_running_into_marker_is_cut_and_counted(tmp_path):
    path = subjqa_csv(tmp_path / "train.csv", [("a", "How does it start?", REVIEW, (50, MARKER_SPAN[1]))])
    skipped: dict[str, int] = {}
    rows = read_subjqa_csv(path, skipped=skipped)
    assert rows[0]["answers"] == {"text": ["Slow start."], "answer_start": [50]}
    assert skipped == {"answer span cut at ANSWERNOTFOUND (kept)": 1}


def test_subjqa_malformed(tmp_path):
    path = subjqa_csv(tmp_path / "bad.csv", [("ok", "Q?", REVIEW, (0, 5)), ("qX", "Q?", REVIEW, (0, 9999))])
    with pytest.raises(DataFormatError) as err:
        read_subjqa_csv(path)
    assert "bad.csv" in str(err.value) and "qX" in str(err.value)
    path = subjqa_csv(tmp_path / "inside.csv", [("qY", "Q?", REVIEW, (MARKER_SPAN[0] + 3, MARKER_SPAN[1]))])
    with pytest.raises(DataFormatError, match="qY"):
        read_subjqa_csv(path)
    path = write(tmp_path / "idx.csv", ",".join(SUBJQA_HEADER) + '\nB,books,qZ,x,Q?,text ANSWERNOTFOUND,t,"[0, 2]"\n')
    with pytest.raises(DataFormatError, match="qZ.*pair of integers"):
        read_subjqa_csv(path)
    path = write(tmp_path / "nomark.csv", ",".join(SUBJQA_HEADER) + "\nB,books,qW,x,Q?,text,t,\"(0, 2)\"\n")
    with pytest.raises(DataFormatError, match="qW.*ANSWERNOTFOUND"):
        read_subjqa_csv(path)
    with pytest.raises(DataFormatError, match="lacks column"):
        read_subjqa_csv(write(tmp_path / "hdr.csv", "id,question\n1,Q?\n"))


# ------------------------------------------------------------------------------------ CoNLL columns

def test_conll2000_style(tmp_path):
    text = "He PRP B-NP\nran VBD B-VP\n. . O\n\nShe PRP B-NP\nsat VBD B-VP\n\n"
    rows = read_conll_columns(write(tmp_path / "train.txt", text), 0, 2)
    assert rows == [
        {"id": "train-1", "tokens": ["He", "ran", "."], "tags": ["B-NP", "B-VP", "O"]},
        {"id": "train-5", "tokens": ["She", "sat"], "tags": ["B-NP", "B-VP"]},
    ]


def test_conll_bom_whitespace_separators_docstart_and_stray_bom(tmp_path):
    text = "\ufeff-DOCSTART-\tO\n\n@user\tO\nParis\tB-location\n\t\nhi\tO\n\ufeff\nbye\tO\n"
    skipped: dict[str, int] = {}
    rows = read_conll_columns(write(tmp_path / "emerging.dev.conll", text), 0, 1, skipped=skipped)
    assert [r["tokens"] for r in rows] == [["@user", "Paris"], ["hi"], ["bye"]]
    assert rows[0]["tokens"][0] == "@user"  # no BOM glued to the first word
    assert skipped == {"-DOCSTART- line": 1, "stray byte-order-mark line": 1}
    assert len({r["id"] for r in rows}) == 3


def test_conll_bom_at_start_is_not_a_word(tmp_path):
    rows = read_conll_columns(write(tmp_path / "b.conll", "Hi\tO\nall\tO\n", encoding="utf-8-sig"), 0, 1)
    assert rows[0]["tokens"] == ["Hi", "all"]


def test_conll_wrong_column_count_names_line(tmp_path):
    path = write(tmp_path / "broken.txt", "He PRP B-NP\nran VBD\n")
    with pytest.raises(DataFormatError) as err:
        read_conll_columns(path, 0, 2)
    assert "broken.txt" in str(err.value) and err.value.record == 2


# ------------------------------------------------------------------------------------------ CoNLL-U

CONLLU = """# newdoc id = d1
# sent_id = s-1
# text = I can't go.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
4.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t0:root\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_

"""


def test_conllu_skips_and_counts_multiword_and_empty_nodes(tmp_path):
    skipped: dict[str, int] = {}
    rows = read_conllu(write(tmp_path / "x-ud-dev.conllu", CONLLU), skipped=skipped)
    assert rows[0] == {"id": "s-1", "tokens": ["I", "ca", "n't", "go", "."],
                       "tags": ["PRON", "AUX", "PART", "VERB", "PUNCT"]}
    assert rows[1] == {"id": "x-ud-dev-12", "tokens": ["Hi"], "tags": ["INTJ"]}
    assert skipped == {"multiword token line": 1, "empty node line": 1}
    xpos = read_conllu(write(tmp_path / "y.conllu", CONLLU), tag_field="xpos")
    assert xpos[0]["tags"] == ["PRP", "MD", "RB", "VB", "."]


@pytest.mark.parametrize("bad, problem", [
    ("1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\n", "fields"),
    ("2\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n", "word id"),
    ("1\tI\tI\tPRONOUN\tPRP\t_\t0\troot\t_\t_\n", "upos"),
])
def test_conllu_malformed(tmp_path, bad, problem):
    path = write(tmp_path / "bad.conllu", "# sent_id = a\n" + bad + "\n")
    with pytest.raises(DataFormatError, match=problem) as err:
        read_conllu(path)
    assert "bad.conllu" in str(err.value) and err.value.record == 2


# ------------------------------------------------------------------------- loaders on a fake folder

def make_data_dir(root: Path) -> Path:
    """One tiny file for every file in EXPECTED_FILES, in its original format."""
    glue = {
        "sst2_glue/{}.tsv": "sentence\tlabel\ngood \t1\nbad \t0\n",
        "rte/{}.tsv": "index\tsentence1\tsentence2\tlabel\n0\tP.\tH.\tentailment\n1\tQ.\tR.\tnot_entailment\n",
        "stsb/sts-{}.tsv": "g\tf\t2012\t0001\t1.0\tA.\tB.\ng\tf\t2012\t0002\t4.0\tC.\tD.\tx\ty\n",
        "cola/{}.tsv": "src\t1\t\tFine.\nsrc\t0\t*\tBad fine.\n",
        "conll2000/{}.txt": "He PRP B-NP\nran VBD B-VP\n\n",
        "ud_en_ewt/en_ewt-ud-{}.conllu": CONLLU,
    }
    for rel_list in EXPECTED_FILES.values():
        for rel in rel_list:
            path = root / rel
            stem = path.stem
            if rel.startswith("squad_v1.1/") or rel.startswith("policyqa/"):
                write(path, json.dumps(squad_doc()))
            elif rel.startswith("subjqa/"):
                subjqa_csv(path, [(f"{path.parent.name}-{stem}-1", "Plot?", REVIEW, (0, 10)),
                                  (f"{path.parent.name}-{stem}-2", "Cover?", REVIEW, MARKER_SPAN)],
                           domain=path.parent.name)
            elif rel == "pubmedqa/ori_pqal.json":
                write(path, pqal({"1": "yes", "2": "no"}))
            elif rel == "pubmedqa/test_ground_truth.json":
                write(path, '{"2": "no"}')
            elif rel == "rte/test.tsv":
                write(path, "index\tsentence1\tsentence2\n0\tP.\tH.\n")
            elif rel.startswith("mrpc/"):
                write(path, "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA.\tB.\n")
            elif rel.startswith("qnli/"):
                write(path, "index\tquestion\tsentence\tlabel\n0\tWho?\tHe.\tentailment\n")
            elif rel.startswith("wnut17/"):
                write(path, "\ufeff@a\tO\nParis\tB-location\n\t\nhi\tO\n")
            else:
                folder = rel.split("/")[0]
                template = next(t for k, t in glue.items() if k.startswith(folder + "/"))
                write(path, template)
    return root


EXPECTED_SPLITS = {
    "squad": ["all"], "qnli": ["all"], "policyqa": ["train", "test"], "mrpc": ["train", "test"],
    "pubmedqa": ["train", "test"], "conll2000": ["train", "test"], "ud_pos": ["train", "test"],
    "rte": ["train", "validation"],
}


def test_registry_is_consistent():
    assert set(LOCAL_LOADERS) == set(EXPECTED_FILES) == {
        "squad", "policyqa", "subjqa", "pubmedqa", "sst2", "cola", "rte", "mrpc", "stsb", "qnli",
        "conll2000", "ud_pos", "wnut17"}


@pytest.mark.parametrize("name", sorted(LOCAL_LOADERS))
def test_every_loader_on_synthetic_folder(tmp_path, name):
    task = LOCAL_LOADERS[name](make_data_dir(tmp_path))
    assert isinstance(task, Task) and task.name == name
    assert sorted(task.splits) == sorted(EXPECTED_SPLITS.get(name, ["train", "validation", "test"]))
    assert task.description and task.domain
    for split, rows in task.splits.items():
        assert rows, split
        assert len({r["id"] for r in rows}) == len(rows)
        for r in rows:
            if task.task_type == "classification":
                assert isinstance(r["label"], int) and 0 <= r["label"] < len(task.label_names)
            elif task.task_type == "regression":
                assert isinstance(r["label"], float)
            elif task.task_type == "tagging":
                assert len(r["tags"]) == len(r["tokens"])
                assert all(isinstance(t, int) and 0 <= t < len(task.label_names) for t in r["tags"])
            else:
                assert set(r["answers"]) == {"text", "answer_start"}


def test_loader_details_on_synthetic_folder(tmp_path):
    root = make_data_dir(tmp_path)
    rte = load_rte(root)
    assert rte.skipped == {"unlabelled test example (rte/test.tsv)": 1}
    ud = LOCAL_LOADERS["ud_pos"](root)
    assert ud.label_names == UPOS_TAGS
    assert ud.skipped == {"multiword token line": 2, "empty node line": 2}
    wnut = LOCAL_LOADERS["wnut17"](root)
    assert wnut.label_names == ["O", "B-location"]
    assert wnut.split("train")[0]["tokens"] == ["@a", "Paris"]
    subj = LOCAL_LOADERS["subjqa"](root)
    assert len(subj.split("train")) == 8 and len(subj.split("validation")) == 12
    assert sum(not r["answers"]["text"] for r in subj.split("test")) == 6


def test_missing_file_names_full_path_and_dataset(tmp_path):
    root = make_data_dir(tmp_path)
    (root / "rte/dev.tsv").unlink()
    assert missing_files(root, "rte") == [root / "rte/dev.tsv"]
    assert missing_files(root, "sst2") == []
    with pytest.raises(FileNotFoundError) as err:
        load_rte(root)
    msg = str(err.value)
    assert str((root / "rte/dev.tsv").resolve()) in msg and "'rte'" in msg
    with pytest.raises(FileNotFoundError, match="'squad'"):
        LOCAL_LOADERS["squad"](tmp_path / "nowhere")
    with pytest.raises(KeyError):
        missing_files(root, "imagenet")
