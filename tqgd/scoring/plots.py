"""Evaluation figures: Bland-Altman plot of per-patient Agatston scores and the risk-category confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tqgd.scoring.agreement import bland_altman

#: Bland-Altman points named on the plot: the largest disagreements (patients that agree exactly stay unnamed).
MAX_LABELLED_POINTS = 5


def outliers(diff: np.ndarray, count: int) -> list[int]:
    """Indices of up to ``count`` largest absolute differences, skipping differences of zero."""
    distance = np.abs(diff)
    order = np.argsort(-distance, kind="stable")
    return [int(i) for i in order[:count] if distance[i] > 0]


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig, path: str | Path) -> Path:
    """Lay out ``fig``, write it as PNG atomically (temp file, then rename) and close it."""
    from tqgd.io import atomic_path

    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    _pyplot().close(fig)
    return path


def write_bland_altman_png(reference: Sequence[float], predicted: Sequence[float], path: str | Path,
                           labels: Sequence[str] | None = None, quantity: str = "Agatston score") -> Path:
    """Plot (mean of the pair, predicted - reference) per patient with bias and 95% limits; write atomically."""
    plt = _pyplot()
    reference = np.asarray(reference, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    stats = bland_altman(reference, predicted)
    mean = (reference + predicted) / 2
    diff = predicted - reference
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    ax.scatter(mean, diff, s=28, color="#1f77b4", edgecolor="white", linewidth=0.5, zorder=3)
    if labels is not None:
        for i in outliers(diff, MAX_LABELLED_POINTS):
            ax.annotate(labels[i], (mean[i], diff[i]), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        color="#555555")
    ax.axhline(stats.bias, color="#d62728", label=f"bias {stats.bias:+.2f}")
    if stats.sd is not None:
        ax.axhline(stats.upper_limit, color="#d62728", linestyle="--",
                   label=f"+1.96 SD {stats.upper_limit:+.2f}")
        ax.axhline(stats.lower_limit, color="#d62728", linestyle="--",
                   label=f"-1.96 SD {stats.lower_limit:+.2f}")
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.set_xlabel(f"mean of reference and predicted {quantity}")
    ax.set_ylabel(f"predicted - reference {quantity}")
    ax.set_title(f"Bland-Altman: {quantity} (n = {stats.n})")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return _save_png(fig, path)


def write_confusion_png(matrix: np.ndarray, category_labels: Sequence[str], path: str | Path,
                        kappa: float | None = None) -> Path:
    """Heat map of the risk-category confusion matrix (rows reference, columns predicted); write atomically."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(6.5, 5.5), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(category_labels))
    ax.set_xticks(ticks, category_labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(ticks, category_labels, fontsize=8)
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=colour)
    ax.set_xlabel("predicted risk category")
    ax.set_ylabel("reference risk category")
    kappa_text = "undefined" if kappa is None else f"{kappa:.3f}"
    ax.set_title(f"Risk categories (linear weighted kappa {kappa_text})")
    return _save_png(fig, path)
