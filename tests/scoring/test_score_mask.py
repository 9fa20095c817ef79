"""Agatston, volume, mass and per-artery scores of hand-built volumes, computed by hand in each test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.scoring.builders import four_label_case, make_volume
from tqgd.errors import ConfigError, LabelError, ScanReadError
from tqgd.scoring import ScoringOptions, score_mask, summary_text

PIXEL_MM = 0.5
PIXEL_AREA_MM2 = PIXEL_MM * PIXEL_MM


def _four_weights_case():
    """One 3 mm slice with four lesions, one per density weight, of different sizes and arteries."""
    volume = make_volume((3, 32, 32), (3.0, PIXEL_MM, PIXEL_MM))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1, 2:5, 2:4] = 150  # A: 6 px, peak 150 -> weight 1, LAD
    labels[1, 2:5, 2:4] = 1
    volume.hu[1, 10:12, 2:4] = 140  # B: 4 px, one at 250 -> weight 2, LAD
    volume.hu[1, 10, 2] = 250
    labels[1, 10:12, 2:4] = 1
    volume.hu[1, 20, 10:14] = 350  # C: 4 px in a row, peak 350 -> weight 3, LCX
    labels[1, 20, 10:14] = 2
    volume.hu[1, 25:28, 25:28] = 420  # D: 9 px, one at 900 -> weight 4, RCA
    volume.hu[1, 26, 26] = 900
    labels[1, 25:28, 25:28] = 3
    return volume, labels


def test_each_density_weight_and_per_artery_by_hand():
    volume, labels = _four_weights_case()
    report = score_mask(volume, labels)
    area = {"A": 6 * PIXEL_AREA_MM2, "B": 4 * PIXEL_AREA_MM2, "C": 4 * PIXEL_AREA_MM2, "D": 9 * PIXEL_AREA_MM2}
    expected = {"A": area["A"] * 1, "B": area["B"] * 2, "C": area["C"] * 3, "D": area["D"] * 4}  # factor 3/3 = 1
    assert report.agatston == pytest.approx(sum(expected.values()))  # 1.5 + 2 + 3 + 9 = 15.5
    assert report.agatston == pytest.approx(15.5)
    assert report.volume_mm3 == pytest.approx(sum(area.values()) * 3.0)
    assert sorted(s.density_weight for lesion in report.lesions for s in lesion.slices) == [1, 2, 3, 4]
    per_artery = report.per_artery()
    assert per_artery["LAD"]["agatston"] == pytest.approx(expected["A"] + expected["B"])
    assert per_artery["LCX"]["agatston"] == pytest.approx(expected["C"])
    assert per_artery["RCA"]["agatston"] == pytest.approx(expected["D"])
    assert per_artery["LAD"]["lesion_count"] == 2
    assert report.risk.label == "11-100 (mild)"
    assert report.mass_mg is None


def test_minimum_area_rule_is_inclusive():
    volume = make_volume((3, 16, 16), (3.0, PIXEL_MM, PIXEL_MM))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1, 2:4, 2:4] = 300  # 4 px = 1.00 mm^2: kept
    labels[1, 2:4, 2:4] = 1
    volume.hu[1, 10, 10:13] = 300  # 3 px = 0.75 mm^2: dropped
    labels[1, 10, 10:13] = 1
    report = score_mask(volume, labels, ScoringOptions(mask_labels="binary"))
    assert report.agatston == pytest.approx(1.0 * 3)
    assert len(report.lesions) == 1
    assert "1 per-slice components smaller than 1 mm^2" in report.notes[0]
    everything = score_mask(volume, labels, ScoringOptions(mask_labels="binary", min_lesion_area_mm2=0.0))
    assert everything.agatston == pytest.approx((1.0 + 0.75) * 3)


def _overlapping_case():
    """3 mm slices reconstructed every 1.5 mm: one 4 mm^2 lesion (peak 300 HU) appears on two slices."""
    volume = make_volume((6, 16, 16), (1.5, 1.0, 1.0), slice_thickness_mm=3.0, fmt="dicom")
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[2:4, 5:7, 5:7] = 300
    labels[2:4, 5:7, 5:7] = 1
    return volume, labels


def test_slice_normalisation_with_overlapping_slices():
    volume, labels = _overlapping_case()
    per_slice = 4.0 * 3  # area x weight
    spacing = score_mask(volume, labels, ScoringOptions(mask_labels="binary"))
    assert spacing.agatston == pytest.approx(2 * per_slice * 1.5 / 3.0)  # 12: what one contiguous 3 mm slice gives
    assert spacing.conventions.slice_factor == pytest.approx(0.5)
    thickness = score_mask(volume, labels, ScoringOptions(mask_labels="binary", slice_normalisation="thickness"))
    assert thickness.agatston == pytest.approx(2 * per_slice)  # 24: overlapping slices counted twice
    none = score_mask(volume, labels, ScoringOptions(mask_labels="binary", slice_normalisation="none"))
    assert none.agatston == pytest.approx(2 * per_slice)
    assert spacing.volume_mm3 == pytest.approx(2 * 4.0 * 1.5)  # volume uses slice spacing, not thickness
    assert len(spacing.lesions) == 1 and len(spacing.lesions[0].slices) == 2


def test_thickness_normalisation_needs_a_thickness():
    volume, labels = _overlapping_case()
    volume.meta.slice_thickness_mm = None  # MetaImage has no SliceThickness
    with pytest.raises(ConfigError, match="needs the slice thickness.*--slice-thickness-mm"):
        score_mask(volume, labels, ScoringOptions(slice_normalisation="thickness"))
    given = score_mask(volume, labels, ScoringOptions(slice_normalisation="thickness", slice_thickness_mm=3.0))
    assert given.agatston == pytest.approx(24.0)


def test_mass_score_with_calibration_factor():
    volume = make_volume((3, 16, 16), (3.0, PIXEL_MM, PIXEL_MM))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1, 4:6, 4:6] = [[200, 300], [400, 500]]  # mean 350 HU
    labels[1, 4:6, 4:6] = 1
    calibration = 0.8  # mg/cm^3 per HU
    report = score_mask(volume, labels, ScoringOptions(mass_calibration_mg_per_cm3_hu=calibration))
    volume_cm3 = 4 * PIXEL_AREA_MM2 * 3.0 / 1000.0
    assert report.mass_mg == pytest.approx(calibration * volume_cm3 * 350.0)  # 0.84 mg
    assert report.mass_mg == pytest.approx(0.84)
    assert report.lesions[0].slices[0].mean_hu == pytest.approx(350.0)


def test_inclusive_and_exclusive_threshold():
    volume = make_volume((3, 16, 16), (3.0, 1.0, 1.0))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1, 2:4, 2:4] = 130  # exactly the threshold
    volume.hu[1, 8:10, 8:10] = 131
    labels[1] = 1
    assert score_mask(volume, labels, ScoringOptions(mask_labels="binary")).agatston == pytest.approx(8.0)
    exclusive = score_mask(volume, labels, ScoringOptions(mask_labels="binary", threshold_inclusive=False))
    assert exclusive.agatston == pytest.approx(4.0)
    assert exclusive.to_dict()["options"]["threshold_inclusive"] is False


def test_kvp_adjusted_threshold_on_a_100_kvp_scan():
    volume = make_volume((3, 16, 16), (3.0, 1.0, 1.0), kvp=100.0)
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1, 2:4, 2:4] = 140  # above 130, below 147
    labels[1, 2:4, 2:4] = 1
    volume.hu[1, 8:10, 8:10] = 160
    labels[1, 8:10, 8:10] = 1
    fixed = score_mask(volume, labels)
    assert fixed.agatston == pytest.approx(4.0 + 4.0)
    adjusted = score_mask(volume, labels, ScoringOptions(kvp_adjusted_threshold=True))
    assert adjusted.agatston == pytest.approx(4.0)
    assert adjusted.conventions.threshold_hu == 147.0
    volume.meta.kvp = 80.0
    with pytest.raises(ConfigError, match="80 kVp"):
        score_mask(volume, labels, ScoringOptions(kvp_adjusted_threshold=True))


def test_connectivity_decides_whether_diagonal_blocks_are_one_lesion():
    volume = make_volume((3, 16, 16), (3.0, 1.0, 1.0))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1, 2:4, 2:4] = 150  # 4 mm^2, peak 150
    volume.hu[1, 4:6, 4:6] = 450  # 4 mm^2, peak 450, touching the first block at one corner
    labels[1, 2:6, 2:6] = volume.hu[1, 2:6, 2:6] > 100
    eight = score_mask(volume, labels, ScoringOptions(mask_labels="binary"))
    assert eight.agatston == pytest.approx(8.0 * 4)  # one lesion, weight of its peak
    four = score_mask(volume, labels, ScoringOptions(mask_labels="binary", connectivity_2d=4))
    assert four.agatston == pytest.approx(4.0 * 1 + 4.0 * 4)


def test_lesion_across_slices_is_one_3d_lesion_and_below_threshold_mask_voxels_do_not_count():
    volume = make_volume((5, 16, 16), (3.0, 1.0, 1.0))
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[1:4, 3:5, 3:5] = 250
    labels[1:4, 2:6, 2:6] = 2  # mask drawn generously: the ring of 40 HU voxels is not calcium
    report = score_mask(volume, labels)
    assert len(report.lesions) == 1
    assert [s.slice_index for s in report.lesions[0].slices] == [1, 2, 3]
    assert report.agatston == pytest.approx(3 * 4.0 * 2)
    assert report.lesions[0].artery == "LCX"


def test_label_modes():
    volume = make_volume((3, 16, 16), (3.0, 1.0, 1.0))
    labels = np.zeros(volume.shape, np.int32)
    volume.hu[1, 2:4, 2:4] = 300
    labels[1, 2:4, 2:4] = 1
    assert score_mask(volume, labels).per_artery() is None  # a plain 0/1 mask is binary under auto
    assert score_mask(volume, labels, ScoringOptions(mask_labels="arteries")).per_artery()["LAD"]["agatston"] == 12
    labels[labels == 1] = 255
    assert score_mask(volume, labels).agatston == pytest.approx(12.0)
    with pytest.raises(LabelError, match=r"artery labels must be 0.*found \[255\].*--labels binary"):
        score_mask(volume, labels, ScoringOptions(mask_labels="arteries"))


def test_label_4_is_its_own_undetermined_row_by_hand():
    volume, labels = four_label_case()
    report = score_mask(volume, labels)  # auto: values 0-4 with 2, 3 or 4 present are artery labels
    # E (label 4): 12 px x 0.25 mm^2 = 3 mm^2 per slice, factor 3/3; slice 1 peak 260 -> weight 2, slice 2 peak 410
    # -> weight 4.
    area_mm2 = 12 * PIXEL_AREA_MM2
    undetermined = area_mm2 * 2 + area_mm2 * 4
    assert undetermined == pytest.approx(18.0)
    per_artery = report.per_artery()
    assert list(per_artery) == ["LAD", "LCX", "RCA", "undetermined"]
    assert per_artery["undetermined"]["agatston"] == pytest.approx(undetermined)
    assert per_artery["undetermined"]["volume_mm3"] == pytest.approx(2 * area_mm2 * 3.0)
    assert per_artery["undetermined"]["lesion_count"] == 1
    assert (per_artery["LAD"]["agatston"], per_artery["LCX"]["agatston"], per_artery["RCA"]["agatston"]) == (
        pytest.approx(24.0), pytest.approx(9.0), pytest.approx(24.0))  # unchanged by E (tests/scoring/test_report.py)
    assert report.agatston == pytest.approx(57.0 + undetermined)
    assert sum(row["agatston"] for row in per_artery.values()) == pytest.approx(report.agatston)
    assert [lesion.artery for lesion in report.lesions].count("undetermined") == 1
    assert report.to_dict()["per_artery"]["undetermined"]["agatston"] == pytest.approx(undetermined)
    rows = [line.strip("│ ").split() for line in summary_text(report).splitlines()]
    assert ["undetermined", "│", "18.0", "│", "18.0", "│", "-", "│", "1"] in rows


def test_label_4_alone_still_reads_as_artery_labels_and_other_values_are_refused(tmp_path):
    volume = make_volume((3, 16, 16), (3.0, 1.0, 1.0))
    labels = np.zeros(volume.shape, np.int32)
    volume.hu[1, 2:4, 2:4] = 300  # 4 mm^2, weight 3
    labels[1, 2:4, 2:4] = 4
    assert score_mask(volume, labels).per_artery()["undetermined"]["agatston"] == pytest.approx(12.0)
    labels[1, 2, 2] = 1
    assert score_mask(volume, labels).per_artery() is not None  # {0, 1, 4}: artery labels, not a 0/1 mask
    labels[1, 2, 2] = 5
    assert score_mask(volume, labels).per_artery() is None  # auto: a value beyond 4 means a binary mask
    with pytest.raises(LabelError, match=r"ref\.mhd: artery labels must be 0 background, 1 LAD, 2 LCX, 3 RCA, "
                                         r"4 undetermined; found \[5\]"):
        score_mask(volume, labels, ScoringOptions(mask_labels="arteries"), mask_path=tmp_path / "ref.mhd")


def test_mask_shape_mismatch_is_a_clear_error(tmp_path):
    volume = make_volume((3, 16, 16))
    with pytest.raises(LabelError, match=r"mask.mhd: mask shape \(z, y, x\) = \(3, 16, 15\) differs from the CT's "
                                          r"\(3, 16, 16\)"):
        score_mask(volume, np.zeros((3, 16, 15), np.uint8), mask_path=tmp_path / "mask.mhd")
    with pytest.raises(LabelError, match="mask voxel spacing"):
        score_mask(volume, np.zeros((3, 16, 16), np.uint8), mask_spacing_mm=(2.5, 0.5, 0.5))


def test_2d_image_without_hu_is_refused():
    volume = make_volume((1, 16, 16), (1.0, 1.0, 1.0), fmt="image", has_hu=False)
    with pytest.raises(ScanReadError, match="needs Hounsfield units.*grey values"):
        score_mask(volume, np.zeros((1, 16, 16), np.uint8))


def test_report_dict_has_the_keys_and_no_patient_identifiers():
    volume, labels = _four_weights_case()
    volume.meta.patient = {"PatientName": "DOE^JANE", "PatientID": "MRN-0042"}
    data = score_mask(volume, labels).to_dict()
    for key in ("agatston", "volume_mm3", "risk_category", "lesions", "per_artery", "options", "conventions"):
        assert key in data
    text = json.dumps(data)
    assert "DOE" not in text and "MRN-0042" not in text
    assert data["options"]["threshold_hu"] == 130.0 and data["conventions"]["slice_factor"] == 1.0
    assert "15.5" in summary_text(score_mask(volume, labels))


def test_empty_mask_scores_zero():
    volume = make_volume((3, 16, 16))
    report = score_mask(volume, np.zeros(volume.shape, np.uint8))
    assert report.agatston == 0 and report.volume_mm3 == 0 and report.lesions == []
    assert report.risk.index == 0


def test_probability_maps_are_refused_as_masks(tmp_path):
    from tests.scoring.builders import write_mhd
    from tqgd.scoring.masks import read_mask

    path = write_mhd(np.full((2, 4, 4), 0.7), tmp_path / "probabilities.mhd", (3.0, 1.0, 1.0), np.float32)
    with pytest.raises(LabelError, match="probabilities.mhd: mask values must be whole numbers.*not probabilities"):
        read_mask(path)
    with pytest.raises(LabelError, match="cannot read mask"):
        read_mask(tmp_path / "missing.mhd")
