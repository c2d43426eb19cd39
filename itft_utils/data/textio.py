"""Data files as text: encodings, byte-order marks, empty files and broken JSON, each reported as a
:class:`~itft_utils.data.task.DataFormatError` that names the file and the place.

Real files arrive in latin-1 line formats, as UTF-16 copies from spreadsheet programs, empty or cut
short by a failed download. A raw ``UnicodeDecodeError`` names neither file nor line; these helpers
do, and say what to pass (``encoding=``) when the file is fine but not UTF-8.
"""
from __future__ import annotations

import codecs
import json
from pathlib import Path

from itft_utils.data.task import DataFormatError

#: A byte-order mark decides the encoding whatever the caller said (UTF-32's before UTF-16's:
#: the UTF-32-LE mark starts with the UTF-16-LE one).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole file as text; raises DataFormatError for an undecodable byte (with its line and
    offset) or a file with nothing but whitespace."""
    raw = Path(path).read_bytes()
    for bom, bom_encoding in BOMS:
        if raw.startswith(bom):
            encoding = bom_encoding
            break
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


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The file's lines without line ends (``\\r\\n`` accepted); a final newline adds no empty line.

    Splits on ``\\n`` only (``str.splitlines`` would also split on characters such as U+2028 that
    can occur inside a text field).
    """
    lines = read_text(path, encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


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
