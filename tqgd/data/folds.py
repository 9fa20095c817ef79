"""Patient-grouped k-fold splits: every patient's slices stay in one split, so no patient leaks into validation.

Folds are balanced by weight (number of positive slices per patient) with a greedy "largest first" fill:
patients are shuffled with ``seed`` (which only breaks ties), sorted by weight, and each goes to the fold
with the least weight so far (then fewest patients, then lowest index). Fold *i* validates on part *i* and
trains on the rest; with k = 5 this is the paper's 4:1 split, repeated five ways for cross-validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tqgd.errors import ConfigError


@dataclass(frozen=True)
class Fold:
    """One split: ``index`` (0-based), and the sorted patient IDs used for training and for validation."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]


def _weights(patients: Mapping[str, int] | Sequence[str]) -> dict[str, int]:
    if isinstance(patients, Mapping):
        weights = {str(p): int(w) for p, w in patients.items()}
        if any(w < 0 for w in weights.values()):
            raise ConfigError(f"patient weights (positive slice counts) must be >= 0, got {weights}")
        return weights
    ids = [str(p) for p in patients]
    duplicates = sorted({p for p in ids if ids.count(p) > 1})
    if duplicates:
        raise ConfigError(f"patient IDs must be unique, found duplicates {duplicates}")
    return {p: 1 for p in ids}


def make_patient_folds(patients: Mapping[str, int] | Sequence[str], k: int = 5, seed: int = 0) -> list[Fold]:
    """Split patients into ``k`` folds; ``patients`` maps ID -> positive slice count, or is a list of IDs.

    Deterministic for a given seed (the input order does not matter); every patient is validated in
    exactly one fold.
    """
    weights = _weights(patients)
    if k < 2:
        raise ConfigError(f"need at least 2 folds to have both a training and a validation split, got {k}")
    if k > len(weights):
        raise ConfigError(f"cannot make {k} patient-grouped folds from {len(weights)} patients; "
                          f"use --folds {max(len(weights), 2)} or fewer, or add patients")
    ordered = sorted(weights)
    shuffled = [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]
    shuffled.sort(key=lambda p: -weights[p])  # stable: the shuffle only breaks ties
    parts: list[list[str]] = [[] for _ in range(k)]
    totals = [0] * k
    for patient in shuffled:
        target = min(range(k), key=lambda i: (totals[i], len(parts[i]), i))
        parts[target].append(patient)
        totals[target] += weights[patient]
    folds = []
    for i in range(k):
        val = tuple(sorted(parts[i]))
        train = tuple(sorted(p for j, part in enumerate(parts) if j != i for p in part))
        folds.append(Fold(index=i, train=train, val=val))
    return folds


def validation_fold_of(folds: Sequence[Fold]) -> dict[str, int]:
    """Patient ID -> index of the fold that validates on it."""
    return {patient: fold.index for fold in folds for patient in fold.val}
