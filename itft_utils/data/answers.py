"""Extractive-QA gold answers made exact before any tokenizer sees them.

Real SQuAD-format sets carry answers with surrounding whitespace (whose token span then takes in a
neighbouring token) and ``answer_start`` values a few characters off. Every QA path (local files,
the hub, generated and registered tasks) runs :func:`align_answers`, which

* strips whitespace around an answer and moves its start by what was stripped;
* moves a start that does not index its answer to the nearest occurrence of the answer within
  ``window`` characters (the documented repair), and
* counts both in the task's ``repaired`` (reason -> count), or, for answers that occur nowhere near
  their start, raises one :class:`~itft_utils.data.errors.DataFormatError` that lists *all* of them.
"""
from __future__ import annotations

from itft_utils.data.errors import DataFormatError

#: Characters either side of ``answer_start`` searched for a misplaced answer.
ALIGN_WINDOW = 20
STRIPPED = "whitespace stripped around an answer"
MOVED = f"answer_start moved to the answer's nearest occurrence (within {ALIGN_WINDOW} characters)"


def _nearest(context: str, text: str, start: int, window: int) -> int | None:
    best = None
    pos = context.find(text, max(0, start - window))
    while pos != -1 and pos <= start + window:
        if best is None or abs(pos - start) < abs(best - start):
            best = pos
        pos = context.find(text, pos + 1)
    return best


def align_answers(examples: list[dict], source: str, repaired: dict[str, int] | None = None,
                  window: int = ALIGN_WINDOW) -> list[dict]:
    """Make every answer of ``examples`` index its context exactly (in place); returns ``examples``.

    Raises DataFormatError naming ``source``, the first bad record and every bad answer.
    """
    bad: list[str] = []

    def count(reason: str) -> None:
        if repaired is not None:
            repaired[reason] = repaired.get(reason, 0) + 1

    for ex in examples:
        context, answers = ex["context"], ex["answers"]
        texts, starts = [], []
        for text, start in zip(answers["text"], answers["answer_start"]):
            answer = text.strip()
            if not answer:
                bad.append(f"{ex['id']}: the answer is only whitespace")
                continue
            if answer != text:
                start += len(text) - len(text.lstrip())
                count(STRIPPED)
            if context[start:start + len(answer)] != answer:
                moved = _nearest(context, answer, start, window)
                if moved is None:
                    bad.append(f"{ex['id']}: {answer[:40]!r} occurs nowhere within {window} characters of answer_start {start}")
                    continue
                start = moved
                count(MOVED)
            texts.append(answer)
            starts.append(start)
        answers["text"], answers["answer_start"] = texts, starts
    if bad:
        shown = "; ".join(bad[:20]) + (f"; and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise DataFormatError(source, bad[0].split(":", 1)[0], f"{len(bad)} answer(s) cannot be placed in their context: {shown}")
    return examples
