"""Loaders for the real datasets in their original public formats (standard library only).

Two layers:

* **Readers** (``read_*``) parse one file of one public format into a list of example dicts (the
  schemas of :mod:`itft_utils.data.task`). They check what they read and raise
  :class:`~itft_utils.data.task.DataFormatError` naming the file, the record (a line number or an
  example id) and the problem; they never drop a record silently. Where a format defines lines that
  are not records (CoNLL ``-DOCSTART-`` lines, CoNLL-U multiword-token ranges and empty nodes), the
  reader skips them and adds them to the ``skipped`` dict it is given, by reason. The tagging readers
  return tags as strings; the loaders turn them into indices.
* **Loaders** (``load_<name>(data_dir)``) read one dataset of the shared data folder (see its
  README) into a :class:`~itft_utils.data.task.Task`. ``LOCAL_LOADERS`` maps each name to its loader,
  ``EXPECTED_FILES`` lists the files (relative to the data folder) each one reads and
  :func:`missing_files` tells which of them are absent.

Text fields of classification/regression examples are stripped of surrounding whitespace; QA
contexts and tagging tokens are kept verbatim (offsets and tokens must stay exact).
"""
from __future__ import annotations

import ast
import csv
import io
import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

from itft_utils.data.answers import align_answers
from itft_utils.data.task import DataFormatError, Task
from itft_utils.data.textio import load_json, read_lines, read_text, require_examples

__all__ = [
    "EXPECTED_FILES",
    "LOCAL_LOADERS",
    "UPOS_TAGS",
    "missing_files",
    "read_squad_json",
    "read_glue_tsv",
    "read_mrpc",
    "read_stsb",
    "read_cola",
    "read_sst2",
    "read_rte",
    "read_qnli",
    "read_pubmedqa",
    "read_pubmedqa_ground_truth",
    "read_subjqa_csv",
    "read_conll_columns",
    "read_conllu",
] + [f"load_{n}" for n in (
    "squad", "policyqa", "subjqa", "pubmedqa", "sst2", "cola", "rte", "mrpc", "stsb", "qnli",
    "conll2000", "ud_pos", "wnut17",
)]

#: The 17 universal part-of-speech tags of Universal Dependencies v2, in the UD documentation's order.
UPOS_TAGS = [
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
    "PUNCT", "SCONJ", "SYM", "VERB", "X",
]

SUBJQA_MARKER = "ANSWERNOTFOUND"
BOM = "\ufeff"


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

def _count(skipped: dict[str, int] | None, reason: str, n: int = 1) -> None:
    if skipped is not None and n:
        skipped[reason] = skipped.get(reason, 0) + n


def _check_unique_ids(path: Path, examples: list[dict]) -> None:
    seen: set[str] = set()
    for ex in examples:
        if ex["id"] in seen:
            raise DataFormatError(path, ex["id"], f"duplicate example id {ex['id']!r}")
        seen.add(ex["id"])


def _encode_tags(examples: list[dict], label_names: list[str], source: str) -> list[dict]:
    index = {t: i for i, t in enumerate(label_names)}
    out = []
    for ex in examples:
        try:
            tags = [index[t] for t in ex["tags"]]
        except KeyError as e:
            raise DataFormatError(source, ex["id"], f"tag {e.args[0]!r} is not among {label_names}") from None
        out.append({**ex, "tags": tags})
    return out


def ordered_tags(*splits: list[dict]) -> list[str]:
    """Every tag seen, ``O`` first, then the rest sorted by (type, prefix): B-X before I-X."""
    tags = {t for rows in splits for ex in rows for t in ex["tags"]}

    def key(t: str) -> tuple:
        prefix, _, typ = t.partition("-")
        return (t != "O", typ if typ else t, prefix)

    return sorted(tags, key=key)


# --------------------------------------------------------------------------------------------
# extractive QA
# --------------------------------------------------------------------------------------------

