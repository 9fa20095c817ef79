"""Evaluation from files: pairing predictions with OrCaScore cases, any prediction source, set statistics."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scoring.builders import (
    boxes_from_labels,
    detection_result,
    make_volume,
    three_lesion_case,
    write_mhd,
    write_orcascore_case,
)
from tqgd.data.orcascore import discover_cases
from tqgd.detections import save_detections
from tqgd.errors import DatasetError
from tqgd.scoring.cohort import evaluate_cohort, find_prediction, pair_predictions
from tqgd.scoring.options import ScoringOptions


def _one_lesion_case(hu: float, size: int):
    volume = make_volume((6, 40, 40))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[2:4, 10:10 + size, 10:10 + size] = hu
    labels[2:4, 10:10 + size, 10:10 + size] = 2
    return volume, labels


@pytest.fixture()
def orcascore_set(tmp_path):
    """Three patients (TRV1P1, TRV1P2, TRV1P10) with different calcium burdens, plus their volumes and labels."""
    cases = {"TRV1P1": three_lesion_case(), "TRV1P2": _one_lesion_case(450.0, 20),
             "TRV1P10": _one_lesion_case(180.0, 3)}
    root = tmp_path / "set"
    for case_id, (volume, labels) in cases.items():
        write_orcascore_case(root, case_id, volume, labels)
    return root, cases


def test_pairing_by_case_id_never_confuses_p1_with_p10(tmp_path):
    (tmp_path / "TRV1P1.json").write_text("{}")
    (tmp_path / "TRV1P10_seg.nii.gz").write_bytes(b"")
    (tmp_path / "TRV1P1notes.txt").write_text("")
    assert [p.name for p in find_prediction("TRV1P1", tmp_path)] == ["TRV1P1.json"]
    assert [p.name for p in find_prediction("TRV1P10", tmp_path)] == ["TRV1P10_seg.nii.gz"]


def test_missing_and_ambiguous_predictions_are_named(orcascore_set, tmp_path):
    root, _ = orcascore_set
    predictions = tmp_path / "pred"
    predictions.mkdir()
    (predictions / "TRV1P1.json").write_text("{}")
    (predictions / "TRV1P1R.mhd").write_text("")
    with pytest.raises(DatasetError, match="no prediction for case.*TRV1P10, TRV1P2"):
        pair_predictions(discover_cases(root), predictions)
    for case_id in ("TRV1P2", "TRV1P10"):
        (predictions / f"{case_id}.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"several predictions for case\(s\) TRV1P1 \(TRV1P1.json, TRV1P1R.mhd\)"):
        pair_predictions(discover_cases(root), predictions)


def test_references_as_predictions_score_perfectly(orcascore_set, tmp_path):
    root, cases = orcascore_set
    predictions = tmp_path / "pred"
    for case_id, (volume, labels) in cases.items():
        write_mhd(labels, predictions / f"{case_id}_seg.mhd", volume.spacing_mm, np.uint8)
    cohort = evaluate_cohort(pair_predictions(discover_cases(root), predictions), ScoringOptions())
    data = cohort.to_dict()
    assert data["lesions"]["sensitivity"] == 1.0 and data["lesions"]["f1_volume"] == 1.0
    agreement = data["agreement"]
    assert agreement["icc_a1_agatston"] == pytest.approx(1.0) and agreement["icc_a1_volume"] == pytest.approx(1.0)
    assert agreement["risk_kappa_linear"] == pytest.approx(1.0)
    assert agreement["bland_altman_agatston"]["bias"] == 0.0
    assert np.trace(agreement["risk_confusion_matrix"]) == 3
    assert data["per_artery"]["RCA"]["sensitivity"] == 1.0


def test_mixed_sources_detections_and_masks(orcascore_set, tmp_path):
    root, cases = orcascore_set
    predictions = tmp_path / "pred"
    predictions.mkdir()
    volume, labels = cases["TRV1P1"]
    on_disk = make_volume(volume.shape, volume.spacing_mm)  # the geometry read_ct will report for the .mhd
    save_detections(detection_result(on_disk, boxes_from_labels(labels)), predictions / "TRV1P1.json")
    volume, labels = cases["TRV1P2"]
    write_mhd(np.zeros_like(labels), predictions / "TRV1P2.nii.gz", volume.spacing_mm, np.uint8)  # finds nothing
    volume, labels = cases["TRV1P10"]
    write_mhd(labels, predictions / "TRV1P10.mhd", volume.spacing_mm, np.uint8)
    cohort = evaluate_cohort(pair_predictions(discover_cases(root), predictions), ScoringOptions())
    rows = {r["case_id"]: r for r in cohort.per_patient_rows()}
    assert rows["TRV1P1"]["agatston_predicted"] == pytest.approx(rows["TRV1P1"]["agatston_reference"])
    assert rows["TRV1P1"]["sensitivity"] == 1.0 and rows["TRV1P1"]["ppv"] == 1.0
    assert rows["TRV1P2"]["agatston_predicted"] == 0 and rows["TRV1P2"]["sensitivity"] == 0.0
    assert rows["TRV1P2"]["ppv"] is None
    pooled = cohort.pooled()["lesions"]
    assert (pooled["reference_lesions"], pooled["detected_reference_lesions"]) == (5, 4)
    agreement = cohort.agreement()
    assert agreement["icc_a1_agatston"] < 1.0
    big = rows["TRV1P2"]["agatston_reference"]
    assert agreement["bland_altman_agatston"]["bias"] == pytest.approx(-big / 3)


def test_orcascore_risk_scheme_sets_kappa_and_confusion_categories(orcascore_set, tmp_path):
    """Agatston by hand: TRV1P1 57 (II); TRV1P2 2 slices x 100 mm^2 x weight 3 = 600 (III); TRV1P10 2 x 2.25 x 1 = 4.5
    (I). The prediction for TRV1P2 is empty (0: I), the others are the references."""
    root, cases = orcascore_set
    predictions = tmp_path / "pred"
    for case_id, (volume, labels) in cases.items():
        predicted = np.zeros_like(labels) if case_id == "TRV1P2" else labels
        write_mhd(predicted, predictions / f"{case_id}_seg.mhd", volume.spacing_mm, np.uint8)
    pairs = pair_predictions(discover_cases(root), predictions)
    agreement = evaluate_cohort(pairs, ScoringOptions(risk_scheme="orcascore")).agreement()
    assert agreement["risk_categories"] == ["0-10 (I)", "11-100 (II)", "101-1000 (III)", ">1000 (IV)"]
    # rows reference, columns predicted: P10 I->I, P1 II->II, P2 III->I
    assert agreement["risk_confusion_matrix"] == [[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    # linear kappa: observed disagreement |2-0| x 1 = 2; chance = sum_ij |i-j| r_i c_j / n with r = (1,1,1,0),
    # c = (2,1,0,0), n = 3: (1 + 2 + 5) / 3 = 8/3; kappa = 1 - 2 / (8/3) = 0.25
    assert agreement["risk_kappa_linear"] == pytest.approx(0.25)
    five = evaluate_cohort(pairs, ScoringOptions()).agreement()  # the same scores in five-class: 4.5 is 1-10, 600 >400
    assert len(five["risk_confusion_matrix"]) == 5 and five["risk_confusion_matrix"][4][0] == 1
