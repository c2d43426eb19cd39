"""The ``itft`` command end to end on the tiny model, and a MiniLM smoke test (offline, few steps)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from itft_utils.cli import main
from itft_utils.qa import QASettings


def test_demo_writes_metrics_and_a_figure(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--model", "tiny", "--n-train", "64", "--n-eval", "16", "--epochs", "1",
                 "--lr", "3e-3", "--max-length", "96", "--doc-stride", "32", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "gen_qa" and 0 <= metrics["f1"] <= 100
    assert (out / "training_curve.png").stat().st_size > 10_000
    assert "EM" in capsys.readouterr().out


def test_tasks_command_lists_names(capsys):
    assert main(["tasks"]) == 0
    assert "gen_qa" in capsys.readouterr().out.split()


@pytest.mark.slow
def test_minilm_loads_offline_and_takes_training_steps(minilm_tokenizer):
    from itft_utils.data import generate_task
    from itft_utils.encoding import encode
    from itft_utils.models import build_model
    from itft_utils.training import TrainConfig, train

    model = build_model("minilm", "qa")
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    task = generate_task("gen_qa", sizes={"train": 8})
    features = encode("qa", task.split("train"), minilm_tokenizer, QASettings(128, 32))
    before = model.qa_outputs.weight.detach().clone()
    history = train(model, features, TrainConfig(batch_size=4, epochs=1, progress=False), minilm_tokenizer.pad_token_id)
    assert len(history.steps) == 2
    assert all(torch.isfinite(torch.tensor(s["loss"])) for s in history.steps)
    assert not torch.equal(before, model.qa_outputs.weight)


def test_instructor_commands_name_the_extra_they_need(monkeypatch):
    monkeypatch.setitem(sys.modules, "itft_grader.grading.pipeline", None)  # as if the grader extra were missing
    with pytest.raises(SystemExit, match=r"grader extra .*pip install 'itft-utils\[grader\]'"):
        main(["grade", "x.zip", "--assignment", "hw1_mtl", "--out", "out"])


def test_instructor_commands_find_the_course_folder(tmp_path, monkeypatch, capsys):
    pytest.importorskip("nbgrader", reason="instructor commands need the grader extra")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ITFT_COURSE_DIR", raising=False)
    assert main(["release", "--check"]) == 2
    assert "has no solutions/ folder" in capsys.readouterr().err
    checkout = Path(__file__).resolve().parents[1]
    assert main(["release", "--check", "--course-dir", str(checkout)]) == 0  # an installed build, pointed at a course
    assert "up to date" in capsys.readouterr().out


def test_every_command_and_option_says_what_it_does():
    import argparse

    from itft_utils.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = [f"{name} {a.dest}" for name, parser in sub.choices.items() for a in parser._actions
              if not isinstance(a, argparse._HelpAction) and not a.help]
    assert silent == []
    assert all(choice.help for choice in sub._choices_actions)
