"""Data files as text: encodings, byte-order marks, empty files and broken JSON, each reported as a
:class:`~itft_utils.data.errors.DataFormatError` that names the file and the place.

Real files arrive in latin-1 line formats, as UTF-16 copies from spreadsheet programs, empty or cut
short by a failed download. A raw ``UnicodeDecodeError`` names neither file nor line; these helpers
do, and say what to pass (``encoding=``) when the file is fine but not UTF-8.
"""
from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

from itft_utils.data.errors import DataFormatError

#: A byte-order mark decides the encoding whatever the caller said (UTF-32's before UTF-16's:
#: the UTF-32-LE mark starts with the UTF-16-LE one).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole file as text; raises DataFormatError for an undecodable byte (with its line and
    offset), for UTF-16 or UTF-32 without a byte-order mark, or for a file with nothing but whitespace."""
    raw = Path(path).read_bytes()
    for bom, bom_encoding in BOMS:
        if raw.startswith(bom):
            encoding = bom_encoding
            break
    else:
        _refuse_wide_text_without_bom(path, raw, encoding)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataFormatError(path, f"line {line}", f"byte offset {e.start} ({raw[e.start:e.start + 1]!r}) cannot be decoded "
                              f"as {encoding}; if the file uses another encoding, pass encoding= "
                              "(for example 'latin-1')") from None
    if not text.strip():
        raise DataFormatError(path, None, "empty file")
    return text


#: How much of a file :func:`_refuse_wide_text_without_bom` looks at, and the share of NUL bytes
#: at one parity that marks UTF-16: English text in UTF-16 has a NUL in every other byte (100%);
#: a latin-1 or UTF-8 text file has none, and a binary file has them at both parities.
SNIFF_BYTES, WIDE_NUL_SHARE = 4096, 0.3


def _refuse_wide_text_without_bom(path: str | Path, raw: bytes, encoding: str) -> None:
    """Raise when ``raw`` is UTF-16 or UTF-32 text without a byte-order mark read as a one-byte
    encoding: it decodes without an error (NUL is a valid character), and every label and word
    then carries NULs, which no later check notices."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return  # the caller named the width (and the byte order, or Python's default for it)
    sample = raw[:SNIFF_BYTES]
    half = max(len(sample) // 2, 1)
    even, odd = sample[0::2].count(0) / half, sample[1::2].count(0) / half
    if max(even, odd) < WIDE_NUL_SHARE:
        return
    if min(even, odd) >= WIDE_NUL_SHARE:
        width, guess, other = "UTF-32", "utf-32-le", "utf-32-be"
    elif odd > even:  # little-endian: an ASCII character's byte first, then its NUL
        width, guess, other = "UTF-16", "utf-16-le", "utf-16-be"
    else:
        width, guess, other = "UTF-16", "utf-16-be", "utf-16-le"
    parity = "odd" if odd > even else "even"
    raise DataFormatError(path, None, f"{max(even, odd):.0%} of the bytes at {parity} offsets are NUL when read as {encoding}: "
                          f"the file looks like {width} text without a byte-order mark; pass encoding={guess!r} "
                          f"(or {other!r})")


#: Line ends: Windows', Unix' and the classic Mac's lone CR, as Python's universal newlines read them.
LINE_END = re.compile(r"\r\n|\r|\n")


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The file's lines without line ends; a final line end adds no empty line.

    ``\\r\\n``, ``\\n`` and a lone ``\\r`` (old Mac and some spreadsheet exports) each end a line, as in
    Python's universal newlines: splitting on ``\\n`` alone read a CR-only file as one line. Not
    ``str.splitlines``: it also splits on characters such as U+2028 or form feed that can occur
    inside a text field.
    """
    lines = LINE_END.split(read_text(path, encoding))
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def load_json(path: str | Path, encoding: str = "utf-8"):
    """A JSON document; a syntax error names its line and column, and says so when the file ends early."""
    text = read_text(path, encoding)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        body = text.strip()
        ended = body[:1] in "{[" and body[-1:] == {"{": "}", "[": "]"}.get(body[:1])
        cut = "" if ended else " (the file does not end where its first bracket closes: truncated?)"
        raise DataFormatError(path, f"line {e.lineno}, column {e.colno}", f"not valid JSON: {e.msg}{cut}") from None


def require_examples(path: str | Path, examples: list) -> list:
    """``examples``, or a DataFormatError when a file held none (a header alone, an empty list)."""
    if not examples:
        raise DataFormatError(path, None, "the file holds no examples")
    return examples
