"""Agreement between two raters (reference and automatic) over patients: ICC, weighted kappa, confusion, Bland-Altman.

- ``icc_a1``: two-way random effects, absolute agreement, single rater: ICC(2,1) of Shrout & Fleiss (1979),
  written ICC(A,1) by McGraw & Wong (1996): (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n).
- ``weighted_kappa``: Cohen's kappa with linear (or quadratic) disagreement weights over a fixed ordered set of
  categories: 1 - sum(w * observed) / sum(w * expected).
- ``confusion_matrix``: counts, rows = reference category, columns = predicted category.
- ``bland_altman``: bias = mean(predicted - reference), limits of agreement = bias +/- 1.96 SD (SD with n-1).
Undefined statistics (too few patients, no variance) are returned as None, never as a made-up number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tqgd.errors import ConfigError

#: Two-sided 95% limits of agreement (Bland & Altman 1986).
LIMITS_OF_AGREEMENT_Z = 1.96


def icc_a1(ratings: np.ndarray) -> float | None:
    """ICC(2,1) / ICC(A,1) of an (n targets, k raters) array; None when n < 2 or the ratings have no variance."""
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.ndim != 2 or ratings.shape[1] < 2:
        raise ConfigError(f"ICC needs an (n targets, k >= 2 raters) table, got shape {ratings.shape}")
    n, k = ratings.shape
    if n < 2:
        return None
    grand = ratings.mean()
    ss_rows = k * ((ratings.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((ratings.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((ratings - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_cols = ss_cols / (k - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    if denominator <= 0 or not np.isfinite(denominator):
        return None
    return float((ms_rows - ms_error) / denominator)


def confusion_matrix(reference: list[int] | np.ndarray, predicted: list[int] | np.ndarray,
                     n_categories: int) -> np.ndarray:
    """(n_categories, n_categories) int counts; rows are reference categories, columns predicted ones."""
    reference = np.asarray(reference, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if reference.shape != predicted.shape:
        raise ConfigError(f"{len(reference)} reference categories but {len(predicted)} predicted ones")
    for name, values in (("reference", reference), ("predicted", predicted)):
        if values.size and (values.min() < 0 or values.max() >= n_categories):
            raise ConfigError(f"{name} category indices must be 0..{n_categories - 1}, got {sorted(set(values))}")
    matrix = np.zeros((n_categories, n_categories), dtype=np.int64)
    np.add.at(matrix, (reference, predicted), 1)
    return matrix


def weighted_kappa(reference: list[int] | np.ndarray, predicted: list[int] | np.ndarray, n_categories: int,
                   weights: str = "linear") -> float | None:
    """Cohen's weighted kappa over categories 0..n_categories-1; None when chance disagreement is zero."""
    if weights not in ("linear", "quadratic"):
        raise ConfigError(f"kappa weights must be 'linear' or 'quadratic', got {weights!r}")
    observed = confusion_matrix(reference, predicted, n_categories).astype(np.float64)
    total = observed.sum()
    if total == 0:
        return None
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    distance = np.abs(np.subtract.outer(np.arange(n_categories), np.arange(n_categories))).astype(np.float64)
    penalty = distance if weights == "linear" else distance**2
    chance = (penalty * expected).sum()
    if chance == 0:
        return None
    return float(1.0 - (penalty * observed).sum() / chance)


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman statistics of predicted - reference: bias, SD of the differences and 95% limits."""

    n: int
    bias: float
    sd: float | None
    lower_limit: float | None
    upper_limit: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def bland_altman(reference: np.ndarray, predicted: np.ndarray) -> BlandAltman:
    """Bias and limits of agreement of ``predicted`` against ``reference`` (same length, at least one pair)."""
    reference = np.asarray(reference, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if reference.shape != predicted.shape or reference.size == 0:
        raise ConfigError(f"Bland-Altman needs paired values, got {reference.size} reference and {predicted.size} "
                          "predicted")
    diff = predicted - reference
    bias = float(diff.mean())
    if diff.size < 2:
        return BlandAltman(n=1, bias=bias, sd=None, lower_limit=None, upper_limit=None)
    sd = float(diff.std(ddof=1))
    return BlandAltman(n=int(diff.size), bias=bias, sd=sd, lower_limit=bias - LIMITS_OF_AGREEMENT_Z * sd,
                       upper_limit=bias + LIMITS_OF_AGREEMENT_Z * sd)
