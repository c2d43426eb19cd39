"""Plausible wrong answers lose points: each exercise's typical mistakes, written into its model
solution, are graded by the exercise's own test cell (hidden checks included), and none earns full
marks; the model solution itself earns them all. The mistakes are edits of the solution in
``solutions/``, so a reworded solution fails here loudly instead of silently testing nothing."""
from __future__ import annotations

import contextlib
import io

import nbformat
import pytest

from itft_grader.course import solutions_dir
from itft_grader.sample_class import grade_cell
from itft_utils.selfcheck import _run_cell

#: (assignment, answer cell, test cell) -> [(mistake, solution text, the mistaken text)]
MISTAKES: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {
    ("hw1_mtl", "combine_losses_code", "combine_losses_tests"): [
        ("the weights are ignored", "total = weights[0] * losses[0]", "total = losses[0]"),
        ("a float, not a tensor (no gradient)", "    return total\n", "    return float(total)\n"),
        ("the mean instead of the sum", "    return total\n", "    return total / len(losses)\n"),
        ("no input validation (the checks print instead of raising)", "raise ValueError(", "print("),
        ("an exact sum test rejects 0.1 + 0.2 + 0.7", "if abs(sum(weights) - 1.0) > 1e-6:", "if sum(weights) != 1.0:"),
    ],
    ("hw1_mtl", "temperature_code", "temperature_tests"): [
        ("the exponent's direction: n ** T", "logits = np.log(n) / T", "logits = np.log(n) * T"),
        ("no normalisation", "    return z / z.sum()\n", "    return z\n"),
        ("the cap ignored", "        n = np.minimum(n, float(cap))\n", "        pass\n"),
        ("no log space: a tiny T overflows", "    logits = np.log(n) / T  # 1 / inf == 0: equal logits, so uniform\n"
         "    z = np.exp(logits - logits.max())  # the largest term is exp(0) = 1: no overflow\n",
         "    z = n ** (1 / T)\n"),
    ],
    ("hw1_mtl", "annealed_code", "annealed_tests"): [
        ("divides by num_epochs", "return 1.0 - 0.8 * epoch / (num_epochs - 1)", "return 1.0 - 0.8 * epoch / num_epochs"),
        ("runs the wrong way (0.2 to 1)", "return 1.0 - 0.8 * epoch / (num_epochs - 1)", "return 0.2 + 0.8 * epoch / (num_epochs - 1)"),
        ("epochs counted from 1", "return 1.0 - 0.8 * epoch / (num_epochs - 1)", "return 1.0 - 0.8 * (epoch + 1) / (num_epochs - 1)"),
        ("one epoch divides by zero", "    if num_epochs == 1:\n        return 1.0\n", ""),
    ],
    ("hw1_mtl", "sampler_code", "sampler_tests"): [
        ("draws from numpy's global generator", "return self.task_names[self._rng.choice(len(self.task_names), p=self._p)]",
         "return self.task_names[np.random.choice(len(self.task_names), p=self._p)]"),
        ("an unseeded generator", "self._rng = np.random.default_rng(seed)", "self._rng = np.random.default_rng()"),
        ("ignores the probabilities", "return self.task_names[self._rng.choice(len(self.task_names), p=self._p)]",
         "return self.task_names[self._rng.choice(len(self.task_names))]"),
        ("no input validation (the checks print instead of raising)", "raise ValueError(", "print("),
    ],
    ("hw1_mtl", "uncertainty_code", "uncertainty_tests"): [
        ("exp(s) instead of exp(-s)", "torch.exp(-log_vars) * values + log_vars", "torch.exp(log_vars) * values + log_vars"),
        ("no regulariser s_k", "torch.exp(-log_vars) * values + log_vars", "torch.exp(-log_vars) * values"),
        ("the mean over tasks", "(torch.exp(-log_vars) * values + log_vars).sum()", "(torch.exp(-log_vars) * values + log_vars).mean()"),
        ("the regression form's halves", "(torch.exp(-log_vars) * values + log_vars).sum()",
         "(0.5 * torch.exp(-log_vars) * values + 0.5 * log_vars).sum()"),
    ],
    ("hw1_mtl", "step_schedule_code", "step_schedule_tests"): [
        ("the switch step still on the intermediate task", "step / total_steps < switch_fraction",
         "step / total_steps <= switch_fraction"),
        ("the phases reversed", "return 0.0 if step / total_steps < switch_fraction else 1.0",
         "return 1.0 if step / total_steps < switch_fraction else 0.0"),
        ("integer division", "step / total_steps < switch_fraction", "step // total_steps < switch_fraction"),
        ("no input validation (the checks print instead of raising)", "raise ValueError(", "print("),
    ],
    ("hw1_mtl", "cosines_code", "cosines_tests"): [
        ("a dot product, not a cosine", "float(u @ v / norms) if norms > 0 else 0.0", "float(u @ v) if norms > 0 else 0.0"),
        ("the absolute cosine", "float(u @ v / norms) if norms > 0 else 0.0", "float(abs(u @ v) / norms) if norms > 0 else 0.0"),
        ("one parameter stands for its layer", "u, v = torch.cat(a), torch.cat(b)", "u, v = a[0], b[0]"),
        ("one cosine for the whole encoder", "flat.setdefault(layer_key(name), ([], []))", 'flat.setdefault("encoder", ([], []))'),
    ],
    ("hw1_mtl", "pcgrad_code", "pcgrad_tests"): [
        ("projects without a conflict too", "    if dot < 0:\n", "    if True:\n"),
        ("only one gradient projected", "(g1 - dot / torch.dot(g2, g2) * g2) + (g2 - dot / torch.dot(g1, g1) * g1)",
         "(g1 - dot / torch.dot(g2, g2) * g2) + g2"),
        ("the second projected on the first's projection",
         "return (g1 - dot / torch.dot(g2, g2) * g2) + (g2 - dot / torch.dot(g1, g1) * g1)",
         "g1p = g1 - dot / torch.dot(g2, g2) * g2\n        return g1p + (g2 - torch.dot(g2, g1p) / torch.dot(g1p, g1p) * g1p)"),
        ("the projection's sign", "(g1 - dot / torch.dot(g2, g2) * g2) + (g2 - dot / torch.dot(g1, g1) * g1)",
         "(g1 + dot / torch.dot(g2, g2) * g2) + (g2 + dot / torch.dot(g1, g1) * g1)"),
    ],
}


