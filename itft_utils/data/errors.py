"""The one error for malformed input, shared by every reader: it names the file, the record and the problem."""
from __future__ import annotations

import os


class DataFormatError(ValueError):
    """Raised for malformed input; the message names the file, the record and the problem."""

    def __init__(self, source: str | os.PathLike, record: str | int | None, problem: str):
        self.source, self.record, self.problem = str(source), record, problem
        where = f"{source}" if record is None else f"{source}, record {record}"
        super().__init__(f"{where}: {problem}")
