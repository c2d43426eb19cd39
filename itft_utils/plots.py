"""Figures that are easier to look at than to read: learning curves, the λ sweep, task mixes.

Every figure has a title, labelled axes, and is returned so notebooks can add to it; nothing here
calls ``plt.show()`` so figures also work headless (CI, grading).
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator, NullFormatter

from .training import History


def plot_training_curve(history: History, metric: str | None = None, title: str = "Training curve", ax=None):
    """Training loss per step and, on a second axis, the evaluation metric after each epoch."""
    if not history.steps:
        raise ValueError("the history has no training steps to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    epochs = [row["epoch"] for row in history.steps]
    ax.plot(epochs, [row["loss"] for row in history.steps], color="tab:blue", alpha=0.8, label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    ax.set_title(title)
    if history.evals:
        metric = metric or next(k for k in history.evals[-1] if k not in ("step", "epoch"))
        twin = ax.twinx()
        twin.plot([e["epoch"] for e in history.evals], [e[metric] for e in history.evals], "o-", color="tab:red", label=f"eval {metric}")
        twin.set_ylabel(f"evaluation {metric}", color="tab:red")
    ax.grid(alpha=0.3)
    return ax.figure


def _mean_by_run(rows: list[dict], key: str) -> dict[str, tuple[dict, float, float]]:
    """{run: (its first row, mean of ``key`` over its seeds, sample std, nan for one seed)}."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["run"], []).append(r)
    return {run: (rs[0], float(np.mean([r[key] for r in rs])),
                  float(np.std([r[key] for r in rs], ddof=1)) if len(rs) > 1 else float("nan"))
            for run, rs in groups.items()}


def plot_lambda_sweep(table: list[dict], metric: str = "f1", title: str = "Target score against λ", ax=None):
    """The target's ``metric`` against λ for the constant-weighting runs of :func:`~itft_utils.mtl_sweep.lambda_sweep`.

    The λ = 1 run (the target alone, no auxiliary loss) is drawn as a horizontal baseline: its mean
    over seeds, with a band of ± one standard deviation when it ran under several seeds (the spread a
    difference must beat). The other runs (sampling, schedules) are labelled markers at their realised
    target share, so that a sampler that gave the target 30 % of the batches sits near λ = 0.3; their
    labels give the target batches they trained on relative to the baseline (their compute on the target).
    """
    if not table:
        raise ValueError("the table has no runs to plot")
    if any(metric not in r for r in table):
        raise ValueError(f"metric {metric!r} is missing from some rows; rows have {sorted(table[0])}")
    runs = _mean_by_run(table, metric)
    weighted = sorted((v for v in runs.values() if v[0].get("lambda") is not None), key=lambda v: v[0]["lambda"])
    others = [v for v in runs.values() if v[0].get("lambda") is None]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    if weighted:
        ax.plot([v[0]["lambda"] for v in weighted], [v[1] for v in weighted], "o-", color="tab:blue", label="constant λ (weighting)")
    baseline = next((v for v in weighted if v[0]["lambda"] == 1.0), None)
    base_batches = baseline[0].get("target_batches") if baseline else None
    if baseline is not None:
        first, mean, std = baseline
        seeds = sum(r["run"] == first["run"] for r in table)
        ax.axhline(mean, color="gray", ls="--", label=f"target only (λ = 1), mean of {seeds} seed{'s' if seeds > 1 else ''}")
        if not math.isnan(std):
            ax.axhspan(mean - std, mean + std, color="gray", alpha=0.2, label="± one standard deviation over seeds")
    markers = iter("s^DvP*X")
    for first, mean, _ in others:
        compute = ""
        if base_batches and "target_batches" in first:
            compute = f" ({first['target_batches'] / base_batches:.1f}× the target batches)"
        ax.plot(first["target_share"], mean, next(markers, "o"), ms=8, ls="none", label=first["run"] + compute)
    ax.set_xlabel("λ = weight on the target (other runs: the target's realised share)")
    ax.set_ylabel(f"target {metric}")
    ax.set_xlim(-0.05, 1.05)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax.figure


