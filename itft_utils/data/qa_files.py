"""Readers of extractive-QA files: SQuAD JSON (SQuAD, PolicyQA) and SubjQA's CSV."""
from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

from itft_utils.data.answers import align_answers
from itft_utils.data.errors import DataFormatError
from itft_utils.data.records import _count
from itft_utils.data.textio import load_json, read_text, require_examples

SUBJQA_MARKER = "ANSWERNOTFOUND"


# --------------------------------------------------------------------------------------------
# extractive QA
# --------------------------------------------------------------------------------------------

def read_squad_json(path: str | Path, encoding: str = "utf-8", repaired: dict[str, int] | None = None) -> list[dict]:
    """Read a SQuAD v1.1-layout JSON file (SQuAD, PolicyQA) into QA examples.

    Each question becomes ``{id, title, context, question, answers}`` with ``answers`` in SQuAD's
    own layout (all annotators' answers, repeats included); integer question ids (COVID-QA's) become
    strings. Every ``answer_start`` must index its
    answer text in the context exactly; otherwise :class:`DataFormatError` names the question id.
    An empty answer list (SQuAD 2.0's unanswerable questions) is accepted and kept empty.
    """
    path = Path(path)
    doc = load_json(path, encoding)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataFormatError(path, None, "expected a JSON object with a 'data' list (SQuAD layout)")
    examples: list[dict] = []
    seen: set[str] = set()
    for a_i, article in enumerate(doc["data"]):
        where = f"article {a_i}"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DataFormatError(path, where, "article without a 'paragraphs' list")
        title = article.get("title", "")
        if not isinstance(title, str):
            raise DataFormatError(path, where, "article title is not a string")
        for p_i, para in enumerate(article["paragraphs"]):
            where = f"article {a_i} paragraph {p_i}"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) \
                    or not isinstance(para.get("qas"), list):
                raise DataFormatError(path, where, "paragraph needs a 'context' string and a 'qas' list")
            context = para["context"]
            for q_i, qa in enumerate(para["qas"]):
                qid = qa.get("id") if isinstance(qa, dict) else None
                if isinstance(qid, int) and not isinstance(qid, bool):
                    qid = str(qid)  # COVID-QA numbers its questions; ids are strings everywhere else
                if not isinstance(qid, str) or not qid:
                    raise DataFormatError(path, f"{where} question {q_i}",
                                          f"question without an 'id' (a string or an integer); got {qid!r}")
                if qid in seen:
                    raise DataFormatError(path, qid, "duplicate question id")
                seen.add(qid)
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise DataFormatError(path, qid, "missing or empty 'question'")
                raw_answers = qa.get("answers")
                if not isinstance(raw_answers, list):
                    raise DataFormatError(path, qid, "'answers' is not a list")
                texts, starts = [], []
                for ans in raw_answers:
                    text = ans.get("text") if isinstance(ans, dict) else None
                    start = ans.get("answer_start") if isinstance(ans, dict) else None
                    if not isinstance(text, str) or not text:
                        raise DataFormatError(path, qid, "answer without a non-empty 'text' string")
                    if not isinstance(start, int) or isinstance(start, bool):
                        raise DataFormatError(path, qid, f"answer_start {start!r} is not an integer")
                    texts.append(text)
                    starts.append(start)
                examples.append({
                    "id": qid, "title": title, "context": context, "question": question,
                    "answers": {"text": texts, "answer_start": starts},
                })
    return align_answers(require_examples(path, examples), str(path), repaired)


def _parse_indices(path: Path, record: str, raw: str) -> tuple[int, int]:
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = None
    if not (isinstance(value, tuple) and len(value) == 2 and all(type(v) is int for v in value)):
        raise DataFormatError(path, record, f"human_ans_indices {raw!r} is not a pair of integers like '(12, 40)'")
    return value


