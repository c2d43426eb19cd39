"""Readers of tab-separated classification and regression files (GLUE's formats) and PubMedQA's JSON."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from itft_utils.data.errors import DataFormatError
from itft_utils.data.textio import load_json, read_lines, require_examples

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
                    label = label_map(raw)
                except (ValueError, TypeError):
                    raise DataFormatError(path, line_no, f"label {raw!r} cannot be parsed") from None
                if isinstance(label, float) and not math.isfinite(label):
                    raise DataFormatError(path, line_no, f"label {raw!r} is not a finite number")
                ex["label"] = label
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
