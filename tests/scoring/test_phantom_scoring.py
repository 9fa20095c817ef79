"""Scoring and evaluation on the synthetic phantom: reference masks against the generator's own sidecar facts."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

from tests.scoring.builders import boxes_from_labels, detection_result
from tqgd.data.orcascore import discover_cases
from tqgd.data.phantom.layout import write_phantom_set
from tqgd.data.readers import read_ct
from tqgd.detections import save_detections
from tqgd.scoring import ScoringOptions, score_detections, score_mask
from tqgd.scoring.cohort import evaluate_cohort, pair_predictions
from tqgd.scoring.masks import read_mask

EXACT = ScoringOptions(mask_labels="arteries", min_lesion_area_mm2=0.0)  # every labelled voxel, as the sidecar


@pytest.fixture(scope="module")
def phantom_set(tmp_path_factory):
    """Two small phantom patients (seed 3: TRV2P1 is a 3 mm every 1.5 mm overlapping reconstruction), both formats."""
    out = tmp_path_factory.mktemp("phantom") / "set"
    write_phantom_set(out, 2, seed=3, formats=("orcascore", "dicom"), image_size=128)
    cases = {}
    for case in discover_cases(out):
        labels, _ = read_mask(case.reference)
        sidecar = json.loads((out / "phantom" / f"{case.case_id}.json").read_text())
        cases[case.case_id] = (case, read_ct(case.image), labels, sidecar)
    return out, cases


def test_reference_scores_match_the_sidecar_lesion_facts(phantom_set):
    _, cases = phantom_set
    for case_id, (_, volume, labels, sidecar) in cases.items():
        report = score_mask(volume, labels, EXACT)
        ours = sorted((lesion.artery, sum(s.pixel_count for s in lesion.slices), lesion.peak_hu)
                      for lesion in report.lesions)
        theirs = sorted((f["artery"], f["voxel_count"], f["peak_hu"]) for f in sidecar["lesions"])
        assert ours == theirs, case_id
        per_slice_ours = sorted((lesion.artery, z, n) for lesion in report.lesions for z, n in _slice_areas_px(lesion))
        per_slice_theirs = sorted((f["artery"], s["slice_index"], s["area_px"]) for f in sidecar["lesions"]
                                  for s in f["slices"])
        assert per_slice_ours == per_slice_theirs, case_id
        assert report.volume_mm3 == pytest.approx(sum(f["volume_mm3"] for f in sidecar["lesions"]), abs=0.01)
        by_artery = defaultdict(float)
        for f in sidecar["lesions"]:
            by_artery[f["artery"]] += f["volume_mm3"]
        for artery, totals in report.per_artery().items():
            assert totals["volume_mm3"] == pytest.approx(by_artery[artery], abs=0.01), (case_id, artery)


def _slice_areas_px(lesion) -> list[tuple[int, int]]:
    """(slice, pixels) of a lesion, summed over its 2D components (the sidecar lists one row per slice)."""
    counts: dict[int, int] = defaultdict(int)
    for s in lesion.slices:
        counts[s.slice_index] += s.pixel_count
    return list(counts.items())


def test_dicom_series_of_an_overlapping_reconstruction_is_normalised_by_spacing(phantom_set):
    out, cases = phantom_set
    _, volume, labels, sidecar = cases["TRV2P1"]
    assert (sidecar["geometry"]["slice_thickness_mm"], sidecar["geometry"]["slice_spacing_mm"]) == (3.0, 1.5)
    dicom = read_ct(out / "DICOM" / "TRV2P1")
    assert np.array_equal(dicom.hu, volume.hu)  # same grid, so the MetaImage reference applies
    by_spacing = score_mask(dicom, labels, EXACT)
    by_thickness = score_mask(dicom, labels, ScoringOptions(mask_labels="arteries", min_lesion_area_mm2=0.0,
                                                            slice_normalisation="thickness"))
    assert by_spacing.conventions.slice_factor == pytest.approx(0.5)
    assert by_thickness.agatston == pytest.approx(2 * by_spacing.agatston)
    assert by_spacing.agatston == pytest.approx(score_mask(volume, labels, EXACT).agatston)  # MetaImage: spacing
    assert dicom.meta.patient["PatientName"] == "PHANTOM^TRV2P1"
    assert "PHANTOM^" not in json.dumps(by_spacing.to_dict())  # identifiers never reach score.json


def test_reference_as_prediction_and_reference_boxes_evaluate_perfectly(phantom_set, tmp_path):
    out, cases = phantom_set
    masks, boxes = tmp_path / "masks", tmp_path / "boxes"
    boxes.mkdir()
    for case_id, (case, volume, labels, _) in cases.items():
        masks.mkdir(exist_ok=True)
        (masks / f"{case_id}R.mhd").write_bytes(case.reference.read_bytes())
        (masks / case.reference.with_suffix(".zraw").name).write_bytes(case.reference.with_suffix(".zraw").read_bytes())
        result = detection_result(volume, boxes_from_labels(labels))
        save_detections(result, boxes / f"{case_id}.json")
        assert score_detections(volume, result).agatston == pytest.approx(score_mask(volume, labels).agatston)
    for predictions in (masks, boxes):
        cohort = evaluate_cohort(pair_predictions(discover_cases(out), predictions), ScoringOptions())
        data = cohort.to_dict()
        metrics = {k: data["lesions"][k] for k in ("sensitivity", "ppv", "sensitivity_volume", "ppv_volume",
                                                     "f1_volume")}
        assert metrics == dict.fromkeys(metrics, 1.0), predictions.name
        assert data["agreement"]["icc_a1_agatston"] == pytest.approx(1.0)
        assert data["agreement"]["risk_agreement"] == 1.0
        assert data["agreement"]["bland_altman_agatston"]["bias"] == pytest.approx(0.0)
