"""``tqgd score`` and ``tqgd evaluate`` through the real CLI entry point: exit codes, files, messages."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.helpers import run_tqgd
from tests.scoring.builders import (
    boxes_from_labels,
    detection_result,
    four_label_case,
    make_volume,
    three_lesion_case,
    write_mhd,
    write_orcascore_case,
)
from tqgd.detections import save_detections

EXPECTED_AGATSTON = 57.0  # three_lesion_case: A 24 + B 9 + C 24 (see tests/scoring/test_report.py)


@pytest.fixture()
def case_files(tmp_path):
    """A hand-built CT and its artery labels as MetaImage files, plus a perfect detections.json."""
    volume, labels = three_lesion_case()
    ct, reference = write_orcascore_case(tmp_path / "set", "TRV1P1", volume, labels)
    detections = tmp_path / "TRV1P1.json"
    save_detections(detection_result(make_volume(volume.shape, volume.spacing_mm), boxes_from_labels(labels)),
                    detections)
    return ct, reference, detections, labels


def test_score_with_mask_writes_json_report_and_table(monkeypatch, capsys, tmp_path, case_files):
    ct, reference, _, _ = case_files
    code, out, err = run_tqgd(monkeypatch, capsys, "score", ct, "--mask", reference, "--out", tmp_path / "out")
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "score.json").read_text())
    for key in ("agatston", "volume_mm3", "risk_category", "lesions", "per_artery", "options", "conventions"):
        assert key in data
    assert data["agatston"] == pytest.approx(EXPECTED_AGATSTON)
    assert data["per_artery"]["LCX"]["agatston"] == pytest.approx(9.0)
    assert data["risk_category"] == "11-100 (mild)"
    assert cv2.imread(str(tmp_path / "out" / "report.png")) is not None
    assert "Total" in out and "57.0" in out and "11-100 (mild)" in out


def test_score_with_detections_and_options(monkeypatch, capsys, tmp_path, case_files):
    ct, _, detections, _ = case_files
    code, _, err = run_tqgd(monkeypatch, capsys, "score", ct, "--detections", detections, "--out", tmp_path / "o",
                            "--risk-scheme", "four-class", "--mass-calibration", "0.8", "--no-png")
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "score.json").read_text())
    assert data["agatston"] == pytest.approx(EXPECTED_AGATSTON)
    assert data["risk_category"] == "1-99 (mild)" and data["mass_mg"] > 0
    assert data["input"]["kind"] == "detections" and data["options"]["risk_scheme"] == "four-class"
    assert not (tmp_path / "o" / "report.png").exists()


UNDETERMINED_AGATSTON = 18.0  # four_label_case's lesion E (label 4): 3 mm^2 x weight 2 + 3 mm^2 x weight 4


def test_score_label_4_reference_gives_an_undetermined_row(monkeypatch, capsys, tmp_path):
    volume, labels = four_label_case()
    ct, reference = write_orcascore_case(tmp_path / "set", "TRV1P1", volume, labels)
    code, out, err = run_tqgd(monkeypatch, capsys, "score", ct, "--mask", reference, "--out", tmp_path / "out",
                              "--risk-scheme", "orcascore")
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "score.json").read_text())
    assert list(data["per_artery"]) == ["LAD", "LCX", "RCA", "undetermined"]
    assert data["per_artery"]["undetermined"]["agatston"] == pytest.approx(UNDETERMINED_AGATSTON)
    assert data["agatston"] == pytest.approx(EXPECTED_AGATSTON + UNDETERMINED_AGATSTON)
    assert data["risk_category"] == "11-100 (II)" and data["risk_scheme"] == "orcascore"
    assert cv2.imread(str(tmp_path / "out" / "report.png")) is not None
    assert "undetermined" in out and "18.0" in out and "11-100 (II)" in out


def test_evaluate_label_4_set_with_artery_detections(monkeypatch, capsys, tmp_path):
    root, predictions = tmp_path / "set", tmp_path / "pred"
    predictions.mkdir()
    for number in (1, 2):
        volume, labels = four_label_case()
        if number == 2:
            labels[labels == 4] = 0  # no label 4 in this patient, and E's voxels are no calcium of the reference
        write_orcascore_case(root, f"TRV1P{number}", volume, labels)
        detected = labels.copy()
        detected[labels == 1] = 0  # the detector misses the LAD lesion in both patients
        save_detections(detection_result(make_volume(volume.shape, volume.spacing_mm), boxes_from_labels(detected)),
                        predictions / f"TRV1P{number}.json")
    code, out, err = run_tqgd(monkeypatch, capsys, "evaluate", "--orcascore", root, "--predictions", predictions,
                              "--out", tmp_path / "ev", "--risk-scheme", "orcascore")
    assert code == 0, err
    data = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    pooled = data["per_artery"]
    assert list(pooled) == ["LAD", "LCX", "RCA", "undetermined"]
    assert (pooled["undetermined"]["reference_lesions"], pooled["undetermined"]["detected_reference_lesions"]) == (1, 1)
    assert pooled["undetermined"]["ppv"] == 1.0 and pooled["LAD"]["sensitivity"] == 0.0
    assert data["patients"][0]["per_artery"]["undetermined"]["reference_volume_mm3"] == pytest.approx(24 * 0.75)
    assert data["patients"][0]["reference_score"]["per_artery"]["undetermined"]["agatston"] == pytest.approx(
        UNDETERMINED_AGATSTON)
    assert data["agreement"]["risk_categories"][-1] == ">1000 (IV)"
    assert len(data["agreement"]["risk_confusion_matrix"]) == 4
    assert "Lesions per artery" in out and "undetermined" in out


@pytest.mark.parametrize("extra", [[], ["--mask", "REF", "--detections", "DET"]])
def test_score_needs_exactly_one_prediction(monkeypatch, capsys, tmp_path, case_files, extra):
    ct, reference, detections, _ = case_files
    extra = [reference if a == "REF" else detections if a == "DET" else a for a in extra]
    code, _, err = run_tqgd(monkeypatch, capsys, "score", ct, *extra, "--out", tmp_path / "o")
    assert code == 2 and "exactly one of --mask or --detections" in err


def test_score_bad_inputs_exit_1_with_clear_messages(monkeypatch, capsys, tmp_path, case_files):
    ct, _, _, labels = case_files
    small = write_mhd(labels[:, :, :30], tmp_path / "small.mhd", (3.0, 0.5, 0.5), np.uint8)
    code, _, err = run_tqgd(monkeypatch, capsys, "score", ct, "--mask", small, "--out", tmp_path / "o")
    assert code == 1 and "small.mhd: mask shape (z, y, x) = (6, 40, 30) differs from the CT's (6, 40, 40)" in err
    png = tmp_path / "slice.png"
    cv2.imwrite(str(png), np.zeros((40, 40), np.uint8))
    slice_mask = write_mhd(np.zeros((1, 40, 40)), tmp_path / "slice_mask.mhd", (1.0, 1.0, 1.0), np.uint8)
    code, _, err = run_tqgd(monkeypatch, capsys, "score", png, "--mask", slice_mask, "--out", tmp_path / "o")
    assert code == 1 and "needs Hounsfield units" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "score", ct, "--mask", small, "--out", tmp_path / "o",
                            "--kvp-table", "eighty")
    assert code == 1 and "--kvp-table entries look like 80=167" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "score", ct, "--mask", small, "--out", tmp_path / "o",
                            "--slice-normalisation", "slab")
    assert code == 1 and "unknown slice_normalisation 'slab'" in err
    assert not (tmp_path / "o").exists()  # nothing written on failure


def test_score_never_overwrites_an_input(monkeypatch, capsys, tmp_path, case_files):
    ct, _, detections, _ = case_files
    (tmp_path / "out").mkdir()
    clash = detections.rename(tmp_path / "out" / "score.json")  # detections saved where score.json would go
    before = clash.read_bytes()
    code, _, err = run_tqgd(monkeypatch, capsys, "score", ct, "--detections", clash, "--out", tmp_path / "out")
    assert code == 1 and "score.json: this output file would overwrite an input" in err
    assert clash.read_bytes() == before


def test_evaluate_single_patient(monkeypatch, capsys, tmp_path, case_files):
    ct, reference, detections, _ = case_files
    code, out, err = run_tqgd(monkeypatch, capsys, "evaluate", ct, "--reference", reference, "--detections",
                              detections, "--out", tmp_path / "ev")
    assert code == 0, err
    data = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert data["lesions"]["sensitivity"] == 1.0 and data["lesions"]["ppv"] == 1.0
    assert data["agreement"]["icc_a1_agatston"] is None  # one patient: undefined, not invented
    assert (tmp_path / "ev" / "per_patient.csv").read_text().startswith("case_id,")
    assert "ICC(A,1) Agatston -" in out


def test_evaluate_set_writes_statistics_and_figures(monkeypatch, capsys, tmp_path):
    root, predictions = tmp_path / "set", tmp_path / "pred"
    for i, size in enumerate((2, 6, 12), start=1):
        volume = make_volume((5, 32, 32))
        labels = np.zeros(volume.shape, np.uint8)
        volume.hu[1:3, 4:4 + size, 4:4 + size] = 150 + 120 * i
        labels[1:3, 4:4 + size, 4:4 + size] = i
        write_orcascore_case(root, f"TRV1P{i}", volume, labels)
        predicted = labels.copy()
        predicted[2] = 0  # the prediction misses the lesion's second slice
        write_mhd(predicted, predictions / f"TRV1P{i}_pred.nii.gz", volume.spacing_mm, np.uint8)
    code, out, err = run_tqgd(monkeypatch, capsys, "evaluate", "--orcascore", root, "--predictions", predictions,
                              "--out", tmp_path / "ev")
    assert code == 0, err
    data = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert data["agreement"]["patients"] == 3
    assert data["lesions"]["sensitivity"] == 1.0 and data["lesions"]["ppv_volume"] == 1.0
    assert data["agreement"]["bland_altman_agatston"]["bias"] < 0  # half of every lesion missed
    for name in ("bland_altman.png", "risk_confusion.png", "per_patient.csv"):
        assert (tmp_path / "ev" / name).exists()
    assert "TRV1P3" in out


def test_evaluate_argument_errors(monkeypatch, capsys, tmp_path, case_files):
    ct, reference, detections, _ = case_files
    code, _, err = run_tqgd(monkeypatch, capsys, "evaluate", ct, "--detections", detections, "--out", tmp_path / "e")
    assert code == 2 and "--reference" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "evaluate", ct, "--orcascore", tmp_path, "--out", tmp_path / "e")
    assert code == 2 and "--orcascore ROOT --predictions DIR" in err


@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_help_has_an_example(monkeypatch, capsys, command):
    code, out, _ = run_tqgd(monkeypatch, capsys, command, "--help")
    assert code == 0 and "Example: tqgd" in out


def test_score_dicom_overlapping_low_kv_series_without_identifiers(monkeypatch, capsys, tmp_path):
    from tqgd.data.writers import write_dicom_series

    volume = make_volume((6, 24, 24), (1.5, 1.0, 1.0), kvp=100.0, slice_thickness_mm=3.0)
    labels = np.zeros(volume.shape, np.uint8)
    volume.hu[2:4, 5:7, 5:7] = 300  # 4 mm^2, weight 3, seen on two overlapping slices
    labels[2:4, 5:7, 5:7] = 1
    volume.hu[2, 12:14, 12:14] = 140  # counts at 130 HU, not at the 100 kVp threshold of 147 HU
    labels[2, 12:14, 12:14] = 1
    write_dicom_series(volume, tmp_path / "dicom", patient_name="DOE^JANE", patient_id="MRN-0042", kvp=100.0,
                       slice_thickness_mm=3.0, uid_seed="scoring-test")
    mask = write_mhd(labels, tmp_path / "mask.mhd", volume.spacing_mm, np.uint8)
    code, _, err = run_tqgd(monkeypatch, capsys, "score", tmp_path / "dicom", "--mask", mask, "--out", tmp_path / "a")
    assert code == 0, err
    data = json.loads((tmp_path / "a" / "score.json").read_text())
    assert data["scan"]["slice_thickness_mm"] == 3.0 and data["scan"]["kvp"] == 100.0
    assert data["conventions"]["slice_factor"] == pytest.approx(0.5)
    assert data["agatston"] == pytest.approx((2 * 4.0 * 3 + 4.0 * 1) * 0.5)  # 14
    text = (tmp_path / "a" / "score.json").read_text()
    assert "DOE" not in text and "MRN-0042" not in text
    code, _, err = run_tqgd(monkeypatch, capsys, "score", tmp_path / "dicom", "--mask", mask, "--out", tmp_path / "b",
                            "--kvp-threshold", "--slice-normalisation", "thickness")
    assert code == 0, err
    data = json.loads((tmp_path / "b" / "score.json").read_text())
    assert data["conventions"]["threshold_hu"] == 147.0 and data["conventions"]["slice_factor"] == 1.0
    assert data["agatston"] == pytest.approx(2 * 4.0 * 3)  # 24: the 140 HU lesion is gone, overlap double counts
