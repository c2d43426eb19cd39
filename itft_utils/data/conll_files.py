"""Readers of sequence-labelling files: CoNLL columns (CoNLL-2000, WNUT-17) and CoNLL-U (UD)."""
from __future__ import annotations

from pathlib import Path

from itft_utils.data.errors import DataFormatError
from itft_utils.data.records import _count
from itft_utils.data.textio import read_lines, require_examples

#: The 17 universal part-of-speech tags of Universal Dependencies v2, in the UD documentation's order.
UPOS_TAGS = [
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
    "PUNCT", "SCONJ", "SYM", "VERB", "X",
]

BOM = "\ufeff"  # a byte-order mark left at the start of a line (files concatenated after decoding)


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
