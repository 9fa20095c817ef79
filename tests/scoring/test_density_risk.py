"""Agatston density weights, kVp thresholds and risk-category boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from tqgd.errors import ConfigError
from tqgd.scoring.density import density_weight, density_weights
from tqgd.scoring.options import ScoringOptions, resolve_threshold
from tqgd.scoring.risk import risk_category

# (peak HU, Agatston weight) at and around every band edge of Agatston (1990).
WEIGHT_CASES = [(129.9, 0), (130.0, 1), (199.9, 1), (200.0, 2), (299.9, 2), (300.0, 3), (399.9, 3), (400.0, 4),
                (1500.0, 4)]


@pytest.mark.parametrize(("peak_hu", "weight"), WEIGHT_CASES)
def test_density_weight_bands(peak_hu, weight):
    assert density_weight(peak_hu, 130.0) == weight


def test_vectorised_weights_match_scalar():
    peaks = np.array([p for p, _ in WEIGHT_CASES])
    assert density_weights(peaks, 130.0).tolist() == [w for _, w in WEIGHT_CASES]


def test_kvp_threshold_moves_only_the_lowest_band():
    assert density_weight(140.0, 147.0) == 0
    assert density_weight(150.0, 147.0) == 1
    assert density_weight(200.0, 147.0) == 2


def test_kvp_threshold_table_lookup():
    options = ScoringOptions(kvp_adjusted_threshold=True)
    assert resolve_threshold(options, 100.0) == (147.0, "kVp table (100 kVp)")
    assert resolve_threshold(options, 120.0)[0] == 130.0
    assert resolve_threshold(ScoringOptions(), 100.0) == (130.0, "fixed threshold_hu")
    with pytest.raises(ConfigError, match="no calcium threshold known for 80 kVp.*--kvp-threshold 80=HU"):
        resolve_threshold(options, 80.0)
    with pytest.raises(ConfigError, match="no tube voltage"):
        resolve_threshold(options, None)
    custom = ScoringOptions(kvp_adjusted_threshold=True, kvp_thresholds_hu={80: 167.0})
    assert resolve_threshold(custom, 80.0)[0] == 167.0


@pytest.mark.parametrize("bad", [dict(slice_normalisation="slab"), dict(risk_scheme="mayo"), dict(connectivity_2d=6),
                                 dict(min_lesion_area_mm2=-1), dict(mass_calibration_mg_per_cm3_hu=0),
                                 dict(mask_labels="colours")])
def test_bad_options_are_config_errors(bad):
    with pytest.raises(ConfigError, match=list(bad)[0].split("_")[0]):
        ScoringOptions(**bad)


# Whole scores at each boundary -> category index, under both schemes.
BOUNDARY_SCORES = [0, 1, 10, 11, 100, 101, 400, 401]
FIVE_CLASS = [0, 1, 1, 2, 2, 3, 3, 4]  # 0 / 1-10 / 11-100 / 101-400 / >400
FOUR_CLASS = [0, 1, 1, 1, 2, 2, 3, 3]  # 0 / 1-99 / 100-399 / >=400


@pytest.mark.parametrize(("score", "five", "four"), list(zip(BOUNDARY_SCORES, FIVE_CLASS, FOUR_CLASS, strict=False)))
def test_risk_category_boundaries(score, five, four):
    assert risk_category(score, "five-class").index == five
    assert risk_category(score, "four-class").index == four


# OrCaScore's own scheme, by hand: I 0-10, II 11-100, III 101-1000, IV >1000 (no separate zero class).
ORCASCORE_SCORES = [0, 0.3, 10, 10.4, 10.5, 11, 100, 101, 1000, 1000.4, 1000.5, 1001, 5000]
ORCASCORE_CLASS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
ORCASCORE_LABELS = ["0-10 (I)", "11-100 (II)", "101-1000 (III)", ">1000 (IV)"]


@pytest.mark.parametrize(("score", "index"), list(zip(ORCASCORE_SCORES, ORCASCORE_CLASS, strict=True)))
def test_orcascore_risk_scheme_boundaries(score, index):
    category = risk_category(score, "orcascore")
    assert category.index == index
    assert category.label == ORCASCORE_LABELS[index]


def test_orcascore_scheme_is_an_option_with_four_categories():
    from tqgd.scoring.options import RISK_SCHEMES
    from tqgd.scoring.risk import categories

    assert "orcascore" in RISK_SCHEMES and ScoringOptions(risk_scheme="orcascore").risk_scheme == "orcascore"
    assert [(c.low, c.high) for c in categories("orcascore")] == [(0, 10), (11, 100), (101, 1000), (1001, None)]
    assert risk_category(400, "orcascore").index == risk_category(401, "orcascore").index == 2  # no 400 edge here


def test_risk_category_labels_and_fractional_scores():
    assert risk_category(0).label == "0 (no calcium)"
    assert risk_category(401).label == ">400 (extensive)"
    assert risk_category(99, "four-class").label == "1-99 (mild)"
    assert risk_category(399, "four-class").label == "100-399 (moderate)"
    assert risk_category(0.3).index == 1  # any calcium is at least category 1
    assert risk_category(10.4).index == 1  # rounds to 10
    assert risk_category(10.5).index == 2  # rounds to 11
    with pytest.raises(ConfigError, match="finite number >= 0"):
        risk_category(-1.0)
    with pytest.raises(ConfigError, match="unknown risk scheme 'mayo'"):
        risk_category(5, "mayo")
