"""orCaScore-style lesion matching: a reference against itself and against a perturbed copy, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scoring.builders import four_label_case, make_volume, three_lesion_case
from tqgd.scoring.evaluate import LesionMatch, evaluate_case, match_lesions, orcascore_lesions
from tqgd.scoring.options import ScoringOptions
from tqgd.scoring.score import score_labels

VOXEL_MM3 = 3.0 * 0.5 * 0.5


def _lesions(volume, labels, arteries=True):
    return orcascore_lesions(volume.hu, labels, volume.spacing_mm, calcium_floor_hu=130.0, arteries=arteries)


def _perturbed(volume, labels):
    """Remove A (LAD), add a false lesion D (LAD, 9 voxels), shrink C (RCA) from 32 to 9 voxels."""
    predicted = labels.copy()
    predicted[labels == 1] = 0
    volume.hu[4, 30:33, 5:8] = 400
    predicted[4, 30:33, 5:8] = 1
    predicted[labels == 3] = 0
    predicted[3, 10:13, 28:31] = 3
    return predicted


def _case(volume, ref_labels, pred_labels, pred_arteries=True):
    options = ScoringOptions()
    ref_score = score_labels(volume, ref_labels, options, arteries=True, input_info={"kind": "reference"})
    pred_score = score_labels(volume, pred_labels, options, arteries=pred_arteries, input_info={"kind": "mask"})
    return evaluate_case("HAND1", _lesions(volume, ref_labels), _lesions(volume, pred_labels, pred_arteries),
                         ref_score, pred_score)


def test_reference_against_itself_is_perfect():
    volume, labels = three_lesion_case()
    case = _case(volume, labels, labels.copy())
    metrics = case.match.metrics()
    assert metrics == {"sensitivity": 1.0, "ppv": 1.0, "sensitivity_volume": 1.0, "ppv_volume": 1.0, "f1_volume": 1.0}
    assert case.match.reference_lesions == 3 and case.match.false_positive_lesions == 0
    assert list(case.per_artery) == ["LAD", "LCX", "RCA", "undetermined"]
    assert all(case.per_artery[name].metrics()["f1_volume"] == 1.0 for name in ("LAD", "LCX", "RCA"))
    assert case.per_artery["undetermined"].reference_lesions == 0  # no label 4 here: a row of zeros, ratios None
    assert case.per_artery["undetermined"].metrics()["sensitivity"] is None
    assert case.predicted.agatston == case.reference.agatston


def test_perturbed_copy_gives_the_expected_counts_and_volumes():
    volume, labels = three_lesion_case()
    predicted = _perturbed(volume, labels)
    case = _case(volume, labels, predicted)
    m = case.match
    assert (m.reference_lesions, m.predicted_lesions) == (3, 3)
    assert (m.detected_reference_lesions, m.true_positive_lesions) == (2, 2)  # B and C found; D is false
    assert (m.false_negative_lesions, m.false_positive_lesions) == (1, 1)
    assert m.reference_volume_mm3 == pytest.approx((32 + 9 + 32) * VOXEL_MM3)
    assert m.detected_reference_volume_mm3 == pytest.approx((9 + 32) * VOXEL_MM3)  # B and the full C
    assert m.predicted_volume_mm3 == pytest.approx((9 + 9 + 9) * VOXEL_MM3)
    assert m.true_positive_volume_mm3 == pytest.approx((9 + 9) * VOXEL_MM3)  # B and the shrunk C
    sens_v, ppv_v = 41 / 73, 18 / 27
    metrics = m.metrics()
    assert metrics["sensitivity"] == pytest.approx(2 / 3) and metrics["ppv"] == pytest.approx(2 / 3)
    assert metrics["sensitivity_volume"] == pytest.approx(sens_v)
    assert metrics["ppv_volume"] == pytest.approx(ppv_v)
    assert metrics["f1_volume"] == pytest.approx(2 * sens_v * ppv_v / (sens_v + ppv_v))
    lad, lcx, rca = (case.per_artery[k].metrics() for k in ("LAD", "LCX", "RCA"))
    assert lad["sensitivity"] == 0.0 and lad["ppv"] == 0.0  # A missed; D (labelled LAD) is false
    assert lcx["sensitivity"] == 1.0 and rca["sensitivity"] == 1.0 and rca["ppv"] == 1.0
    assert case.to_dict()["lesions"]["false_positive_volume_mm3"] == pytest.approx(9 * VOXEL_MM3)


def test_binary_prediction_gets_per_artery_sensitivity_but_no_per_artery_ppv():
    volume, labels = three_lesion_case()
    predicted = (_perturbed(volume, labels) > 0).astype(np.uint8)
    case = _case(volume, labels, predicted, pred_arteries=False)
    assert case.match.metrics()["ppv"] == pytest.approx(2 / 3)
    lad = case.per_artery["LAD"]
    assert lad.metrics()["sensitivity"] == 0.0 and lad.metrics()["ppv"] is None
    assert case.per_artery["RCA"].metrics()["sensitivity"] == 1.0


def test_lesions_are_six_connected_and_ignore_sub_threshold_label_voxels():
    volume = make_volume((4, 8, 8))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1, 2, 2] = volume.hu[2, 3, 3] = 300  # touch only along a diagonal: two lesions
    labels[1, 2, 2] = labels[2, 3, 3] = 1
    labels[1, 5, 5] = 1  # labelled but 40 HU: not calcium
    lesions = _lesions(volume, labels, arteries=False)
    assert len(lesions.ids) == 2
    assert lesions.volume_mm3[1:].tolist() == [VOXEL_MM3, VOXEL_MM3]


def test_lesion_matches_add_up_and_empty_ratios_are_undefined():
    total = LesionMatch(3, 2, 2, 2, 30.0, 20.0, 25.0, 20.0) + LesionMatch(1, 2, 0, 0, 10.0, 5.0, 0.0, 0.0)
    assert (total.reference_lesions, total.predicted_lesions, total.detected_reference_lesions) == (4, 4, 2)
    assert total.metrics()["sensitivity_volume"] == pytest.approx(25 / 40)
    assert LesionMatch().metrics() == {"sensitivity": None, "ppv": None, "sensitivity_volume": None,
                                       "ppv_volume": None, "f1_volume": None}
    volume = make_volume((3, 8, 8))
    empty = _lesions(volume, np.zeros(volume.shape, np.uint8))
    assert match_lesions(empty, empty).metrics()["sensitivity"] is None


def test_label_4_has_its_own_per_artery_row():
    volume, labels = four_label_case()
    found = labels.copy()
    assert _case(volume, labels, found).per_artery["undetermined"].metrics()["f1_volume"] == 1.0
    missed = labels.copy()
    missed[labels == 4] = 0  # E not found
    case = _case(volume, labels, missed)
    row = case.per_artery["undetermined"]
    assert (row.reference_lesions, row.detected_reference_lesions, row.predicted_lesions) == (1, 0, 0)
    assert row.reference_volume_mm3 == pytest.approx(24 * VOXEL_MM3)
    assert row.metrics()["sensitivity"] == 0.0 and row.metrics()["ppv"] is None  # nothing predicted as undetermined
    assert case.per_artery["LAD"].metrics()["sensitivity"] == 1.0
    assert case.match.reference_lesions == 4 and case.match.detected_reference_lesions == 3
    assert case.to_dict()["per_artery"]["undetermined"]["false_negative_lesions"] == 1
    wrong = labels.copy()
    wrong[labels == 4] = 2  # E found, but called LCX: not a detection of the undetermined row
    row = _case(volume, labels, wrong).per_artery["undetermined"]
    assert row.detected_reference_lesions == 0
    binary = (labels > 0).astype(np.uint8)  # a prediction without arteries detects E, per-artery PPV undefined
    row = _case(volume, labels, binary, pred_arteries=False).per_artery["undetermined"]
    assert row.metrics()["sensitivity"] == 1.0 and row.metrics()["ppv"] is None
