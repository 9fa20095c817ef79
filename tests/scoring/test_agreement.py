"""ICC against Shrout & Fleiss (1979), weighted kappa and confusion matrix against scikit-learn, Bland-Altman."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from tqgd.errors import ConfigError
from tqgd.scoring.agreement import bland_altman, confusion_matrix, icc_a1, weighted_kappa

# Shrout & Fleiss (1979), Table 2: six targets rated by four judges.
SHROUT_FLEISS_RATINGS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_icc_a1_matches_shrout_fleiss_textbook_value():
    assert icc_a1(SHROUT_FLEISS_RATINGS) == pytest.approx(0.29, abs=0.005)  # published ICC(2,1) = .29


def test_icc_perfect_agreement_undefined_cases_and_bias_penalty():
    scores = np.array([0.0, 12.0, 150.0, 480.0])
    assert icc_a1(np.stack([scores, scores], axis=1)) == pytest.approx(1.0)
    assert icc_a1(np.array([[3.0, 3.0]])) is None  # one patient
    assert icc_a1(np.zeros((4, 2))) is None  # no variance at all
    shifted = icc_a1(np.stack([scores, scores + 50.0], axis=1))
    assert shifted < 1.0  # absolute agreement penalises a constant offset (consistency would not)
    with pytest.raises(ConfigError, match="k >= 2 raters"):
        icc_a1(scores[:, None])


@pytest.mark.parametrize("seed", range(5))
def test_weighted_kappa_and_confusion_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 5, 40)
    predicted = np.clip(reference + rng.integers(-1, 2, 40), 0, 4)
    expected = cohen_kappa_score(reference, predicted, weights="linear", labels=list(range(5)))
    assert weighted_kappa(reference, predicted, 5, "linear") == pytest.approx(expected)
    quadratic = cohen_kappa_score(reference, predicted, weights="quadratic", labels=list(range(5)))
    assert weighted_kappa(reference, predicted, 5, "quadratic") == pytest.approx(quadratic)
    assert np.array_equal(confusion_matrix(reference, predicted, 5),
                          sk_confusion_matrix(reference, predicted, labels=list(range(5))))


def test_kappa_perfect_and_undefined():
    assert weighted_kappa([0, 1, 2, 4], [0, 1, 2, 4], 5) == pytest.approx(1.0)
    assert weighted_kappa([2, 2, 2], [2, 2, 2], 5) is None  # one category only: chance disagreement is zero
    with pytest.raises(ConfigError, match="category indices must be 0..4"):
        weighted_kappa([0, 5], [0, 1], 5)


def test_bland_altman_by_hand():
    reference = np.array([10.0, 20.0, 30.0, 40.0])
    predicted = np.array([12.0, 18.0, 33.0, 41.0])  # differences 2, -2, 3, 1
    stats = bland_altman(reference, predicted)
    diffs = np.array([2.0, -2.0, 3.0, 1.0])
    sd = np.sqrt(((diffs - 1.0) ** 2).sum() / 3)
    assert stats.bias == pytest.approx(1.0)
    assert stats.sd == pytest.approx(sd)
    assert stats.lower_limit == pytest.approx(1.0 - 1.96 * sd)
    assert stats.upper_limit == pytest.approx(1.0 + 1.96 * sd)
    single = bland_altman(np.array([5.0]), np.array([7.0]))
    assert single.bias == 2.0 and single.sd is None
