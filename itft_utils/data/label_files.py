"""Readers for text corpora of one example per line: ``LABEL text`` lines (TREC, GLUE-style dumps)
and one file per class (MR, CR, SUBJ, MPQA).

An instructor's file is never mislabelled silently: a reader refuses a line it would have to guess
about, naming the file and the line (a tab inside a label, a label outside the declared set, a file
that looks unlabelled).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from itft_utils.data.errors import DataFormatError
from itft_utils.data.records import _count
from itft_utils.data.textio import read_lines, require_examples

LINE_FORMATS = ("first", "colon", "tab")
#: More distinct labels than this in one file, with no declared ``labels``, is taken for unlabelled
#: text (TREC's 50 fine classes fit; a corpus of sentences has thousands of distinct first words).
MAX_CLASSES = 100
#: From this many examples on, a file where more than a quarter of the lines have a label of their
#: own is taken for unlabelled text too: real classes repeat, first words of sentences mostly do not.
SINGLETON_MIN_LINES = 20


def read_label_lines(path: str | Path, fmt: str = "first", fine: bool = False, encoding: str = "utf-8",
                     skipped: dict[str, int] | None = None, *, labels: Sequence[str] | None = None,
                     max_classes: int | None = MAX_CLASSES) -> list[dict]:
    """One example per line, the label first: ``LABEL text...`` (``fmt="first"``), ``LABEL<TAB>text``
    (``fmt="tab"``), or TREC's ``COARSE:fine text...`` (``fmt="colon"``; the coarse label, or
    ``COARSE:fine`` with ``fine=True``). Ids are ``f"{file name}-{line}"`` (``TREC.train-1``), so that
    two splits' files give different ids.

    Labels stay strings (``register_task`` maps them to indices); blank lines are counted in
    ``skipped``. DataFormatError, naming the file and the line, for a line without a text, a label
    with a tab in it (a tab-separated file read with ``fmt="first"``: pass ``fmt="tab"``), and a
    label outside ``labels`` when the labels are declared.

    Without ``labels`` the reader cannot tell a label from the first word of an unlabelled sentence
    (the MR, CR, SUBJ and MPQA corpora keep one class per file), so it refuses a file that looks
    unlabelled: more than ``max_classes`` distinct labels, or, from ``SINGLETON_MIN_LINES`` examples
    on, more than a quarter of the lines with a label seen on no other line. Declaring ``labels``
    (or ``max_classes=None``) turns this guess off; ``read_class_files`` reads one file per class.
    """
    if fmt not in LINE_FORMATS:
        raise ValueError(f"unknown line format {fmt!r}; choose one of {LINE_FORMATS}")
    path = Path(path)
    declared = set(labels) if labels is not None else None
    examples: list[dict] = []
    first_line: dict[str, int] = {}  # label -> the line it first occurs on
    for line_no, line in enumerate(read_lines(path, encoding), start=1):
        if not line.strip():
            _count(skipped, "blank line")
            continue
        if fmt == "tab":
            label, tab, text = line.partition("\t")
            if not tab:
                raise DataFormatError(path, line_no, "no tab between label and text (fmt='tab'); for 'LABEL text' "
                                      "lines pass fmt='first'")
            if "\t" in text:
                raise DataFormatError(path, line_no, "more than two tab-separated fields; read a file of several "
                                      "columns with read_glue_tsv")
            label = label.strip()
        else:
            label, _, text = line.strip().partition(" ")
            if "\t" in label:
                raise DataFormatError(path, line_no, f"label {label!r} contains a tab: the file is tab-separated, "
                                      "pass fmt='tab'")
        if fmt == "colon":
            coarse, colon, fine_label = label.partition(":")
            if not colon or not coarse or not fine_label:
                raise DataFormatError(path, line_no, f"label {label!r} is not of the form COARSE:fine")
            label = label if fine else coarse
        if not label:
            raise DataFormatError(path, line_no, "empty label")
        if not text.strip():
            raise DataFormatError(path, line_no, f"label {label!r} without a text")
        if declared is not None and label not in declared:
            raise DataFormatError(path, line_no, f"label {label!r} is not among the declared labels {sorted(declared)}")
        first_line.setdefault(label, line_no)
        examples.append({"id": f"{path.name}-{line_no}", "text": text.strip(), "label": label})
    if declared is None and max_classes is not None:
        _refuse_unlabelled_text(path, Counter(ex["label"] for ex in examples), first_line, max_classes)
    return require_examples(path, examples)


def _refuse_unlabelled_text(path: Path, counts: Counter, first_line: dict[str, int], max_classes: int) -> None:
    """DataFormatError when the "labels" of a file look like the first words of unlabelled sentences."""
    n, once = sum(counts.values()), [label for label, c in counts.items() if c == 1]
    if len(counts) <= max_classes and not (n >= SINGLETON_MIN_LINES and len(once) > n / 4):
        return
    shown = ", ".join(f"{label!r} (line {first_line[label]})" for label in once[:3]) or \
        ", ".join(repr(label) for label, _ in counts.most_common(3))
    raise DataFormatError(path, None, f"{len(counts)} distinct labels in {n} lines, {len(once)} of them on one line only "
                          f"({shown}): this looks like unlabelled text, one sentence per line. For a corpus with one file "
                          "per class (MR, CR, SUBJ, MPQA) use read_class_files({label: file}); if these are real labels, "
                          "declare them with labels=[...] (or pass max_classes=None)")


def _distinct_tags(paths: list[Path]) -> list[str]:
    """The shortest trailing parts of the paths that tell them apart: file names when they differ
    (``rt-polarity.pos``), else ``pos/reviews.txt``."""
    for k in range(1, max(len(p.parts) for p in paths) + 1):
        tags = ["/".join(p.parts[-k:]) for p in paths]
        if len(set(tags)) == len(tags):
            return tags
    return [str(p) for p in paths]


def read_class_files(files: Mapping[str, str | Path], encoding: str = "utf-8",
                     skipped: dict[str, int] | None = None) -> list[dict]:
    """One file per class, one example per line (MR's ``rt-polarity.pos``/``.neg``, CR, SUBJ, MPQA):
    ``{label: file}`` -> classification examples ``{id, text, label}`` with the label as given.

    The whole line is the text (these corpora have no label column, and :func:`read_label_lines`
    would take each first word for a class). Ids are ``f"{file name}-{line}"``, with the file's
    folder when two files share a name. Blank lines are counted in ``skipped``; a file without
    examples, or one file given for two labels, raises DataFormatError naming it.
    """
    if not isinstance(files, Mapping) or not files:
        raise TypeError(f"read_class_files takes {{label: file}} with at least one class; got {files!r}")
    paths = {label: Path(file) for label, file in files.items()}
    seen: dict[Path, str] = {}
    for label, path in paths.items():
        if not isinstance(label, str) or not label:
            raise TypeError(f"{path}: class label {label!r} is not a non-empty string")
        if path.resolve() in seen:
            raise DataFormatError(path, None, f"the same file is given for labels {seen[path.resolve()]!r} and {label!r}")
        seen[path.resolve()] = label
    examples = []
    for (label, path), tag in zip(paths.items(), _distinct_tags(list(paths.values()))):
        rows = []
        for line_no, line in enumerate(read_lines(path, encoding), start=1):
            if not line.strip():
                _count(skipped, "blank line")
                continue
            rows.append({"id": f"{tag}-{line_no}", "text": line.strip(), "label": label})
        examples.extend(require_examples(path, rows))
    return examples
