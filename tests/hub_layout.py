"""The hub's repositories as local folders, laid out from the committed listings (``hub_listings/``):
one hand-written row in each repository's schema, in every Parquet file the listing names. Used by
``test_hub.py`` and by ``scripts/check_colab_like.sh`` (Colab's datasets release, no pytest there):

    python tests/hub_layout.py WORK_DIR     # every hub dataset, every layout its listing records
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import datasets
from datasets import ClassLabel, Features, Sequence, Value

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from itft_utils.data.hub import HUB_TASKS, load_hub_task  # noqa: E402
from itft_utils.data.task import Task  # noqa: E402

_QA = Features({"id": Value("string"), "title": Value("string"), "context": Value("string"), "question": Value("string"),
                "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")})})
_SPAN = {"start": Value("int32"), "end": Value("int32")}
_MRQA = Features({"subset": Value("string"), "context": Value("string"), "qid": Value("string"), "question": Value("string"),
                  "detected_answers": Sequence({"text": Value("string"), "char_spans": Sequence(_SPAN),
                                                "token_spans": Sequence(_SPAN)}),
                  "answers": Sequence(Value("string"))})


def _glue(*columns: str, labels: list[str] | None = None) -> Features:
    label = Value("float32") if labels is None else ClassLabel(names=labels)
    return Features({**{c: Value("string") for c in columns}, "label": label, "idx": Value("int32")})


def tags_features(field: str, names: list[str]) -> Features:
    extra = {"pos_tags": Sequence(ClassLabel(names=["NN", "VB"]))} if field == "chunk_tags" else {}
    return Features({"id": Value("string"), "tokens": Sequence(Value("string")), **extra,
                     field: Sequence(ClassLabel(names=names))})


CONTEXT = "Anna lives in Paris."
#: Each repository's features as its dataset card declares them, and one row in that schema.
SCHEMAS = {
    "squad": (_QA, {"id": "q1", "title": "T", "context": CONTEXT, "question": "Where?",
                    "answers": {"text": ["Paris"], "answer_start": [14]}}),
    "hotpotqa": (_MRQA, {"subset": "HotpotQA", "context": CONTEXT, "qid": "h1", "question": "Where?",
                         "detected_answers": {"text": ["Paris"], "char_spans": [{"start": [14], "end": [18]}],
                                              "token_spans": [{"start": [3], "end": [3]}]}, "answers": ["Paris"]}),
    "sst2": (_glue("sentence", labels=["negative", "positive"]), {"sentence": "fine film", "label": 1, "idx": 0}),
    "cola": (_glue("sentence", labels=["unacceptable", "acceptable"]), {"sentence": "him saw", "label": 0, "idx": 0}),
    "rte": (_glue("sentence1", "sentence2", labels=["entailment", "not_entailment"]),
            {"sentence1": "a", "sentence2": "b", "label": 1, "idx": 0}),
    "mrpc": (_glue("sentence1", "sentence2", labels=["not_equivalent", "equivalent"]),
             {"sentence1": "a", "sentence2": "b", "label": 1, "idx": 0}),
    "stsb": (_glue("sentence1", "sentence2"), {"sentence1": "a", "sentence2": "b", "label": 3.5, "idx": 0}),
    "qnli": (_glue("question", "sentence", labels=["entailment", "not_entailment"]),
             {"question": "a?", "sentence": "b", "label": 0, "idx": 0}),
    "conll2000": (tags_features("chunk_tags", HUB_TASKS["conll2000"].label_names or []),
                  {"id": "0", "tokens": ["He", "reckons"], "pos_tags": [0, 1], "chunk_tags": [11, 21]}),
    "wnut17": (tags_features("ner_tags", HUB_TASKS["wnut17"].label_names or []),
               {"id": "0", "tokens": ["@paris", "rocks"], "ner_tags": [7, 0]}),
}


LISTINGS = Path(__file__).resolve().parent / "hub_listings"
SPLITS = ("train", "validation", "test")


def listing(repo: str) -> dict:
    """A repository's files as read from the hub's pages (where, when and how sure: in the file)."""
    return json.loads((LISTINGS / f"{repo.replace('/', '__')}.json").read_text(encoding="utf-8"))


def layouts(name: str) -> list[list[str]]:
    """The file layouts the listing gives for the spec's revision: the one it reports (confirmed files
    and the unconfirmed ones it expects), then each alternative the loader must also accept."""
    revision = listing(HUB_TASKS[name].path)["revisions"][HUB_TASKS[name].revision]
    return [revision["files"] + revision.get("unconfirmed_files", []), *revision.get("alternatives", [])]


def split_of(path: str) -> str | None:
    parts = re.split(r"[/-]", path.removesuffix(".parquet"))
    return next((split for split in SPLITS if split in parts), None)


def hub_like_folder(root: Path, name: str, files: list[str]) -> Path:
    """The spec's repository as a local folder: its schema row written into every Parquet file of the
    listing (of the spec's config), with a card mapping the config to them as the repository's does."""
    spec = HUB_TASKS[name]
    features, row = SCHEMAS[name]
    folder = root / spec.path
    parquet = [f for f in files if f.endswith(".parquet") and (spec.config is None or f.startswith(f"{spec.config}/"))]
    for rel in parquet:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list([row], features=features).to_parquet(str(folder / rel))
    if spec.config:  # how nyu-mll/glue's card names its configs
        card = ["---", "configs:", f"- config_name: {spec.config}", "  data_files:"]
        for split in SPLITS:
            card += [f"  - split: {split}", f"    path: {[f for f in parquet if split_of(f) == split]}"] if any(
                split_of(f) == split for f in parquet) else []
        (folder / "README.md").write_text("\n".join(card + ["---", ""]), encoding="utf-8")
    return folder


def load_from_folder(folder: Path, calls: list | None = None):
    """A stand-in for ``datasets.load_dataset`` that reads the local folder as the hub would serve it."""
    def load(path, config, split, data_files=None, revision="main"):
        if calls is not None:
            calls.append((path, revision))
        if config:  # the repository's card maps the config to its files
            return datasets.load_dataset(str(folder), config, split=split)
        # no config, no pattern: datasets finds the splits in the file names, as the hub does
        return datasets.load_dataset(str(folder), split=split, data_files=data_files)

    return load


def load_layout(root: Path, name: str, layout: int, calls: list | None = None) -> Task:
    """Task ``name`` through its spec and converter, from a folder laid out as its listing's ``layout``."""
    return load_hub_task(name, load_from_folder(hub_like_folder(root, name, layouts(name)[layout]), calls))


def main(root: Path) -> None:
    datasets.disable_progress_bars()
    for name in sorted(HUB_TASKS):
        config = HUB_TASKS[name].config
        for layout, files in enumerate(layouts(name)):
            task = load_layout(root / f"{name}-{layout}", name, layout)
            mine = [f for f in files if f.endswith(".parquet") and (config is None or f.startswith(f"{config}/"))]
            print(f"{name}: {HUB_TASKS[name].path} laid out as {mine[:3]}{' ...' if len(mine) > 3 else ''}: "
                  f"loads, splits {sorted(task.splits)}")
    print(f"every hub dataset loads from every layout of its listing with datasets {datasets.__version__}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
