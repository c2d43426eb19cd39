"""Features for every task type and batching with dynamic padding."""
from __future__ import annotations

import torch

from itft_utils import encoding
from itft_utils.data import generate_task
from itft_utils.qa import QASettings


def test_tagging_labels_go_on_first_subwords(tiny_tokenizer):
    ex = {"id": "1", "tokens": ["anna", "xq", "lives"], "tags": [1, 0, 0]}
    f = encoding.encode_tagging([ex], tiny_tokenizer, max_length=32)
    tokens = tiny_tokenizer.convert_ids_to_tokens(f["input_ids"][0])
    assert tokens == ["[CLS]", "anna", "x", "##q", "lives", "[SEP]"]
    assert f["labels"][0] == [-100, 1, 0, -100, 0, -100]


def test_classification_pairs_use_segment_ids(tiny_tokenizer):
    task = generate_task("gen_pair", sizes={"train": 3})
    f = encoding.encode("classification", task.split("train"), tiny_tokenizer, QASettings(64, 16))
    assert set(f["token_type_ids"][0]) == {0, 1}
    assert f["labels"] == [ex["label"] for ex in task.split("train")]


def test_collate_pads_dynamically_or_to_a_fixed_length():
    features = {"input_ids": [[2, 5, 3], [2, 5, 6, 7, 3]], "attention_mask": [[1] * 3, [1] * 5], "labels": [[0, 1, 0], [0, 1, 1, 1, 0]]}
    batch = encoding.collate(features, [0, 1], pad_token_id=0, pad_to_multiple_of=1)
    assert batch["input_ids"].shape == (2, 5)
    assert batch["input_ids"][0].tolist() == [2, 5, 3, 0, 0]
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert batch["labels"][0].tolist() == [0, 1, 0, -100, -100]
    assert encoding.collate(features, [0], 0, pad_to_multiple_of=1)["input_ids"].shape == (1, 3)
    assert encoding.collate(features, [0, 1], 0)["input_ids"].shape == (2, 8)  # rounded up to a multiple of 8
    assert encoding.collate(features, [0], 0, pad_to=8)["input_ids"].shape == (1, 8)
    regression = encoding.collate({"input_ids": [[1], [1]], "labels": [0.5, 2.0]}, [0, 1], 0)
    assert regression["labels"].dtype == torch.float32


def test_length_grouped_batches_cover_everything_once_and_reduce_padding():
    lengths = [(i * 37) % 100 + 1 for i in range(500)]
    batches = encoding.length_grouped_batches(lengths, 16, seed=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    assert batches == encoding.length_grouped_batches(lengths, 16, seed=0)
    assert batches != encoding.length_grouped_batches(lengths, 16, seed=1)

    def padding(bs):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    assert padding(batches) < 0.2 * padding(encoding.shuffled_batches(500, 16, seed=0))


def test_padding_bounded_batches_cover_every_feature_once_and_bound_the_padding():
    from itft_utils.encoding import padding_bounded_batches

    lengths = [5, 40, 41, 42, 39, 80, 6, 44, 43, 100, 7, 38]
    features = {"input_ids": [[1] * n for n in lengths]}
    batches = padding_bounded_batches(features, batch_size=3, max_padding=0.05)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3
        longest = max(lengths[i] for i in batch)
        assert 1 - sum(lengths[i] for i in batch) / (longest * len(batch)) <= 0.05
    assert [len(b) for b in padding_bounded_batches(features, 3, max_padding=1.0)] == [3, 3, 3, 3]  # no bound: full batches
