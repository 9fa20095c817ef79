"""Patient-grouped folds: no leakage, every patient validated once, deterministic, balanced by positive slices."""

from __future__ import annotations

import numpy as np
import pytest

from tqgd.data.folds import make_patient_folds, validation_fold_of
from tqgd.errors import ConfigError

WEIGHTS = {f"TRV1P{i}": int(w) for i, w in enumerate(np.random.default_rng(1).integers(1, 21, 32), start=1)}


@pytest.mark.parametrize("k", [2, 5, 8])
def test_no_patient_in_two_splits_and_every_patient_validated_once(k):
    folds = make_patient_folds(WEIGHTS, k, seed=0)
    assert len(folds) == k
    validated = [p for fold in folds for p in fold.val]
    assert sorted(validated) == sorted(WEIGHTS)  # each patient validated exactly once
    for fold in folds:
        assert not set(fold.train) & set(fold.val)
        assert set(fold.train) | set(fold.val) == set(WEIGHTS)
        assert fold.val  # no empty validation split


def test_folds_are_deterministic_for_a_seed_and_independent_of_input_order():
    reversed_weights = dict(reversed(list(WEIGHTS.items())))
    assert make_patient_folds(WEIGHTS, 5, seed=7) == make_patient_folds(reversed_weights, 5, seed=7)
    different = [make_patient_folds(WEIGHTS, 5, seed=s) for s in range(6)]
    assert len({tuple(f.val for f in folds) for folds in different}) > 1  # the seed changes the assignment


def test_folds_are_balanced_by_positive_slices():
    folds = make_patient_folds(WEIGHTS, 5, seed=0)
    totals = [sum(WEIGHTS[p] for p in fold.val) for fold in folds]
    # greedy largest-first keeps every fold within one patient's weight of every other
    assert max(totals) - min(totals) <= max(WEIGHTS.values())
    assert max(totals) - min(totals) <= 0.1 * sum(totals) / len(totals)


def test_plain_patient_lists_split_evenly():
    folds = make_patient_folds([f"P{i}" for i in range(12)], 5, seed=3)
    assert sorted(len(f.val) for f in folds) == [2, 2, 2, 3, 3]
    assert validation_fold_of(folds)["P0"] in range(5)


def test_five_folds_give_the_papers_4_to_1_split_of_positive_slices():
    total = sum(WEIGHTS.values())
    for fold in make_patient_folds(WEIGHTS, 5, seed=0):
        val_share = sum(WEIGHTS[p] for p in fold.val) / total
        assert 0.18 <= val_share <= 0.22


@pytest.mark.parametrize("patients, k, message", [
    (["a", "b"], 3, "cannot make 3 patient-grouped folds from 2 patients"),
    (["a", "b"], 1, "need at least 2 folds"),
    (["a", "a", "b"], 2, r"duplicates \['a'\]"),
    ({"a": -1, "b": 2}, 2, "must be >= 0"),
])
def test_bad_requests_raise_config_error(patients, k, message):
    with pytest.raises(ConfigError, match=message):
        make_patient_folds(patients, k, seed=0)