def plot_task_shares(history, quantity: str = "batches", cumulative: bool = True, title: str | None = None, ax=None):
    """Stacked areas of each task's share over training (from an :class:`~itft_utils.mtl_training.MTLHistory`).

    ``quantity="batches"`` shows what a sampler realised (dashed lines: the probabilities it was
    given, per epoch); ``"weights"`` shows the loss weights (λ over training for a schedule).
    """
    from .mtl_history import task_shares

    shares = task_shares(history, quantity, cumulative)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    # Step rows carry the epoch at which the step began; a step ends where the next one begins.
    starts = np.array([row["epoch"] for row in history.steps])
    ends = np.append(starts[1:], starts[-1] + (starts[-1] - starts[-2] if len(starts) > 1 else 1.0))
    if cumulative:  # the share after each step
        ax.stackplot(ends, *shares.values(), labels=list(shares), alpha=0.7)
    else:  # each step's share, held over the step
        values = [np.append(v, v[-1]) for v in shares.values()]
        ax.stackplot(np.append(starts, ends[-1]), *values, labels=list(shares), alpha=0.7, step="post")
    if quantity == "batches" and history.task_probs:
        # The expected share of the first task, epoch by epoch: the realised share should settle on it.
        first = history.tasks[0]
        # Each row holds from its epoch (fractional when resampled per update) to the next row's.
        for row, nxt in zip(history.task_probs, [*history.task_probs[1:], None]):
            end = nxt["epoch"] if nxt is not None else math.ceil(row["epoch"] + 1e-9)
            ax.hlines(row[first], row["epoch"], end, colors="black", linestyles="--", lw=1)
        ax.plot([], [], "k--", lw=1, label=f"sampling probability of {first}")
    what = "batches" if quantity == "batches" else "loss weight"
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"share of {what}" + (" so far" if cumulative else " in the step"))
    ax.set_ylim(0, 1)
    ax.set_title(title or f"Task mix over training ({history.mix.get('mode', '')})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize="small")  # below: the areas fill the axes
    return ax.figure


def plot_task_weights(history, title: str | None = None, ax=None):
    """Each task's loss weight per step, unnormalised (e.g. learned weights exp(-s_k), which need
    not sum to 1: their ratio is what the shares of :func:`plot_task_shares` show)."""
    if not history.steps:
        raise ValueError("the history has no training steps")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    epochs = [row["epoch"] for row in history.steps]
    for task in history.tasks:
        ax.plot(epochs, [row["weights"][task] for row in history.steps], label=task)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss weight")
    ax.set_title(title or "Loss weight of each task over training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax.figure


def plot_gradient_cosines(history, title: str | None = None, ax=None):
    """Per layer, the cosine between the target's and the auxiliary task's encoder gradients over
    training (logged by a multi-task run with ``MTLConfig(cosines=...)``); below 0 the tasks pull
    that layer in conflicting directions. Each line is a running mean over a tenth of the steps."""
    rows = [row for row in history.steps if "cosines" in row]
    if not rows:
        raise ValueError("the history logged no gradient cosines: run with MTLConfig(cosines=...)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    epochs = np.array([row["epoch"] for row in rows])
    window = max(1, len(rows) // 10)
    layers = list(rows[0]["cosines"])
    colors = plt.get_cmap("viridis")(np.linspace(0, 1, len(layers)))
    for layer, color in zip(layers, colors):
        values = np.array([row["cosines"].get(layer, np.nan) for row in rows])
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(epochs[window - 1:], smooth, color=color, label=layer)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cosine(target gradient, auxiliary gradient)")
    ax.set_title(title or "Gradient agreement per layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2)
    return ax.figure


#: One colour per task family of Vu et al. (2020), so the plot shows whether a family helps.
FAMILY_COLORS = {"qa": "tab:blue", "classification": "tab:orange", "regression": "tab:orange", "tagging": "tab:green"}


def plot_transfer(cells: list[dict], target: str | None = None, metric: str | None = None, kind: str = "strip",
                  title: str | None = None, ax=None):
    """Target scores per intermediate (source) task, one dot per seed, with the no-intermediate
    baseline as a horizontal line (its mean) and a band (± 1 std over seeds), as in Vu et al. 2020.

    ``cells`` come from :func:`~itft_utils.transfer.run_transfer_matrix`; ``kind="violin"`` adds
    each source's distribution (worth it with many seeds). Dots are coloured by task family.
    """
    from .data.task import TASK_FAMILIES

    targets = list(dict.fromkeys(c["target"] for c in cells))
    if not targets:
        raise ValueError("no cells to plot: run run_transfer_matrix first")
    if target is None and len(targets) > 1:
        raise ValueError(f"the cells hold {len(targets)} targets: pass target= one of {targets}")
    target = target or targets[0]
    if target not in targets:
        raise ValueError(f"no cells for target {target!r}; targets: {targets}")
    cells = [c for c in cells if c["target"] == target]
    metric = metric or cells[0]["metric"]
    if kind not in ("strip", "violin"):
        raise ValueError(f"kind must be 'strip' or 'violin'; got {kind!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    base = [c["metrics"][metric] for c in cells if c["source"] is None]
    if base:
        mean = float(np.mean(base))
        seeds = f"{len(base)} seed{'s' if len(base) != 1 else ''}"
        ax.axhline(mean, color="black", ls="--", lw=1.2, label=f"no intermediate task (mean of {seeds})")
        if len(base) > 1:
            std = float(np.std(base, ddof=1))
            ax.axhspan(mean - std, mean + std, color="gray", alpha=0.2, label="baseline ± 1 std")
    sources = list(dict.fromkeys(c["source"] for c in cells if c["source"] is not None))
    rng = np.random.default_rng(0)  # jitter only; never the caller's RNG
    seen = set()
    for x, source in enumerate(sources):
        rows = [c for c in cells if c["source"] == source]
        scores = [c["metrics"][metric] for c in rows]
        family = rows[0]["source_type"]
        color = FAMILY_COLORS.get(family, "tab:gray")
        if kind == "violin" and len(scores) > 1:
            parts = ax.violinplot([scores], positions=[x], showextrema=False)
            for body in parts["bodies"]:
                body.set_facecolor(color)
                body.set_alpha(0.25)
        label = TASK_FAMILIES.get(family, family) if family not in seen else None
        seen.add(family)
        ax.scatter(x + rng.uniform(-0.08, 0.08, len(scores)), scores, color=color, s=36, zorder=3, label=label)
        ax.hlines(np.mean(scores), x - 0.2, x + 0.2, color=color, lw=2.5, zorder=3)
    ax.set_xticks(range(len(sources)))
    ax.set_xticklabels(sources, rotation=20 if len(sources) > 4 else 0)
    ax.set_xlim(-0.6, max(len(sources), 1) - 0.4)
    ax.set_xlabel("intermediate task (dots: seeds, bar: mean)")
    ax.set_ylabel(f"target {metric} on {target}")
    ax.set_title(title or f"Intermediate-task transfer to {target}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)  # below: dots fill the axes
    return ax.figure


def plot_transfer_curves(cells: list[dict], target: str | None = None, metric: str | None = None, title: str | None = None, ax=None):
    """The target's score after each target epoch, mean over seeds, per intermediate task: does a
    head start last, or does the baseline catch up with more target training?"""
    targets = list(dict.fromkeys(c["target"] for c in cells))
    if target is None and len(targets) != 1:
        raise ValueError(f"pass target= one of {targets}" if targets else "no cells to plot: run run_transfer_matrix first")
    target = target or targets[0]
    cells = [c for c in cells if c["target"] == target and c.get("curve")]
    if not cells:
        raise ValueError(f"no cells with a per-epoch curve for target {target!r}")
    metric = metric or cells[0]["metric"]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    for source in dict.fromkeys(c["source"] for c in cells):
        curves = [c["curve"] for c in cells if c["source"] == source]
        epochs = [row["epoch"] for row in curves[0]]
        mean = np.mean([[row[metric] for row in curve] for curve in curves], axis=0)
        if source is None:
            ax.plot(epochs, mean, "k--o", label="no intermediate task")
        else:
            ax.plot(epochs, mean, "-o", alpha=0.8, label=source)
    ax.set_xlabel("target epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"target {metric} on {target} (mean over seeds)")
    ax.set_title(title or "Target learning curves after each intermediate task")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    return ax.figure


def plot_gain_by_target_size(differences: dict[int, dict[int, float]], intervals: dict[int, tuple[float, float]] | None = None,
                             metric: str = "F1", source: str = "the QA source", title: str | None = None, ax=None):
    """Paired gain of a source over the baseline against the target's size: one dot per seed (the
    difference to the same seed's baseline), the mean, and the caller's interval of the mean (Homework
    2 passes the one its students compute). Flat or rising: the gain does not shrink with more target data."""
    if not differences:
        raise ValueError("no target sizes to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    sizes = sorted(differences)
    rng = np.random.default_rng(0)  # jitter only
    for size in sizes:
        values = list(differences[size].values())
        ax.scatter(size * np.exp(rng.uniform(-0.05, 0.05, len(values))), values, color="tab:blue", s=30, alpha=0.6, zorder=3)
    means = [float(np.mean(list(differences[size].values()))) for size in sizes]
    ax.plot(sizes, means, "-o", color="black", lw=1.5, zorder=4, label="mean paired difference")
    if intervals:
        shown = [s for s in sizes if s in intervals and all(math.isfinite(v) for v in intervals[s])]
        low = [means[sizes.index(s)] - intervals[s][0] for s in shown]
        high = [intervals[s][1] - means[sizes.index(s)] for s in shown]
        ax.errorbar(shown, [means[sizes.index(s)] for s in shown], yerr=[low, high], fmt="none", ecolor="black",
                    capsize=4, zorder=4, label="95 % interval of the mean")
    ax.axhline(0.0, color="gray", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.xaxis.set_minor_formatter(NullFormatter())  # only the sizes run are labelled
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlabel("target training questions (log scale; dots: seeds)")
    ax.set_ylabel(f"{metric} with {source} − baseline (same seed)")
    ax.set_title(title or "Does the gain shrink as the target grows?")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax.figure


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


# --- Task embeddings (Homework 3) -------------------------------------------------------------

#: One colour per task family (Vu et al.'s three classes), the same in every figure.
FAMILY_COLOURS = {"question answering": "tab:blue", "classification/regression": "tab:orange", "sequence labelling": "tab:green"}


def project_2d(matrix: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray | None:
    """Rows of ``matrix`` (one task each) in two dimensions; ``None`` when t-SNE is unavailable.

    PCA is computed here (centred SVD; each axis's sign fixed so that its largest loading is
    positive, so reruns draw the same picture). ``"mds"`` is classical multidimensional scaling of the
    cosine distance 1 − cos (what the rankings use), also computed here: for a library of a dozen
    tasks it is the honest non-linear picture. t-SNE needs scikit-learn and many more points than a
    task library has (its perplexity must stay below the number of tasks: (n − 1) / 3, at most 30).
    """
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need a (tasks, dims) matrix with at least two tasks; got shape {x.shape}")
    if method == "pca":
        centred = x - x.mean(0)
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
        coords = (u * s * signs)[:, :2]
        return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))  # fewer than 3 tasks: one axis only
    if method == "mds":
        unit = x / np.where(np.linalg.norm(x, axis=1, keepdims=True) > 0, np.linalg.norm(x, axis=1, keepdims=True), 1.0)
        squared = (1.0 - unit @ unit.T) ** 2
        centring = np.eye(len(x)) - 1.0 / len(x)
        values, vectors = np.linalg.eigh(-0.5 * centring @ squared @ centring)
        order = np.argsort(values)[::-1][:2]
        coords = vectors[:, order] * np.sqrt(np.clip(values[order], 0.0, None))
        coords *= np.sign(coords[np.abs(coords).argmax(0), np.arange(coords.shape[1])])  # a fixed orientation
        return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            print("t-SNE skipped: scikit-learn is not installed (pip install scikit-learn); use method='pca'")
            return None
        import warnings

        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        # One thread: a few dozen points gain nothing from more, and on a busy 2-core machine the
        # OpenMP threads of scikit-learn and torch wait on each other (seconds become a minute).
        with warnings.catch_warnings(), threadpool_limits(1):  # sklearn's version notices would land on stderr
            warnings.simplefilter("ignore")
            tsne = TSNE(n_components=2, perplexity=min(30.0, max(1.0, (len(x) - 1) / 3)), init="pca", random_state=seed)
            return tsne.fit_transform(x)
    raise ValueError(f"method must be 'pca', 'mds' or 'tsne'; got {method!r}")


def plot_task_map(vectors, families, method: str = "pca", title: str | None = None, ax=None, seed: int = 0):
    """Tasks as points in 2-D (PCA, MDS of the cosine distance, or t-SNE), coloured by task family.

    ``vectors``: {task: embedding}; ``families``: {task: family} (``data.TASK_FAMILIES`` of the task
    type). Returns the figure, or ``None`` when t-SNE is unavailable (a message says so).
    """
    names = list(vectors)
    coords = project_2d(np.stack([np.asarray(vectors[n], dtype=np.float64).ravel() for n in names]), method, seed)
    if coords is None:
        return None
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.8))
    seen = set()
    for (px, py), name in zip(coords, names):
        family = families[name]
        ax.scatter(px, py, s=60, color=FAMILY_COLOURS.get(family, "tab:gray"), label=None if family in seen else family)
        seen.add(family)
        ax.annotate(name, (px, py), textcoords="offset points", xytext=(5, 4), fontsize="small")
    label = {"pca": "principal component", "mds": "MDS dimension (1 − cosine)", "tsne": "t-SNE dimension"}[method]
    ax.set_xlabel(f"{label} 1")
    ax.set_ylabel(f"{label} 2")
    ax.set_title(title or f"Task map ({ {'pca': 'PCA', 'mds': 'MDS', 'tsne': 't-SNE'}[method] })")
    ax.legend(title="task family", fontsize="small")
    ax.grid(alpha=0.3)
    return ax.figure


def plot_similarity_heatmap(names, similarity, title: str = "Cosine similarity of task embeddings", ax=None,
                            diagonal: bool = False):
    """The pairwise cosine similarities of tasks as a heat map, values written in the cells. The
    diagonal (every task's 1 with itself) is left blank unless ``diagonal``: it would stretch the
    colour scale over a range no pair of different tasks uses."""
    sim = np.asarray(similarity, dtype=np.float64).copy()
    if sim.shape != (len(names), len(names)):
        raise ValueError(f"similarity is {sim.shape}; expected ({len(names)}, {len(names)}) for {len(names)} names")
    if not diagonal and len(names) > 1:
        np.fill_diagonal(sim, np.nan)
    if ax is None:
        size = 1.2 + 0.55 * len(names)
        _, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(sim, cmap="viridis")
    ax.figure.colorbar(image, ax=ax, label="cosine similarity")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("task")
    ax.set_ylabel("task")
    if len(names) <= 15:
        middle = (np.nanmin(sim) + np.nanmax(sim)) / 2
        for i in range(len(names)):
            for j in range(len(names)):
                if not np.isnan(sim[i, j]):
                    ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize="x-small",
                            color="black" if sim[i, j] > middle else "white")
    ax.set_title(title)
    return ax.figure
