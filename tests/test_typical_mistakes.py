"""Plausible wrong answers lose points: each exercise's typical mistakes, written into its model
solution, are scored by the exercise's trusted checks (public and hidden, as the grader scores them),
and none earns full marks; the model solution itself earns them all. The mistakes are edits of the solution in
``solutions/``, so a reworded solution fails here loudly instead of silently testing nothing."""
from __future__ import annotations

import contextlib
import io

import nbformat
import pytest

from itft_grader.checks.local import score_here, solution_namespace
from itft_grader.course import solutions_dir
from itft_grader.release.sample_class import grade_cell

#: Homework 3's per-example gradients are checked by two test cells (autograd and the closed form): each
#: of these mistakes must lose points in both.
PER_EXAMPLE_GRADIENT_MISTAKES = [
    ("the batch's mean gradient for every example", "    return vmap(grad(loss_of_one, argnums=(0, 1)), in_dims=(None, None, 0, 0))(W, b, X, y)\n", "    gW, gb = vmap(grad(loss_of_one, argnums=(0, 1)), in_dims=(None, None, 0, 0))(W, b, X, y)\n    return gW.mean(0, keepdim=True).expand_as(gW), gb.mean(0, keepdim=True).expand_as(gb)\n"),
    ("squared error instead of cross-entropy", "F.cross_entropy(logits[None], label[None])", "((logits - F.one_hot(label, logits.shape[0]).float()) ** 2).sum()"),
    ("the bias left out of the logits", "logits = W @ x + b", "logits = W @ x"),
]