def read_squad_json(path: str | Path, encoding: str = "utf-8", repaired: dict[str, int] | None = None) -> list[dict]:
    """Read a SQuAD v1.1-layout JSON file (SQuAD, PolicyQA) into QA examples.

    Each question becomes ``{id, title, context, question, answers}`` with ``answers`` in SQuAD's
    own layout (all annotators' answers, repeats included). Every ``answer_start`` must index its
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
                if not isinstance(qid, str) or not qid:
                    raise DataFormatError(path, f"{where} question {q_i}", "question without an 'id' string")
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


# --------------------------------------------------------------------------------------------
# classification / regression: tab-separated files
# --------------------------------------------------------------------------------------------

def read_glue_tsv(
    path: str | Path,
    text_cols: Sequence[str | int],
    label_col: str | int | None,
    header: bool = True,
    label_map: Mapping[str, int] | Callable[[str], float] | None = None,
    *,
    id_cols: Sequence[str | int] | None = None,
    num_cols: int | None = None,
    allow_extra_cols: bool = False,
    encoding: str = "utf-8",
) -> list[dict]:
    """Read a tab-separated file (GLUE style) into classification/regression examples.

    Lines are split on tabs by hand: there is no CSV quoting, quotes are literal characters. A
    UTF-8 byte-order mark at the start is dropped.

    * ``text_cols``: one or two columns (names when ``header``, else 0-based indices) giving
      ``text`` and ``text_pair``; both are stripped of surrounding whitespace and must not be empty.
    * ``label_col``: the label column, or ``None`` for unlabelled files (no ``label`` key).
    * ``label_map``: a dict from label string to class index, a callable such as ``float`` for
      regression, or ``None`` for labels that are integers already.
    * ``id_cols``: columns whose values, joined by ``-``, make the id ``f"{stem}-{value}"``; without
      them the id is ``f"{stem}-{line number}"``. Ids must be unique.
    * ``num_cols``: the number of fields every line must have (default: the header's length, or
      the first line's); ``allow_extra_cols`` accepts lines with more fields (STS-B's trailing
      source columns) and ignores the extra ones.

    A wrong number of fields, an empty text or an unparsable label raises :class:`DataFormatError`
    with the 1-based line number.
    """
    path = Path(path)
    if not 1 <= len(text_cols) <= 2:
        raise ValueError("text_cols must name one or two columns")
    lines = read_lines(path, encoding)
    first_data = 0
    names: list[str] | None = None
    if header:
        if not lines:
            raise DataFormatError(path, 1, "empty file: no header line")
        names = lines[0].split("\t")
        first_data = 1
        if num_cols is None:
            num_cols = len(names)

    def resolve(ref: str | int) -> int:
        if isinstance(ref, int):
            return ref
        if names is None:
            raise ValueError(f"column {ref!r} given by name, but the file has no header")
        if ref not in names:
            raise DataFormatError(path, 1, f"header lacks column {ref!r}; it has {names}")
        return names.index(ref)

    text_idx = [resolve(c) for c in text_cols]
    label_idx = resolve(label_col) if label_col is not None else None
    id_idx = [resolve(c) for c in id_cols] if id_cols else None
    needed = max(text_idx + ([label_idx] if label_idx is not None else []) + (id_idx or [])) + 1
    stem = path.stem
    examples: list[dict] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(lines[first_data:], start=first_data + 1):
        fields = line.split("\t")
        if num_cols is None:
            num_cols = len(fields)
        if len(fields) != num_cols and not (allow_extra_cols and len(fields) > num_cols):
            expect = f"at least {num_cols}" if allow_extra_cols else f"{num_cols}"
            raise DataFormatError(path, line_no, f"{len(fields)} tab-separated fields, expected {expect}")
        if len(fields) < needed:
            raise DataFormatError(path, line_no, f"{len(fields)} fields, but column {needed - 1} is needed")
        ex_id = f"{stem}-" + ("-".join(fields[i].strip() for i in id_idx) if id_idx else str(line_no))
        if ex_id in seen:
            raise DataFormatError(path, line_no, f"duplicate example id {ex_id!r} (first on line {seen[ex_id]})")
        seen[ex_id] = line_no
        ex: dict = {"id": ex_id}
        for key, i in zip(("text", "text_pair"), text_idx):
            value = fields[i].strip()
            if not value:
                raise DataFormatError(path, line_no, f"empty {key} (column {names[i] if names else i})")
            ex[key] = value
        if label_idx is not None:
            raw = fields[label_idx].strip()
            if label_map is None:
                try:
                    ex["label"] = int(raw)
                except ValueError:
                    raise DataFormatError(path, line_no, f"label {raw!r} is not an integer") from None
            elif isinstance(label_map, Mapping):
                if raw not in label_map:
                    raise DataFormatError(path, line_no, f"label {raw!r} is not one of {sorted(label_map)}")
                ex["label"] = label_map[raw]
            else:
                try:
                    value = label_map(raw)
                except (ValueError, TypeError):
                    raise DataFormatError(path, line_no, f"label {raw!r} cannot be parsed") from None
                if isinstance(value, float) and not math.isfinite(value):
                    raise DataFormatError(path, line_no, f"label {raw!r} is not a finite number")
                ex["label"] = value
        examples.append(ex)
    return require_examples(path, examples)


BINARY_01 = {"0": 0, "1": 1}
SST2_LABELS = ["negative", "positive"]
COLA_LABELS = ["unacceptable", "acceptable"]
MRPC_LABELS = ["not_equivalent", "equivalent"]
NLI_LABELS = ["entailment", "not_entailment"]
PUBMEDQA_LABELS = ["yes", "no", "maybe"]


def read_mrpc(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """An original MSRP file (``Quality\\t#1 ID\\t#2 ID\\t#1 String\\t#2 String``, BOM allowed).

    Label 1 = the two sentences are paraphrases (``MRPC_LABELS``); id = ``f"{stem}-{id1}-{id2}"``.
    """
    return read_glue_tsv(path, ["#1 String", "#2 String"], "Quality", label_map=BINARY_01,
                         id_cols=["#1 ID", "#2 ID"], encoding=encoding)


def read_stsb(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """An STS Benchmark file: no header; genre, file, year, id, score, sentence1, sentence2 [, extra...].

    The trailing source columns some lines carry are ignored. The score (float) must lie in [0, 5].
    """
    examples = read_glue_tsv(path, [5, 6], 4, header=False, label_map=float, num_cols=7, allow_extra_cols=True,
                             encoding=encoding)
    for ex in examples:
        if not 0.0 <= ex["label"] <= 5.0:
            raise DataFormatError(path, int(ex["id"].rsplit("-", 1)[1]), f"score {ex['label']} outside [0, 5]")
    return examples


def read_cola(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """A CoLA raw file: no header; source, label (0/1), original mark, sentence. 1 = acceptable."""
    return read_glue_tsv(path, [3], 1, header=False, label_map=BINARY_01, num_cols=4, encoding=encoding)


def read_sst2(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """A GLUE SST-2 file: header ``sentence\\tlabel``; 1 = positive."""
    return read_glue_tsv(path, ["sentence"], "label", label_map=BINARY_01, encoding=encoding)


def read_rte(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """A GLUE RTE file: header ``index sentence1 sentence2 [label]``; an unlabelled file (no label
    column, GLUE's test) gives examples without ``label``."""
    names = read_lines(path, encoding)[:1]
    labelled = bool(names) and "label" in names[0].split("\t")
    return read_glue_tsv(path, ["sentence1", "sentence2"], "label" if labelled else None,
                         label_map={n: i for i, n in enumerate(NLI_LABELS)}, id_cols=["index"], encoding=encoding)


def read_qnli(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """A GLUE QNLI file: header ``index question sentence label``; text = question, text_pair = sentence."""
    return read_glue_tsv(path, ["question", "sentence"], "label",
                         label_map={n: i for i, n in enumerate(NLI_LABELS)}, id_cols=["index"], encoding=encoding)


def read_pubmedqa(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """PubMedQA's ``ori_pqal.json`` (PMID -> {QUESTION, CONTEXTS, final_decision, ...}).

    Each entry becomes ``{id: PMID, text: QUESTION, text_pair: the CONTEXTS joined by spaces,
    label: index of final_decision in ["yes", "no", "maybe"]}``. The long answer (the abstract's
    conclusion) is left out, as in the PubMedQA reasoning-required setting.
    """
    path = Path(path)
    doc = load_json(path, encoding)
    if not isinstance(doc, dict):
        raise DataFormatError(path, None, "expected a JSON object mapping PubMed ids to entries")
    examples = []
    for pmid, entry in doc.items():
        if not isinstance(entry, dict):
            raise DataFormatError(path, pmid, "entry is not an object")
        question, contexts, decision = entry.get("QUESTION"), entry.get("CONTEXTS"), entry.get("final_decision")
        if not isinstance(question, str) or not question.strip():
            raise DataFormatError(path, pmid, "missing or empty QUESTION")
        if not isinstance(contexts, list) or not contexts or not all(isinstance(c, str) for c in contexts):
            raise DataFormatError(path, pmid, "CONTEXTS is not a non-empty list of strings")
        if decision not in PUBMEDQA_LABELS:
            raise DataFormatError(path, pmid, f"final_decision {decision!r} is not one of {PUBMEDQA_LABELS}")
        examples.append({
            "id": str(pmid), "text": question.strip(),
            "text_pair": " ".join(c.strip() for c in contexts),
            "label": PUBMEDQA_LABELS.index(decision),
        })
    return require_examples(path, examples)


def read_pubmedqa_ground_truth(path: str | Path, encoding: str = "utf-8") -> dict[str, str]:
    """PubMedQA's ``test_ground_truth.json``: PMID -> "yes" / "no" / "maybe"."""
    path = Path(path)
    doc = load_json(path, encoding)
    if not isinstance(doc, dict):
        raise DataFormatError(path, None, "expected a JSON object mapping PubMed ids to decisions")
    for pmid, decision in doc.items():
        if decision not in PUBMEDQA_LABELS:
            raise DataFormatError(path, pmid, f"decision {decision!r} is not one of {PUBMEDQA_LABELS}")
    return dict(require_examples(path, [(str(k), v) for k, v in doc.items()]))


# --------------------------------------------------------------------------------------------
# sequence labelling
# --------------------------------------------------------------------------------------------

def read_conll_columns(
    path: str | Path, word_col: int, tag_col: int, *, skipped: dict[str, int] | None = None, encoding: str = "utf-8",
) -> list[dict]:
    """Read a CoNLL column file: one token per line, sentences separated by blank lines.

    Columns are split on tabs when the line has one, else on spaces (CoNLL-2000: ``word POS chunk``;
    WNUT-17: ``word<TAB>tag``). Every token line must have the same number of columns. A UTF-8
    byte-order mark at the start of the file, or at the start of any line, is dropped; a line that
    is then empty (or only whitespace, as WNUT-17's train file uses) separates sentences. A line
    made only of a stray byte-order mark (found mid-file where files were concatenated) is counted
    in ``skipped``; so are ``-DOCSTART-`` lines, which also end a sentence.

    Returns ``{id: f"{stem}-{first line}", tokens: [...], tags: [tag strings]}`` per sentence.
    """
    path = Path(path)
    lines = read_lines(path, encoding)
    stem = path.stem
    examples: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    start_line = 0
    ncols: int | None = None

    def flush() -> None:
        nonlocal tokens, tags
        if tokens:
            examples.append({"id": f"{stem}-{start_line}", "tokens": tokens, "tags": tags})
        tokens, tags = [], []

    for line_no, raw in enumerate(lines, start=1):
        line = raw.lstrip(BOM)
        if not line.strip():
            if BOM in raw and line_no > 1:
                _count(skipped, "stray byte-order-mark line")
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            _count(skipped, "-DOCSTART- line")
            flush()
            continue
        fields = line.split("\t") if "\t" in line else [f for f in line.split(" ") if f]
        if ncols is None:
            ncols = len(fields)
            if ncols <= max(word_col, tag_col):
                raise DataFormatError(path, line_no,
                                      f"{ncols} columns; word column {word_col} and tag column {tag_col} needed")
        if len(fields) != ncols:
            raise DataFormatError(path, line_no, f"{len(fields)} columns, earlier lines have {ncols}")
        word, tag = fields[word_col], fields[tag_col].strip()
        if not word.strip() or not tag:
            raise DataFormatError(path, line_no, "empty word or tag")
        if not tokens:
            start_line = line_no
        tokens.append(word)
        tags.append(tag)
    flush()
    return require_examples(path, examples)


_CONLLU_FIELDS = {"form": 1, "lemma": 2, "upos": 3, "xpos": 4, "feats": 5, "deprel": 7}


def read_conllu(
    path: str | Path, tag_field: str = "upos", *, skipped: dict[str, int] | None = None, encoding: str = "utf-8",
) -> list[dict]:
    """Read a CoNLL-U file into tagging examples (words and the chosen field as tags).

    Comment lines (``#``) are metadata, not words: ``# sent_id = X`` gives the example id (else
    ``f"{stem}-{first line}"``). Multiword-token ranges (``3-4``) and empty nodes (``8.1``) are, by
    the format's definition, not words: they are skipped and counted in ``skipped``. Every line must
    have 10 tab-separated fields, word ids must run 1, 2, 3, ... in each sentence, and UPOS tags must
    be among the 17 universal tags.
    """
    if tag_field not in _CONLLU_FIELDS:
        raise ValueError(f"tag_field must be one of {sorted(_CONLLU_FIELDS)}")
    col = _CONLLU_FIELDS[tag_field]
    path = Path(path)
    stem = path.stem
    examples: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    sent_id: str | None = None
    start_line = 0
    seen: set[str] = set()

    def flush(line_no: int) -> None:
        nonlocal tokens, tags, sent_id
        if tokens:
            ex_id = sent_id or f"{stem}-{start_line}"
            if ex_id in seen:
                raise DataFormatError(path, line_no, f"duplicate sentence id {ex_id!r}")
            seen.add(ex_id)
            examples.append({"id": ex_id, "tokens": tokens, "tags": tags})
        elif sent_id is not None:
            raise DataFormatError(path, line_no, f"sentence {sent_id!r} has no words")
        tokens, tags, sent_id = [], [], None

    lines = read_lines(path, encoding)
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            flush(line_no)
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep and key.strip() == "sent_id":
                sent_id = value.strip()
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataFormatError(path, line_no, f"{len(fields)} tab-separated fields, CoNLL-U has 10")
        wid = fields[0]
        if "-" in wid:
            _count(skipped, "multiword token line")
            continue
        if "." in wid:
            _count(skipped, "empty node line")
            continue
        if not wid.isdigit() or int(wid) != len(tokens) + 1:
            raise DataFormatError(path, line_no, f"word id {wid!r} where {len(tokens) + 1} was expected")
        tag = fields[col]
        if tag in ("", "_") or (tag_field == "upos" and tag not in UPOS_TAGS):
            raise DataFormatError(path, line_no, f"{tag_field} {tag!r} is not a valid tag")
        if not tokens:
            start_line = line_no
        tokens.append(fields[1])
        tags.append(tag)
    flush(len(lines) + 1)
    return require_examples(path, examples)


# --------------------------------------------------------------------------------------------
# the datasets of the shared data folder
# --------------------------------------------------------------------------------------------

_SUBJQA_SPLITS = {
    "books": ("dev", "test"),
    "electronics": ("train", "dev", "test"),
    "grocery": ("train", "dev", "test"),
    "movies": ("dev", "test"),
    "restaurants": ("train", "dev", "test"),
    "tripadvisor": ("train", "dev", "test"),
}

#: The files each loader reads, relative to the data folder.
EXPECTED_FILES: dict[str, list[str]] = {
    "squad": ["squad_v1.1/dev-v1.1.json"],
    "policyqa": ["policyqa/dev.json", "policyqa/test.json"],
    "subjqa": [f"subjqa/{d}/{s}.csv" for d, splits in _SUBJQA_SPLITS.items() for s in splits],
    "pubmedqa": ["pubmedqa/ori_pqal.json", "pubmedqa/test_ground_truth.json"],
    "sst2": ["sst2_glue/train.tsv", "sst2_glue/dev.tsv", "sst2_glue/test.tsv"],
    "cola": ["cola/in_domain_train.tsv", "cola/in_domain_dev.tsv", "cola/out_of_domain_dev.tsv"],
    "rte": ["rte/train.tsv", "rte/dev.tsv", "rte/test.tsv"],
    "mrpc": ["mrpc/msr_paraphrase_train.txt", "mrpc/msr_paraphrase_test.txt"],
    "stsb": ["stsb/sts-train.tsv", "stsb/sts-dev.tsv", "stsb/sts-test.tsv"],
    "qnli": ["qnli/dev.tsv"],
    "conll2000": ["conll2000/train.txt", "conll2000/test.txt"],
    "ud_pos": ["ud_en_ewt/en_ewt-ud-dev.conllu", "ud_en_ewt/en_ewt-ud-test.conllu"],
    "wnut17": ["wnut17/wnut17train.conll", "wnut17/emerging.dev.conll", "wnut17/emerging.test.annotated"],
}


def missing_files(data_dir: str | Path, name: str) -> list[Path]:
    """The files dataset ``name`` needs that are absent from ``data_dir`` (empty: it can be loaded)."""
    if name not in EXPECTED_FILES:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(EXPECTED_FILES)}")
    return [Path(data_dir) / rel for rel in EXPECTED_FILES[name] if not (Path(data_dir) / rel).is_file()]


def _files(data_dir: str | Path, name: str) -> dict[str, Path]:
    """Full paths of the dataset's files, keyed by relative path; FileNotFoundError if any is missing."""
    data_dir = Path(data_dir)
    missing = missing_files(data_dir, name)
    if missing:
        raise FileNotFoundError(
            f"{missing[0].resolve()}: file not found; dataset {name!r} expects it "
            f"(EXPECTED_FILES[{name!r}]; {len(missing)} of {len(EXPECTED_FILES[name])} files missing)"
        )
    return {rel: data_dir / rel for rel in EXPECTED_FILES[name]}


def load_squad(data_dir: Path) -> Task:
    """SQuAD v1.1 dev set (Wikipedia), the only SQuAD file here: one split ``all`` (10,570 questions,
    48 articles). Callers split it **by article** (``title``) so no passage is shared between
    training and evaluation."""
    f, repaired = _files(data_dir, "squad"), {}
    return Task(
        "squad", "qa", {"all": read_squad_json(f["squad_v1.1/dev-v1.1.json"], repaired=repaired)},
        description="Extract the span of a Wikipedia paragraph that answers a question.",
        domain="Wikipedia", repaired=repaired,
    )


def load_policyqa(data_dir: Path) -> Task:
    """PolicyQA (privacy policies, SQuAD layout). The train file is not here, so, as for UD, the
    dev file is the training split: ``train`` = ``dev.json`` (3,809), ``test`` = ``test.json``
    (4,152). The two share no policy (``title``)."""
    f, repaired = _files(data_dir, "policyqa"), {}
    return Task(
        "policyqa", "qa",
        {"train": read_squad_json(f["policyqa/dev.json"], repaired=repaired),
         "test": read_squad_json(f["policyqa/test.json"], repaired=repaired)},
        description="Extract the span of a website's privacy policy that answers a question about its data practices.",
        domain="privacy policies", repaired=repaired,
    )


def load_subjqa(data_dir: Path) -> Task:
    """SubjQA, the six domains concatenated: ``train`` = the train files of electronics, grocery,
    restaurants and tripadvisor (books and movies have none), ``validation`` = all six dev files,
    ``test`` = all six test files.

    One example per question (``q_review_id``), merging its annotation rows (see
    :func:`read_subjqa_csv`); about half the questions have no answer in their review
    (``answers`` empty). Note: most validation questions of the four train domains also occur,
    with the same review, in train (the original splits overlap).
    """
    f = _files(data_dir, "subjqa")
    skipped: dict[str, int] = {}
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    names = {"train": "train", "dev": "validation", "test": "test"}
    for rel, path in f.items():
        splits[names[path.stem]].extend(read_subjqa_csv(path, skipped=skipped))
    for name, rows in splits.items():
        _check_unique_ids(Path(data_dir) / "subjqa" / f"*/{name}", rows)
    return Task(
        "subjqa", "qa", splits,
        description="Extract the span of a review that answers a subjective question about the product "
                    "or service, or recognise that the review holds no answer.",
        domain="product reviews",
        skipped=skipped,
    )


def load_pubmedqa(data_dir: Path) -> Task:
    """PubMedQA PQA-L (1,000 expert-labelled questions): ``test`` = the 500 ids of
    ``test_ground_truth.json`` (whose answers must agree with ``ori_pqal.json``), ``train`` = the
    other 500. Text = question, text pair = the abstract without its conclusion."""
    f = _files(data_dir, "pubmedqa")
    pqal_path, gt_path = f["pubmedqa/ori_pqal.json"], f["pubmedqa/test_ground_truth.json"]
    examples = read_pubmedqa(pqal_path)
    truth = read_pubmedqa_ground_truth(gt_path)
    by_id = {ex["id"]: ex for ex in examples}
    for pmid, decision in truth.items():
        if pmid not in by_id:
            raise DataFormatError(gt_path, pmid, f"test id not found in {pqal_path.name}")
        if PUBMEDQA_LABELS[by_id[pmid]["label"]] != decision:
            raise DataFormatError(gt_path, pmid, f"ground truth {decision!r} disagrees with {pqal_path.name}")
    return Task(
        "pubmedqa", "classification",
        {"train": [ex for ex in examples if ex["id"] not in truth],
         "test": [ex for ex in examples if ex["id"] in truth]},
        label_names=list(PUBMEDQA_LABELS),
        description="Answer a biomedical research question with yes, no or maybe from the abstract that studies it.",
        domain="biomedical abstracts",
    )


def load_sst2(data_dir: Path) -> Task:
    """SST-2 (GLUE): ``train`` / ``validation`` = ``train.tsv`` / ``dev.tsv`` (a re-split of GLUE
    train), ``test`` = ``test.tsv`` (GLUE dev, labelled)."""
    f = _files(data_dir, "sst2")
    return Task(
        "sst2", "classification",
        {"train": read_sst2(f["sst2_glue/train.tsv"]), "validation": read_sst2(f["sst2_glue/dev.tsv"]),
         "test": read_sst2(f["sst2_glue/test.tsv"])},
        label_names=list(SST2_LABELS),
        description="Classify the sentiment of a movie-review sentence or phrase as negative or positive.",
        domain="movie reviews",
    )


def load_cola(data_dir: Path) -> Task:
    """CoLA public release: ``train`` = in-domain train (8,551), ``validation`` = in-domain dev
    (527), ``test`` = out-of-domain dev (516; the official test set is unlabelled and not here)."""
    f = _files(data_dir, "cola")
    return Task(
        "cola", "classification",
        {"train": read_cola(f["cola/in_domain_train.tsv"]), "validation": read_cola(f["cola/in_domain_dev.tsv"]),
         "test": read_cola(f["cola/out_of_domain_dev.tsv"])},
        label_names=list(COLA_LABELS),
        description="Judge whether an English sentence is grammatically acceptable.",
        domain="linguistics examples",
    )


def load_rte(data_dir: Path) -> Task:
    """RTE (GLUE): ``train`` / ``validation`` = ``train.tsv`` / ``dev.tsv``. GLUE's test file is
    unlabelled: it is read (to check it) but kept out of the splits, counted in ``skipped``."""
    f = _files(data_dir, "rte")
    test = read_rte(f["rte/test.tsv"])
    if any("label" in ex for ex in test):
        raise DataFormatError(f["rte/test.tsv"], 1, "expected the unlabelled GLUE test file")
    return Task(
        "rte", "classification",
        {"train": read_rte(f["rte/train.tsv"]), "validation": read_rte(f["rte/dev.tsv"])},
        label_names=list(NLI_LABELS),
        description="Decide whether a text entails a short hypothesis sentence.",
        domain="news",
        skipped={"unlabelled test example (rte/test.tsv)": len(test)},
    )


def load_mrpc(data_dir: Path) -> Task:
    """MRPC, original MSRP files: ``train`` (4,076 pairs) and ``test`` (1,725 pairs)."""
    f = _files(data_dir, "mrpc")
    return Task(
        "mrpc", "classification",
        {"train": read_mrpc(f["mrpc/msr_paraphrase_train.txt"]), "test": read_mrpc(f["mrpc/msr_paraphrase_test.txt"])},
        label_names=list(MRPC_LABELS),
        description="Decide whether two sentences from news articles are paraphrases of each other.",
        domain="news",
    )


def load_stsb(data_dir: Path) -> Task:
    """STS Benchmark (original files): ``train`` / ``validation`` / ``test`` = ``sts-train`` /
    ``sts-dev`` / ``sts-test`` (all scored 0-5)."""
    f = _files(data_dir, "stsb")
    return Task(
        "stsb", "regression",
        {"train": read_stsb(f["stsb/sts-train.tsv"]), "validation": read_stsb(f["stsb/sts-dev.tsv"]),
         "test": read_stsb(f["stsb/sts-test.tsv"])},
        description="Rate how similar in meaning two sentences are, from 0 (unrelated) to 5 (equivalent).",
        domain="news, image captions and forums",
    )


def load_qnli(data_dir: Path) -> Task:
    """QNLI, GLUE dev only: one split ``all`` (5,463) that callers divide into training and evaluation."""
    f = _files(data_dir, "qnli")
    return Task(
        "qnli", "classification", {"all": read_qnli(f["qnli/dev.tsv"])},
        label_names=list(NLI_LABELS),
        description="Decide whether a Wikipedia sentence contains the answer to a question.",
        domain="Wikipedia",
    )


def load_conll2000(data_dir: Path) -> Task:
    """CoNLL-2000 chunking (WSJ): ``train`` (8,936 sentences) and ``test`` (2,012); tags are the
    IOB chunk tags (third column); ``label_names`` are all tags of both files, ``O`` first."""
    f = _files(data_dir, "conll2000")
    skipped: dict[str, int] = {}
    raw = {s: read_conll_columns(f[f"conll2000/{s}.txt"], 0, 2, skipped=skipped) for s in ("train", "test")}
    names = ordered_tags(*raw.values())
    return Task(
        "conll2000", "tagging", {s: _encode_tags(rows, names, f"conll2000/{s}.txt") for s, rows in raw.items()},
        label_names=names,
        description="Divide a sentence into non-overlapping syntactic chunks by tagging each word (IOB).",
        domain="news",
        skipped=skipped,
    )


def load_ud_pos(data_dir: Path) -> Task:
    """UD English-EWT, UPOS tags. The train file is not here: ``train`` = the dev file (2,001
    sentences), ``test`` = the test file (2,077). ``label_names`` = the 17 universal tags."""
    f = _files(data_dir, "ud_pos")
    skipped: dict[str, int] = {}
    splits = {}
    for split, rel in (("train", "ud_en_ewt/en_ewt-ud-dev.conllu"), ("test", "ud_en_ewt/en_ewt-ud-test.conllu")):
        splits[split] = _encode_tags(read_conllu(f[rel], "upos", skipped=skipped), UPOS_TAGS, rel)
    return Task(
        "ud_pos", "tagging", splits, label_names=list(UPOS_TAGS),
        description="Tag each word of a sentence with its universal part of speech.",
        domain="web text",
        skipped=skipped,
    )


def load_wnut17(data_dir: Path) -> Task:
    """WNUT-17 emerging entities: ``train`` / ``validation`` / ``test`` = ``wnut17train.conll`` /
    ``emerging.dev.conll`` / ``emerging.test.annotated``; BIO tags over six entity types."""
    f = _files(data_dir, "wnut17")
    skipped: dict[str, int] = {}
    rels = {"train": "wnut17/wnut17train.conll", "validation": "wnut17/emerging.dev.conll",
            "test": "wnut17/emerging.test.annotated"}
    raw = {s: read_conll_columns(f[rel], 0, 1, skipped=skipped) for s, rel in rels.items()}
    names = ordered_tags(*raw.values())
    return Task(
        "wnut17", "tagging", {s: _encode_tags(rows, names, rels[s]) for s, rows in raw.items()},
        label_names=names,
        description="Tag emerging and rare named entities (people, places, groups, companies, products, "
                    "creative works) in user-generated text.",
        domain="social media",
        skipped=skipped,
    )


LOCAL_LOADERS: dict[str, Callable[[Path], Task]] = {
    "squad": load_squad,
    "policyqa": load_policyqa,
    "subjqa": load_subjqa,
    "pubmedqa": load_pubmedqa,
    "sst2": load_sst2,
    "cola": load_cola,
    "rte": load_rte,
    "mrpc": load_mrpc,
    "stsb": load_stsb,
    "qnli": load_qnli,
    "conll2000": load_conll2000,
    "ud_pos": load_ud_pos,
    "wnut17": load_wnut17,
}