def read_subjqa_csv(
    path: str | Path, *, group: bool = True, skipped: dict[str, int] | None = None, encoding: str = "utf-8",
) -> list[dict]:
    """Read one SubjQA split file (``subjqa/<domain>/{train,dev,test}.csv``) into QA examples.

    The gold span of a row is ``review[start:end]`` from ``human_ans_indices``. Every review ends
    with `` ANSWERNOTFOUND``; the span that selects exactly this marker is the answer "no answer
    in the review". The marker is not part of the passage, so it is cut off the context and such
    rows get no answer; a question with no answer at all gets
    ``answers={"text": [], "answer_start": []}``. Spans lose surrounding whitespace (their start is
    moved to match). A span that runs on into the marker (real files have a few) is cut where the
    review ends and counted in ``skipped`` (key ``"answer span cut at ANSWERNOTFOUND (kept)"``).

    The files hold one row per *annotation*: a question (``q_review_id``: one question about one
    review) usually has two or three rows. With ``group=True`` (the default) the rows of a question
    become one example (id = ``q_review_id``) whose answers are the spans of every annotator who
    found one, SQuAD-style; the rows of annotators who said ANSWERNOTFOUND on a question that
    another annotator answered are counted in ``skipped``. With ``group=False`` every row is an
    example of its own, id ``f"{q_review_id}-row{n}"``.

    ``title`` is ``f"{domain}/{item_id}"`` (the product, hotel or restaurant).
    """
    path = Path(path)
    required = ("item_id", "domain", "q_review_id", "question", "review", "human_ans_indices")
    rows: list[dict] = []
    with io.StringIO(read_text(path, encoding), newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise DataFormatError(path, 1, "empty file: no header row") from None
        except csv.Error as e:
            raise DataFormatError(path, 1, f"CSV error: {e}") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise DataFormatError(path, 1, f"header lacks column(s) {missing}; it has {header}")
        col = {name: header.index(name) for name in required}
        n = 0
        while True:
            first_line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise DataFormatError(path, f"line {reader.line_num}", f"CSV error: {e}") from None
            n += 1
            record = f"row {n} (line {first_line})"
            if len(fields) != len(header):
                raise DataFormatError(path, record, f"{len(fields)} fields, header has {len(header)}")
            qid = fields[col["q_review_id"]]
            if not qid:
                raise DataFormatError(path, record, "empty q_review_id")
            record = f"{qid} ({record})"
            question, review = fields[col["question"]], fields[col["review"]]
            if not question.strip():
                raise DataFormatError(path, record, "empty question")
            marker = " " + SUBJQA_MARKER
            if not review.endswith(SUBJQA_MARKER):
                raise DataFormatError(path, record, f"review does not end with {SUBJQA_MARKER!r}")
            context_end = len(review) - len(marker) if review.endswith(marker) else len(review) - len(SUBJQA_MARKER)
            context = review[:context_end]
            start, end = _parse_indices(path, record, fields[col["human_ans_indices"]])
            if not 0 <= start < end <= len(review):
                raise DataFormatError(path, record,
                                      f"span ({start}, {end}) is outside the review (length {len(review)})")
            answer = None  # (text, start), or None for "no answer"
            if start >= context_end:
                # only the marker itself (with or without the space before it) means "no answer"
                if review[start:end].strip() != SUBJQA_MARKER or end != len(review):
                    raise DataFormatError(path, record, f"span ({start}, {end}) lies inside {SUBJQA_MARKER!r}")
            else:
                cut = end > context_end
                if cut and end != len(review):
                    raise DataFormatError(path, record, f"span ({start}, {end}) ends inside {SUBJQA_MARKER!r}")
                text = review[start:min(end, context_end)]
                stripped = text.strip()
                if stripped:
                    answer = (stripped, start + (len(text) - len(text.lstrip())))
                    if cut:
                        _count(skipped, "answer span cut at ANSWERNOTFOUND (kept)")
                elif not cut:
                    raise DataFormatError(path, record, f"span ({start}, {end}) selects only whitespace")
            rows.append({
                "qid": qid, "row": n, "question": question, "context": context, "answer": answer,
                "title": f"{fields[col['domain']]}/{fields[col['item_id']]}", "record": record,
            })

    def example(ex_id: str, r: dict, answers: list[tuple[str, int]]) -> dict:
        return {
            "id": ex_id, "title": r["title"], "context": r["context"], "question": r["question"],
            "answers": {"text": [a for a, _ in answers], "answer_start": [s for _, s in answers]},
        }

    if not group:
        return [example(f"{r['qid']}-row{r['row']}", r, [r["answer"]] if r["answer"] else []) for r in rows]

    by_q: dict[str, list[dict]] = {}
    for r in rows:
        by_q.setdefault(r["qid"], []).append(r)
    examples = []
    for qid, group_rows in by_q.items():
        first = group_rows[0]
        for r in group_rows[1:]:
            if (r["question"], r["context"], r["title"]) != (first["question"], first["context"], first["title"]):
                raise DataFormatError(path, r["record"], "rows of one q_review_id disagree on question, review or item")
        answers = [r["answer"] for r in group_rows if r["answer"] is not None]
        if answers:
            _count(skipped, "ANSWERNOTFOUND annotation of a question another annotator answered",
                   len(group_rows) - len(answers))
        examples.append(example(qid, first, answers))
    return require_examples(path, examples)
