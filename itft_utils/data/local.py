"""Loaders for the real datasets in their original public formats (standard library only).

Two layers:

* **Readers** (``read_*``, in :mod:`~itft_utils.data.qa_files`, :mod:`~itft_utils.data.tsv_files` and
  :mod:`~itft_utils.data.conll_files`, importable from here) parse one file of one public format into a list of example dicts (the
  schemas of :mod:`itft_utils.data.task`). They check what they read and raise
  :class:`~itft_utils.data.errors.DataFormatError` naming the file, the record (a line number or an
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

from collections.abc import Callable
from pathlib import Path

from itft_utils.data.conll_files import UPOS_TAGS, read_conll_columns, read_conllu
from itft_utils.data.errors import DataFormatError
from itft_utils.data.qa_files import read_squad_json, read_subjqa_csv
from itft_utils.data.records import _check_unique_ids, _encode_tags, ordered_tags
from itft_utils.data.task import Task
from itft_utils.data.tsv_files import (
    COLA_LABELS,
    MRPC_LABELS,
    NLI_LABELS,
    PUBMEDQA_LABELS,
    SST2_LABELS,
    read_cola,
    read_glue_tsv,
    read_mrpc,
    read_pubmedqa,
    read_pubmedqa_ground_truth,
    read_qnli,
    read_rte,
    read_sst2,
    read_stsb,
)

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
    "load_squad", "load_policyqa", "load_subjqa", "load_pubmedqa", "load_sst2", "load_cola", "load_rte",
    "load_mrpc", "load_stsb", "load_qnli", "load_conll2000", "load_ud_pos", "load_wnut17",
]


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
    f, repaired = _files(data_dir, "squad"), dict[str, int]()
    return Task(
        "squad", "qa", {"all": read_squad_json(f["squad_v1.1/dev-v1.1.json"], repaired=repaired)},
        description="Extract the span of a Wikipedia paragraph that answers a question.",
        domain="Wikipedia", repaired=repaired,
    )


def load_policyqa(data_dir: Path) -> Task:
    """PolicyQA (privacy policies, SQuAD layout). The train file is not here, so, as for UD, the
    dev file is the training split: ``train`` = ``dev.json`` (3,809), ``test`` = ``test.json``
    (4,152). The two share no policy (``title``)."""
    f, repaired = _files(data_dir, "policyqa"), dict[str, int]()
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
    for path in f.values():
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
