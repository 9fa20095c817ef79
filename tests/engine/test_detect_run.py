"""Pieces of ``tqgd detect``: which scans a SOURCE holds, output names, CSV rows, which crop, model pixels."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.data.windowing import apply_window, parse_window
from tqgd.detections import Detection, DetectionResult, SliceDetections
from tqgd.engine.detect import DetectOptions, choose_crop
from tqgd.engine.detect_model import SliceDetector, model_pixels
from tqgd.engine.detect_run import ScanOutcome, detections_csv, failed_summary, find_scans, output_name
from tqgd.errors import CheckpointError, ConfigError, ScanReadError


def _volume(fmt: str = "dicom", scan_id: str = "scan", series_uid: str | None = "1.2.3.4", patient=None):
    meta = ScanMetadata(source=Path("x"), format=fmt, scan_id=scan_id, series_uid=series_uid, patient=patient or {})
    return CTVolume(hu=np.zeros((1, 4, 4), np.float32), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0),
                    direction=np.eye(3), meta=meta)


def test_find_scans_tells_one_series_from_a_folder_of_scans(tmp_path) -> None:
    single = tmp_path / "a.mhd"
    single.write_text("x")
    assert find_scans(single) == ([single], False)
    series = tmp_path / "series"
    series.mkdir()
    (series / "IM0001.dcm").write_bytes(b"")
    (series / "notes.txt").write_text("x")
    assert find_scans(series) == ([series], False)
    batch = tmp_path / "batch"
    (batch / "p1").mkdir(parents=True)
    for name in ("b.nii.gz", "a.mhd", "a.zraw", ".hidden.png", "readme.md", "c.png"):
        (batch / name).write_text("x")
    scans, several = find_scans(batch)
    assert several and [p.name for p in scans] == ["a.mhd", "b.nii.gz", "c.png", "p1"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ScanReadError, match="no scans here"):
        find_scans(empty)


def test_output_names_use_series_uids_and_never_patient_names() -> None:
    used: set[str] = set()
    assert output_name(_volume(), used) == "1.2.3.4"
    assert output_name(_volume(), used) == "1.2.3.4_2"  # two scans of one series stay apart
    assert output_name(_volume("metaimage", "TRV1P1", None), used) == "TRV1P1"
    named = _volume("nifti", "DOE_JOHN_chest", "9.8.7", patient={"name": "Doe^John"})
    assert output_name(named, used) == "9.8.7"
    assert output_name(_volume("image", "a b/c", None), used) == "a_b_c"


def test_csv_has_one_row_per_box_with_pixels_and_millimetres() -> None:
    det = Detection(box_xyxy=(1.0, 2.0, 3.5, 4.0), confidence=0.75, class_id=0, class_name="calcium",
                    box_patient_mm={"centre_mm": [10.0, 20.0, 30.0]})
    result = DetectionResult(source="s", shape_zyx=(5, 8, 8), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0),
                             direction=list(np.eye(3).flatten()), slices=[SliceDetections(3, [det, det])])
    rows = list(csv.DictReader(io.StringIO(detections_csv(result))))
    assert len(rows) == 2
    assert rows[0] == {"slice_index": "3", "class_id": "0", "class_name": "calcium", "confidence": "0.75",
                       "x0_px": "1.0", "y0_px": "2.0", "x1_px": "3.5", "y1_px": "4.0", "centre_x_mm": "10.0",
                       "centre_y_mm": "20.0", "centre_z_mm": "30.0", "origin": "model"}


def _detector(preprocess: dict) -> SliceDetector:
    return SliceDetector(weights=Path("/w/best.pt"), model=None, windowing=parse_window("paper"),
                         window_source="weights", imgsz=64, names={0: "calcium"}, preprocess=preprocess)


def test_crop_follows_what_the_weights_were_trained_with(tmp_path) -> None:
    cropper, notes = choose_crop(_detector({"crop": None}), None)
    assert cropper is None and "full slices" in notes[0]
    gone = {"crop": {"kind": "heart", "heart_weights": str(tmp_path / "gone.pt"), "settings": {"margin_mm": 5.0}}}
    with pytest.raises(CheckpointError, match=r"trained on heart-cropped slices \(recorded: .*gone.pt, not found\); "
                                              "pass --heart-weights"):
        choose_crop(_detector(gone), None)
    with pytest.raises(CheckpointError, match="trained on heart-cropped slices; pass --heart-weights"):
        choose_crop(_detector({"crop": "my_crop_function"}), None)
    with pytest.raises(ConfigError, match="unknown heart crop settings"):
        choose_crop(_detector({"crop": {"kind": "heart", "settings": {"margin": 1}}}), None)


def test_model_pixels_window_like_training_and_order_channels_bgr() -> None:
    hu = np.array([[[-1200.0, 0.0], [300.0, 1800.0]]], dtype=np.float32)
    (grey,) = model_pixels(hu, parse_window("paper"), True, "x")
    assert grey.shape == (2, 2, 3) and (grey == apply_window(hu[0], "paper")[..., None]).all()
    (bgr,) = model_pixels(hu, parse_window("rgb"), True, "x")
    np.testing.assert_array_equal(bgr, apply_window(hu[0], "rgb")[..., ::-1])
    (as_is,) = model_pixels(np.array([[[0.0, 255.0]]]), parse_window("paper"), False, "x")
    assert as_is[0, :, 0].tolist() == [0, 255]
    with pytest.raises(ScanReadError, match="8-bit export"):
        model_pixels(np.array([[[0.0, 4095.0]]]), parse_window("paper"), False, "x.png")


def test_failed_scans_are_summed_up_in_one_error() -> None:
    ok = ScanOutcome(source=Path("a"), name="a")
    assert failed_summary([ok]) is None
    bad = ScanOutcome(source=Path("b.mhd"), name="b", error="b.mhd: truncated")
    error = failed_summary([ok, bad])
    assert isinstance(error, ScanReadError) and "1 of 2 scans failed" in str(error) and "b.mhd: truncated" in str(error)


def test_detect_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="--conf"):
        DetectOptions(conf=1.0)
    with pytest.raises(ConfigError, match="--batch"):
        DetectOptions(batch=0)


def test_a_folder_run_keeps_each_scans_totals_but_releases_its_voxel_lesion_map(tmp_path) -> None:
    from tests.reliability.checkpoints import save_tqgd_checkpoint
    from tqgd.data.writers import write_dicom_series
    from tqgd.engine.detect_run import make_setup, run_detect

    for index in range(2):
        hu = np.full((3, 48, 48), 40.0, np.float32)
        hu[1, 20:24, 20:24] = 400.0
        volume = CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3),
                          meta=ScanMetadata(source=Path("x"), format="synthetic"))
        write_dicom_series(volume, tmp_path / "scans" / f"s{index}", uid_seed=f"scan{index}")
    setup = make_setup(save_tqgd_checkpoint(tmp_path / "w.pt"), None, DetectOptions(conf=0.001), device="cpu")
    seen = []
    outcomes = run_detect(tmp_path / "scans", tmp_path / "out", setup,
                          on_scan=lambda o: seen.append(o.score.lesion_map.shape))
    assert seen == [(3, 48, 48), (3, 48, 48)]  # while each scan is processed, the map is there (DICOM SEG needs it)
    assert [o.score.lesion_map for o in outcomes] == [None, None]
    assert all(o.error is None and o.score.risk.label for o in outcomes)