#: (assignment, answer cell, test cell) -> [(mistake, solution text, the mistaken text)]
MISTAKES: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {
    ("hw1_mtl", "combine_losses_code", "combine_losses_tests"): [
        ("the weights are ignored", "total = weights[0] * losses[0]", "total = losses[0]"),
        ("a float, not a tensor (no gradient)", "    return total\n", "    return float(total)\n"),
        ("the mean instead of the sum", "    return total\n", "    return total / len(losses)\n"),
        ("no input validation", 'require_distribution(weights, "weights", count=len(losses))', "[float(w) for w in weights]"),
        ("weights not counted against the losses (zip drops the extra loss)", 'require_distribution(weights, "weights", count=len(losses))',
         'require_distribution(weights, "weights")'),
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
        ("no input validation", 'require_distribution(probs, "probabilities", count=len(self.task_names))', "[float(x) for x in probs]"),
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
        ("the step's range unchecked", '    require_between(step, 0, total_steps, "step")\n', ""),
    ],
    ("hw1_mtl", "design_code", "design_tests"): [  # the design exercise: its hidden experiment decides the second point
        ("naive multi-task learning: a constant λ = 0.5",
         "return 0.25 if progress < 0.5 else 0.25 + 0.75 * (progress - 0.5) / 0.5", "return 0.5"),
        ("the auxiliary first, the target only from half-way (the step schedule without its doubled budget)",
         "return 0.25 if progress < 0.5 else 0.25 + 0.75 * (progress - 0.5) / 0.5", "return 0.0 if progress < 0.5 else 1.0"),
        ("λ as a percentage", "return 0.25 if progress < 0.5 else 0.25 + 0.75 * (progress - 0.5) / 0.5",
         "return 100 * (0.25 if progress < 0.5 else 0.25 + 0.75 * (progress - 0.5) / 0.5)"),
        ("the auxiliary's weight returned instead of the target's",
         "return 0.25 if progress < 0.5 else 0.25 + 0.75 * (progress - 0.5) / 0.5",
         "return 1 - (0.25 if progress < 0.5 else 0.25 + 0.75 * (progress - 0.5) / 0.5)"),
    ],
    ("hw2_intermediate", "budget_design_code", "budget_design_tests"): [  # the design: checked on hidden sources
        ("equal examples after all (steps from each source's windows per example)",
         'per_step = 1 if BUDGET_UNIT == "steps" else p["tokens"] / p["windows"] * p["batch_size"]',
         'per_step = p["batch_size"] * p["examples"] / p["windows"]'),
        ("a window's tokens taken for a step's (the batch size forgotten)",
         'per_step = 1 if BUDGET_UNIT == "steps" else p["tokens"] / p["windows"] * p["batch_size"]',
         'per_step = 1 if BUDGET_UNIT == "steps" else p["tokens"] / p["windows"]'),
        ("an example's tokens taken for a window's (a long passage makes several windows)",
         'per_step = 1 if BUDGET_UNIT == "steps" else p["tokens"] / p["windows"] * p["batch_size"]',
         'per_step = 1 if BUDGET_UNIT == "steps" else p["tokens"] / p["examples"] * p["batch_size"]'),
        ("fractional steps", "steps[name] = max(1, round(amount / per_step))", "steps[name] = max(1, amount / per_step)"),
        ("no unit chosen", 'BUDGET_UNIT = "tokens"', 'BUDGET_UNIT = "compute"'),
    ],
    ("hw3_taskemb", "rule_design_code", "rule_design_tests"): [  # the design: scored on hidden targets by the grader
        ("TextEmb's cosine in place of TaskEmb's", '-candidates[s]["taskemb"], s))', '-candidates[s]["textemb"], s))'),
        ("the target's own type last", 'candidates[s]["type"] != target["type"]', 'candidates[s]["type"] == target["type"]'),
        ("only the top three returned", '-candidates[s]["taskemb"], s))', '-candidates[s]["taskemb"], s))[:3]'),
        ("the least similar first, types ignored", '(candidates[s]["type"] != target["type"], -candidates[s]["taskemb"], s)',
         '(candidates[s]["taskemb"], s)'),
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
    ("hw2_intermediate", "char_to_token_code", "char_to_token_test"): [
        ("ignores sequence_ids (question tokens count)", "if s == 1]", "if s is not None]"),
        ("off by one at the end", "    return start, end\n", "    return start, end + 1\n"),
        ("a partly inside answer is not sent to CLS",
         "if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:", "if not context:"),
        ("CLS at 0 whatever cls_index says", "        return cls_index, cls_index\n", "        return 0, 0\n"),
    ],
    ("hw2_intermediate", "best_span_code", "best_span_test"): [
        ("the end may come before the start", "if e < s or e - s + 1 > max_answer_length:", "if e - s + 1 > max_answer_length:"),
        ("question tokens may be answers", "if offsets[s] is None or offsets[e] is None:", "if False:"),
        ("the length off by one", "e - s + 1 > max_answer_length", "e - s > max_answer_length"),
        ("the lowest logits as candidates", "np.argsort(start_logits)[::-1][:n_best_size]", "np.argsort(start_logits)[:n_best_size]"),
    ],
    ("hw2_intermediate", "squad_f1_code", "squad_f1_test"): [
        ("F1 over sets of tokens, not counts", "shared = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())",
         "shared = len(set(pred_tokens) & set(gold_tokens))"),
        ("articles removed before punctuation",
         '    s = "".join(ch for ch in s if ch not in set(string.punctuation))\n    s = re.sub(r"\\b(a|an|the)\\b", " ", s)\n',
         '    s = re.sub(r"\\b(a|an|the)\\b", " ", s)\n    s = "".join(ch for ch in s if ch not in set(string.punctuation))\n'),
        ("only the first gold answer", "return max(f1(prediction, gold) for gold in ground_truths)",
         "return f1(prediction, ground_truths[0])"),
        ("no lower case", "    s = s.lower()\n", ""),
    ],
    ("hw2_intermediate", "hand_over_code", "hand_over_test"): [
        ("the old model returned", "    return HEADS[task_type].from_pretrained(", "    return model\n    HEADS[task_type].from_pretrained("),
        ("the pooler compared too", 'if not k.startswith("pooler.")}', "}"),
        ("close is not identical", "torch.equal(a[k], b[k])", "torch.allclose(a[k], b[k])"),
    ],
    ("hw2_intermediate", "paired_code", "paired_test"): [
        ("unpaired: the difference of the means, the pooled spread",
         "diffs = np.array([source[k] - baseline[k] for k in seeds], dtype=float)",
         "diffs = np.array([source[k] for k in seeds], dtype=float) - np.mean([baseline[k] for k in seeds])"),
        ("a one-sided p-value", "means = [abs(np.mean(diffs * np.array(signs)))", "means = [np.mean(diffs * np.array(signs))"),
        ("the population standard deviation", "np.std(diffs, ddof=1)", "np.std(diffs)"),
        ("the normal quantile where t is asked", "(T975[n - 2] if n - 1 <= len(T975) else 1.96)", "1.96"),
        ("the interval of one seed, not of the mean (no sqrt(n))", "* std / math.sqrt(n)", "* std"),
        ("seeds_needed without the power term", "(z(1 - alpha / 2) + z(power))", "z(1 - alpha / 2)"),
        ("alpha not halved (a one-sided level)", "z(1 - alpha / 2)", "z(1 - alpha)"),
    ],
    ("hw3_taskemb", "per_example_gradients", "per_example_gradients_autograd"): PER_EXAMPLE_GRADIENT_MISTAKES,
    ("hw3_taskemb", "per_example_gradients", "per_example_gradients_closed_form"): PER_EXAMPLE_GRADIENT_MISTAKES,
    ("hw3_taskemb", "layer_fisher_code", "layer_fisher_tests"): [
        ("the gradient not squared", "((g ** 2 * mask).sum(1) / tokens)", "((g * mask).sum(1) / tokens)"),
        ("padding counted as tokens", "((g ** 2 * mask).sum(1) / tokens)", "((g ** 2).sum(1) / g.shape[1])"),
        ("the sum over tokens, not the mean", "((g ** 2 * mask).sum(1) / tokens)", "(g ** 2 * mask).sum(1)"),
        ("the batch-mean loss (gradients shrink by 1/B)", "torch.autograd.grad(losses.sum(),", "torch.autograd.grad(losses.mean(),"),
        ("CLS from the first layer", 'out["cls_output"] = (grads[-1][:, 0] ** 2).sum(0)', 'out["cls_output"] = (grads[0][:, 0] ** 2).sum(0)'),
        ("hooks never removed", "        for handle in handles:\n            handle.remove()\n", "        pass\n"),
    ],
    ("hw3_taskemb", "ablation_code", "ablation_tests"): [
        ("a task is its own nearest neighbour", "(m for m in names if m != n)", "(m for m in names)"),
        ("a dot product, not a cosine", "unit = {n: np.asarray(vectors[n], dtype=float) / (np.linalg.norm(vectors[n]) or 1.0) for n in names}",
         "unit = {n: np.asarray(vectors[n], dtype=float) for n in names}"),
        ("the farthest task, not the nearest", "key=lambda m: (-float(unit[n] @ unit[m]), m))", "key=lambda m: (float(unit[n] @ unit[m]), m))"),
        ("a count, not a share", "    return same / len(names)\n", "    return same\n"),
    ],
    ("hw3_taskemb", "logme_code", "logme_tests"): [
        ("the log-determinant left out", "\n                    - beta / 2 * fitted - alpha / 2 * m2 - 0.5 * np.sum(np.log(alpha + beta * sigma)))",
         "\n                    - beta / 2 * fitted - alpha / 2 * m2)"),
        ("the evidence not per example", "scores.append(evidence / N)", "scores.append(evidence)"),
        ("summed over classes, not averaged", "return float(np.mean(scores))", "return float(np.sum(scores))"),
        ("alpha from |m|, not |m|^2", "gamma / (m2 + 1e-5)", "gamma / (math.sqrt(m2) + 1e-5)"),
        ("class ids regressed as numbers (no one-hot columns)", "    if regression:\n", "    if True:\n"),
    ],
    ("hw3_taskemb", "fisher_code", "empirical_fisher_tests"): [
        ("the gradient not squared", "return {name: (g ** 2).mean(0) for", "return {name: g.mean(0) for"),
        ("the sum over examples, not the mean", "return {name: (g ** 2).mean(0) for", "return {name: (g ** 2).sum(0) for"),
        ("the squared mean (batch-mean) where per-example is asked", "return {name: (g ** 2).mean(0) for",
         "return {name: g.mean(0) ** 2 for"),
    ],
    ("hw3_taskemb", "fisher_code", "batch_mean_fisher_tests"): [
        ("per-example where batch-mean is asked", "means = [g[i : i + batch_size].mean(0) for i in range(0, g.shape[0], batch_size)]",
         "means = list(g)"),
        ("batch sums, not means", "means = [g[i : i + batch_size].mean(0) for", "means = [g[i : i + batch_size].sum(0) for"),
        ("divided by the examples, not the batches", "out[name] = torch.stack([m ** 2 for m in means]).mean(0)",
         "out[name] = torch.stack([m ** 2 for m in means]).sum(0) / g.shape[0]"),
    ],
    ("hw3_taskemb", "aggregate_code", "aggregate_tests"): [
        ("the parts not normalised", "pieces.append(v / norm if norm > 0 else v)", "pieces.append(v)"),
        ("the dict's order, not sorted", "for name in sorted(parts):", "for name in parts:"),
        ("no final scaling", "np.concatenate(pieces) / np.sqrt(len(pieces))", "np.concatenate(pieces)"),
    ],
    ("hw3_taskemb", "ranking_code", "ranking_tests"): [
        ("a dot product, not a cosine", "float(a @ b / (na * nb))", "float(a @ b)"),
        ("the least similar first", "key=lambda name: (-cosine(", "key=lambda name: (cosine("),
        ("the target ranked too", "others = [name for name in vectors if name != target]", "others = list(vectors)"),
    ],
    ("hw3_taskemb", "selection_metrics_code", "ndcg_tests"): [
        ("log2(i + 1) with i from 0", "r / math.log2(i + 2)", "r / math.log2(i + 1)"),
        ("raw scores as relevance", "relevance = {s: v - low for s, v in scores.items()}", "relevance = dict(scores)"),
        ("the ideal ranking not cut at k", "ideal = dcg(sorted(relevance.values(), reverse=True)[:k])",
         "ideal = dcg(sorted(relevance.values(), reverse=True))"),
    ],
    ("hw3_taskemb", "selection_metrics_code", "regret_tests"): [
        ("regret's sign", "return (best - max(scores[s] for s in ranking[:k])) / best * 100",
         "return (max(scores[s] for s in ranking[:k]) - best) / best * 100"),
        ("not in percent", "return (best - max(scores[s] for s in ranking[:k])) / best * 100",
         "return (best - max(scores[s] for s in ranking[:k])) / best"),
        ("only the k-th source, not the best of the first k", "max(scores[s] for s in ranking[:k])", "scores[ranking[k - 1]]"),
    ],
}


#: Classes of mistakes that survived the in-kernel hidden tests (issue 28's catalogue: pairing by
#: position, hooks left after an error, ties, degenerate inputs, unpaired statistics, normalisation, head
#: sizes, hand-overs that keep mismatched weights, validation stricter than specified), caught by the
#: trusted checks written for them.
LATER_MISTAKES: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {
    ("hw1_mtl", "combine_losses_code", "combine_losses_tests"): [
        # validation stricter than the specification
        ("a zero weight rejected (weights are non-negative, zero allowed)", 'require_distribution(weights, "weights", count=len(losses))',
         '[require_between(w, 0, 1, "weight", above=True) for w in require_distribution(weights, "weights", count=len(losses))]'),
    ],
    ("hw1_mtl", "cosines_code", "cosines_tests"): [
        # two mappings paired by position instead of by name
        ("the auxiliary gradients taken in their own order", "b.append(aux_grads[name].detach().flatten().double())",
         "b.append(list(aux_grads.values())[list(target_grads).index(name)].detach().flatten().double())"),
    ],
    ("hw2_intermediate", "char_to_token_code", "char_to_token_test"): [
        # degenerate inputs: a window without a context token (or an empty one)
        ("no guard for a window without context tokens", "if not context or offsets[context[0]][0] > start_char",
         "if offsets[context[0]][0] > start_char"),
    ],
    ("hw2_intermediate", "best_span_code", "best_span_test"): [
        # degenerate inputs: nothing valid to return
        ("no valid pair gives (0, 0), not None", "best, best_score = None, -np.inf", "best, best_score = (0, 0), -np.inf"),
    ],
    ("hw2_intermediate", "squad_f1_code", "squad_f1_test"): [
        # text normalisation other than the specified one
        ("punctuation removed by a regex (keeps _, drops « » ¿ —)",
         '    s = "".join(ch for ch in s if ch not in set(string.punctuation))\n', '    s = re.sub(r"[^\\w\\s]", "", s)\n'),
        ("punctuation by Unicode category, not string.punctuation",
         '    s = "".join(ch for ch in s if ch not in set(string.punctuation))\n',
         '    s = "".join(ch for ch in s if not __import__("unicodedata").category(ch).startswith("P"))\n'),
        # degenerate inputs: empty answers
        ("SQuAD 2.0's rule: two empty answers agree (F1 1)",
         "        shared = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())\n",
         "        if not pred_tokens or not gold_tokens:\n            return float(pred_tokens == gold_tokens)\n"
         "        shared = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())\n"),
        ("precision before the zero test: an empty answer divides by zero",
         "        if shared == 0:\n            return 0.0\n        precision, recall = shared / len(pred_tokens), shared / len(gold_tokens)\n",
         "        precision, recall = shared / len(pred_tokens), shared / len(gold_tokens)\n        if shared == 0:\n            return 0.0\n"),
    ],
    ("hw2_intermediate", "hand_over_code", "hand_over_test"): [
        # a hand-over that silently keeps mismatched weights
        ("the whole model saved, mismatched sizes ignored: a same-sized old head is kept",
         '    model.base_model.save_pretrained(folder)\n',
         '    model.save_pretrained(folder)\n    return HEADS[task_type].from_pretrained(folder, num_labels=2 if task_type == "qa" else num_labels,'
         ' ignore_mismatched_sizes=True)\n'),
        ("the encoder re-initialised from the saved config, not loaded",
         '    return HEADS[task_type].from_pretrained(folder, num_labels=2 if task_type == "qa" else num_labels)\n',
         '    from transformers import AutoConfig\n    return HEADS[task_type].from_config(AutoConfig.from_pretrained('
         'folder, num_labels=2 if task_type == "qa" else num_labels))\n'),
        # a QA head sized from the wrong field
        ("the QA head sized by num_labels", 'num_labels=2 if task_type == "qa" else num_labels)', "num_labels=num_labels)"),
        ("the head sized from the old model's config", 'num_labels=2 if task_type == "qa" else num_labels)',
         "num_labels=model.config.num_labels)"),
        # pairing two mappings by position instead of by key
        ("same_encoder pairs the tensors by position, not by name",
         "return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)",
         "return all(torch.equal(x, y) for x, y in zip(a.values(), b.values()))"),
    ],
    ("hw2_intermediate", "paired_code", "paired_test"): [
        # pairing two mappings by position instead of by key
        ("paired by position, not by seed", "diffs = np.array([source[k] - baseline[k] for k in seeds], dtype=float)",
         "diffs = np.array([s - b for s, b in zip(source.values(), baseline.values())], dtype=float)"),
        ("each dict's seeds sorted and zipped (unpaired seeds slip in)",
         "diffs = np.array([source[k] - baseline[k] for k in seeds], dtype=float)",
         "diffs = np.array([source[a] - baseline[b] for a, b in zip(sorted(source), sorted(baseline))], dtype=float)"),
        # a gain relative to the wrong mean
        ("the gain over the mean of every baseline seed, paired or not", "np.mean([baseline[k] for k in seeds])",
         "np.mean(list(baseline.values()))"),
        ("the gain over the source's mean", "np.mean([baseline[k] for k in seeds])", "np.mean([source[k] for k in seeds])"),
        ("the mean of the per-seed relative gains", '"gain": float(diffs.mean() / np.mean([baseline[k] for k in seeds])),',
         '"gain": float(np.mean(diffs / np.array([baseline[k] for k in seeds]))),'),
        # unpaired statistics where paired ones are specified
        ("the spread of the two score lists, not of the differences (unpaired)",
         'std = float(np.std(diffs, ddof=1)) if n > 1 else float("nan")',
         'std = math.sqrt(np.var([source[k] for k in seeds], ddof=1) + np.var([baseline[k] for k in seeds], ddof=1)) if n > 1 else float("nan")'),
        # degenerate inputs: no difference at all
        ("the sign-flip count strict (>): no difference gives p = 0", "sum(m >= observed - 1e-12 for m in means)",
         "sum(m > observed + 1e-12 for m in means)"),
    ],
    ("hw3_taskemb", "per_example_gradients", "per_example_gradients_autograd"): [
        ("log of the softmax, not a stable log-softmax (large logits give NaN)",
         "F.cross_entropy(logits[None], label[None])", "F.nll_loss(torch.log(torch.softmax(logits[None], 1)), label[None])"),
    ],
    ("hw3_taskemb", "layer_fisher_code", "layer_fisher_tests"): [
        ("hooks removed only when the loss succeeds (no try/finally)",
         "    try:\n        losses = loss_fn(model, batch)\n    finally:\n        for handle in handles:\n            handle.remove()\n",
         "    losses = loss_fn(model, batch)\n    for handle in handles:\n        handle.remove()\n"),
        ("every forward hook of the model cleared, the caller's too",
         "        for handle in handles:\n            handle.remove()\n",
         "        for module in model.modules():\n            module._forward_hooks.clear()\n"),
        ("the loss's error swallowed (an empty result)",
         "    try:\n        losses = loss_fn(model, batch)\n    finally:\n",
         "    try:\n        losses = loss_fn(model, batch)\n    except Exception:\n        return {}\n    finally:\n"),
    ],
    ("hw3_taskemb", "fisher_code", "empirical_fisher_tests"): [
        ("values re-keyed in sorted order (paired by position, not by name)",
         "return {name: (g ** 2).mean(0) for name, g in grads.items()}",
         "return dict(zip(sorted(grads), [(g ** 2).mean(0) for g in grads.values()]))"),
        ("squared in place (the caller's gradients change)",
         "return {name: (g ** 2).mean(0) for name, g in grads.items()}",
         "return {name: g.pow_(2).mean(0) for name, g in grads.items()}"),
    ],
    ("hw3_taskemb", "fisher_code", "batch_mean_fisher_tests"): [
        ("the last, smaller batch dropped (and no batch when batch_size > N)",
         "for i in range(0, g.shape[0], batch_size)]", "for i in range(0, g.shape[0] - batch_size + 1, batch_size)]"),
        ("divided by N // batch_size batches (0 when batch_size > N)",
         "out[name] = torch.stack([m ** 2 for m in means]).mean(0)",
         "out[name] = torch.stack([m ** 2 for m in means]).sum(0) / (g.shape[0] // batch_size)"),
        ("values re-keyed in sorted order (paired by position, not by name)",
         "    return out\n", "    return dict(zip(sorted(out), out.values()))\n"),
    ],
    ("hw3_taskemb", "aggregate_code", "aggregate_tests"): [
        ("the whole vector normalised instead of / sqrt(#parts) (NaN when every part is zero)",
         "return np.concatenate(pieces) / np.sqrt(len(pieces))",
         "v = np.concatenate(pieces)\n    return v / np.linalg.norm(v)"),
        ("an all-zero part divided by its zero norm (NaN)",
         "pieces.append(v / norm if norm > 0 else v)", "pieces.append(v / norm)"),
    ],
    ("hw3_taskemb", "ranking_code", "ranking_tests"): [
        ("ties broken against the alphabet (the whole key reversed)",
         "return sorted(others, key=lambda name: (-cosine(vectors[target], vectors[name]), name))",
         "return sorted(others, key=lambda name: (cosine(vectors[target], vectors[name]), name), reverse=True)"),
        ("ties left in the dict's order (a stable sort on the cosine alone)",
         "key=lambda name: (-cosine(vectors[target], vectors[name]), name))",
         "key=lambda name: -cosine(vectors[target], vectors[name]))"),
        ("no guard for zero vectors (NaN cosines)",
         "return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0", "return float(a @ b / (na * nb))"),
    ],
    ("hw3_taskemb", "selection_metrics_code", "ndcg_tests"): [
        ("the first k positions indexed (k larger than the sources fails)",
         "return dcg([relevance[s] for s in ranking[:k]]) / ideal if ideal > 0 else 1.0",
         "return dcg([relevance[ranking[i]] for i in range(k)]) / ideal if ideal > 0 else 1.0"),
        ("relevances taken in the scores' dict order, not the ranking's (paired by position)",
         "dcg([relevance[s] for s in ranking[:k]])", "dcg(list(relevance.values())[:k])"),
    ],
    ("hw3_taskemb", "selection_metrics_code", "regret_tests"): [
        ("the first k positions indexed (k larger than the sources fails)",
         "max(scores[s] for s in ranking[:k])", "max(scores[ranking[i]] for i in range(k))"),
        ("the first k scores in the dict's order, not the ranking's (paired by position)",
         "max(scores[s] for s in ranking[:k])", "max(list(scores.values())[:k])"),
    ],
    ("hw3_taskemb", "ablation_code", "ablation_tests"): [
        ("ties: the alphabetically last task",
         "nearest = min((m for m in names if m != n), key=lambda m: (-float(unit[n] @ unit[m]), m))",
         "nearest = max((m for m in names if m != n), key=lambda m: (float(unit[n] @ unit[m]), m))"),
        ("ties: the first in the dict's order",
         "nearest = min((m for m in names if m != n), key=lambda m: (-float(unit[n] @ unit[m]), m))",
         "nearest = max((m for m in vectors if m != n), key=lambda m: float(unit[n] @ unit[m]))"),
        ("families paired with the vectors by position",
         "    same = 0\n", "    same = 0\n    families = dict(zip(vectors, families.values()))\n"),
    ],
    ("hw3_taskemb", "logme_code", "logme_tests"): [
        ("one-hot columns from np.eye over the label values (string or sparse class ids fail)",
         "targets = [(labels == c).astype(np.float64) for c in np.unique(labels)]",
         "targets = list(np.eye(int(labels.max()) + 1)[labels].T)"),
        ("features standardised first (a constant feature gives NaN)",
         "    F = np.asarray(features, dtype=np.float64)\n",
         "    F = np.asarray(features, dtype=np.float64)\n    F = (F - F.mean(0)) / F.std(0)\n"),
    ],
}
for _key, _more in LATER_MISTAKES.items():
    MISTAKES[_key] = MISTAKES[_key] + _more


def _score(assignment: str, answer: str, test: str, replace: tuple[str, str] | None = None) -> tuple[float, str]:
    """The test cell's trusted score for the solution, optionally edited, with its report."""
    nb = nbformat.read(solutions_dir() / f"{assignment}.ipynb", as_version=4)
    with contextlib.redirect_stdout(io.StringIO()):  # the given code's experiments print tables
        namespace = solution_namespace(nb, answer, replace)
    result = score_here(nb, test, namespace)
    return result.score, result.report()


CASES = [(key, mistake) for key, mistakes in MISTAKES.items() for mistake in mistakes]


@pytest.fixture(autouse=True)
def _grading_mode(monkeypatch):
    """Grading mode, as when graded; the notebooks' setup cells set torch's threads and their
    experiment cells draw figures: both undone after each test."""
    import matplotlib.pyplot as plt
    import torch

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    plt.close("all")


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


#: Test cells that score what the student handed in, not code (``on="submission"`` checks), and the test
#: that lists their typical faults instead.
HANDED_IN = {("hw2_intermediate", "atlas_credit"): "tests/test_atlas.py::test_part_7_points_go_to_ones_own_valid_baseline_and_a_source_paired_with_it"}


def test_every_auto_graded_cell_of_every_homework_has_its_mistakes():
    """Derived from the nbgrader sources: a new exercise fails here until its typical mistakes are listed."""
    from itft_grader.checks.spec import KERNEL, load_checks
    from itft_grader.course import assignments

    graded = {(name, gid): bool(cell.only(KERNEL).checks) for name in assignments()
              for gid, cell in load_checks(nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)).items()}
    assert {key for key, code in graded.items() if code} == {(assignment, test) for assignment, _, test in MISTAKES}
    assert {key for key, code in graded.items() if not code} == set(HANDED_IN)
    for where in HANDED_IN.values():
        path, test = where.split("::")
        assert f"def {test}(" in (solutions_dir().parent / path).read_text(), where
