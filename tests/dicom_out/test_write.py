"""``tqgd score --dicom`` and ``tqgd detect --dicom``: SEG, SR and SC read back with highdicom equal what was scored."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest

from tests.helpers import run_tqgd
from tqgd.data.readers import read_ct
from tqgd.dicom_out.readback import seg_labels, sr_numbers
from tqgd.dicom_out.sc import read_rgb
from tqgd.scoring import ScoringOptions, score_mask
from tqgd.scoring.masks import read_mask


@pytest.fixture(scope="module")
def scored(phantom_series, tmp_path_factory):
    """score --mask --dicom of the phantom (arteries labelled, mass calibrated)."""
    out = tmp_path_factory.mktemp("score-dicom")
    mp = pytest.MonkeyPatch()
    capsys = SimpleNamespace(readouterr=lambda: ("", ""))
    code, _, _ = run_tqgd(mp, capsys, "score", phantom_series.dicom, "--mask", phantom_series.mask, "--out", out,
                          "--dicom", "--mass-calibration", "0.8")
    mp.undo()
    assert code == 0
    return out


def _expected(phantom_series, mass: float | None = 0.8):
    volume = read_ct(phantom_series.dicom)
    mask, _ = read_mask(phantom_series.mask)
    return volume, score_mask(volume, mask, ScoringOptions(mass_calibration_mg_per_cm3_hu=mass))


def test_seg_voxels_are_the_scored_mask_one_segment_per_artery(phantom_series, scored) -> None:
    volume, report = _expected(phantom_series)
    labels, names = seg_labels(scored / "dicom" / "seg.dcm", volume.meta.sop_instance_uids)
    assert labels.shape == volume.shape
    assert np.array_equal(labels > 0, report.lesion_map > 0)
    arteries = {lesion.lesion_id: lesion.artery for lesion in report.lesions}
    assert len(names) >= 2 and set(names.values()) <= {"LAD", "LCX", "RCA", "undetermined"}
    for number, name in names.items():
        ids = np.unique(report.lesion_map[labels == number])
        assert ids.size and all(arteries[int(i)] == name for i in ids)


def test_sr_numbers_equal_score_json(scored) -> None:
    score = json.loads((scored / "score.json").read_text())
    numbers = sr_numbers(scored / "dicom" / "sr.dcm")
    for key in ("agatston", "volume_mm3", "mass_mg"):
        assert numbers[key] == score[key]
    assert numbers["risk_category"] == score["risk_category"]
    assert numbers["risk_scheme"] == score["risk_scheme"] == "five-class"
    assert set(numbers["per_artery"]) == set(score["per_artery"])
    for artery, values in score["per_artery"].items():
        assert {k: numbers["per_artery"][artery][k] for k in ("agatston", "volume_mm3", "mass_mg")} == \
            {k: values[k] for k in ("agatston", "volume_mm3", "mass_mg")}
    assert len(numbers["lesions"]) == len(score["lesions"]) > 0
    for lesion in score["lesions"]:
        got = numbers["lesions"][lesion["lesion_id"]]
        assert (got["agatston"], got["volume_mm3"], got["mass_mg"]) == \
            (lesion["agatston"], lesion["volume_mm3"], lesion["mass_mg"])
    assert numbers["algorithm"]["name"] == "tqgd calcium scoring of a given mask"
    assert numbers["algorithm"]["parameters"][0].startswith("mask_sha256=")


def test_sr_regions_reference_the_seg_segments(scored) -> None:
    seg = pydicom.dcmread(scored / "dicom" / "seg.dcm")
    numbers = sr_numbers(scored / "dicom" / "sr.dcm")
    assert numbers["referenced_seg"] == seg.SOPInstanceUID
    by_label = {item.SegmentLabel: int(item.SegmentNumber) for item in seg.SegmentSequence}
    score = json.loads((scored / "score.json").read_text())
    for lesion in score["lesions"]:
        assert numbers["segments"][f"lesion {lesion['lesion_id']}"] == [by_label[lesion["artery"]]]
    for artery in by_label:
        assert numbers["segments"][f"calcium {artery}"] == [by_label[artery]]


def test_objects_carry_the_source_patient_and_study_and_reference_its_instances(phantom_series, scored) -> None:
    source = pydicom.dcmread(next(phantom_series.dicom.glob("*.dcm")))
    volume = read_ct(phantom_series.dicom)
    for name in ("seg", "sr", "sc"):
        ds = pydicom.dcmread(scored / "dicom" / f"{name}.dcm")
        assert (ds.PatientID, ds.PatientName, ds.StudyInstanceUID) == \
            (source.PatientID, source.PatientName, source.StudyInstanceUID)
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
    seg = pydicom.dcmread(scored / "dicom" / "seg.dcm")
    referenced = {item.ReferencedSOPInstanceUID for series in seg.ReferencedSeriesSequence
                  for item in series.ReferencedInstanceSequence}
    assert referenced == set(volume.meta.sop_instance_uids)
    score_text = (scored / "score.json").read_text()
    assert source.PatientID not in score_text and str(source.PatientName) not in score_text


def test_secondary_capture_holds_report_png(scored) -> None:
    sc = pydicom.dcmread(scored / "dicom" / "sc.dcm")
    assert sc.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert np.array_equal(sc.pixel_array, read_rgb(scored / "report.png"))


def test_uids_are_deterministic_and_follow_the_algorithm(phantom_series, scored, tmp_path, monkeypatch,
                                                         capsys) -> None:
    first = {n: pydicom.dcmread(scored / "dicom" / f"{n}.dcm").SOPInstanceUID for n in ("seg", "sr", "sc")}
    again, other = tmp_path / "again", tmp_path / "other"
    args = ["score", phantom_series.dicom, "--mask", phantom_series.mask, "--dicom"]
    assert run_tqgd(monkeypatch, capsys, *args, "--out", again, "--mass-calibration", "0.8")[0] == 0
    assert run_tqgd(monkeypatch, capsys, *args, "--out", other)[0] == 0
    assert {n: pydicom.dcmread(again / "dicom" / f"{n}.dcm").SOPInstanceUID for n in first} == first
    changed = {n: pydicom.dcmread(other / "dicom" / f"{n}.dcm").SOPInstanceUID for n in first}
    assert not set(changed.values()) & set(first.values())
    assert sr_numbers(other / "dicom" / "sr.dcm").get("mass_mg") is None  # mass only where calibrated


def test_binary_mask_gives_one_calcium_segment_and_no_calcium_still_a_valid_seg(phantom_series, tmp_path) -> None:
    from tqgd.dicom_out import mask_identity, write_dicom_results

    volume = read_ct(phantom_series.dicom)
    mask, _ = read_mask(phantom_series.mask)
    for name, values in (("binary", (mask > 0).astype(np.uint8)), ("empty", np.zeros_like(mask))):
        report = score_mask(volume, values)
        written = write_dicom_results(report, phantom_series.dicom, tmp_path / name, mask_identity(values),
                                      report_png=None, automatic=False)
        labels, names = seg_labels(written.seg, volume.meta.sop_instance_uids)
        assert names == {1: "calcium"} and np.array_equal(labels > 0, report.lesion_map > 0)
        assert written.sc is None and sr_numbers(written.sr)["agatston"] == report.agatston
    assert report.agatston == 0.0


def test_dicom_needs_a_dicom_input(phantom_series, tmp_path, monkeypatch, capsys) -> None:
    image = phantom_series.mask.parent.parent / "Images" / f"{phantom_series.case_id}CTI.mhd"
    code, _, err = run_tqgd(monkeypatch, capsys, "score", image, "--mask", phantom_series.mask, "--out", tmp_path,
                            "--dicom")
    assert code == 1 and "--dicom needs a DICOM CT input" in err
    assert not (tmp_path / "score.json").exists()


def test_a_different_series_is_refused(phantom_series, tmp_path) -> None:
    from tqgd.dicom_out.source import source_datasets
    from tqgd.errors import DicomOutputError

    with pytest.raises(DicomOutputError, match="the scored mask has 3 slices"):
        source_datasets(phantom_series.dicom, None, 3)