def _setup(nb: nbformat.NotebookNode) -> str:
    """The notebook's setup cell without IPython magics."""
    source = grade_cell(nb, "setup").source
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))


def _score(assignment: str, answer: str, test: str, replace: tuple[str, str] | None = None) -> tuple[float, str]:
    """The test cell's score (its last value; 0 when it raises) for the solution, optionally edited."""
    nb = nbformat.read(solutions_dir() / f"{assignment}.ipynb", as_version=4)
    code = grade_cell(nb, answer).source
    if replace is not None:
        old, new = replace
        assert old in code, f"{answer}: the solution no longer contains {old!r}; update the mistake"
        code = code.replace(old, new)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        _run_cell(_setup(nb), "setup", namespace)
        _run_cell(code, answer, namespace)
        try:
            value = _run_cell(grade_cell(nb, test).source, test, namespace)
        except Exception as exc:  # noqa: BLE001 - a failed assert or a crash: the cell scores 0
            return 0.0, f"{type(exc).__name__}: {exc}"
    return float(value if value is not None else grade_cell(nb, test).metadata["nbgrader"]["points"]), printed.getvalue()


CASES = [(key, mistake) for key, mistakes in MISTAKES.items() for mistake in mistakes]


@pytest.fixture(autouse=True)
def _grading_mode(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")


@pytest.mark.parametrize("key", list(MISTAKES), ids=lambda k: k[1])
def test_the_solution_earns_every_point_and_three_mistakes_are_listed(key):
    assignment, _, test = key
    points = grade_cell(nbformat.read(solutions_dir() / f"{assignment}.ipynb", as_version=4), test).metadata["nbgrader"]["points"]
    assert _score(*key)[0] == points
    assert len(MISTAKES[key]) >= 3


@pytest.mark.parametrize("key, mistake", CASES, ids=[f"{k[1]}: {m[0]}" for k, m in CASES])
def test_a_typical_mistake_loses_points(key, mistake):
    assignment, _, test = key
    points = grade_cell(nbformat.read(solutions_dir() / f"{assignment}.ipynb", as_version=4), test).metadata["nbgrader"]["points"]
    score, printed = _score(*key, replace=mistake[1:])
    assert score < points, f"{mistake[0]!r} still earns {score}/{points}: {printed}"
