"""Helpers the readers and loaders of :mod:`itft_utils.data.local` share: skip counts, unique ids,
tag names in a fixed order, tags as indices."""
from __future__ import annotations

from pathlib import Path

from itft_utils.data.errors import DataFormatError

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
