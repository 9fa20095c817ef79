"""End to end through the real CLI on tiny phantom data: heart dataset -> heart train -> convert with heart crop ->
train (1 epoch) -> val -> detect on a held-out DICOM series, then the outputs checked against independent sources.

The heart detector is trained for real (30 epochs of batch 4 at 64 px, about half a minute) so the crop is a true
heart ROI with a non-zero offset; the calcium model gets one epoch, so its boxes are checked for where they land,
not for being right.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.cli import main
from tqgd.data.convert.manifest import read_manifest
from tqgd.data.phantom.layout import write_phantom_set
from tqgd.data.readers import read_ct
from tqgd.detections import load_detections

pytestmark = pytest.mark.slow


def tqgd_cli(*args) -> None:
    """Run ``tqgd ARGS`` as the console script does and require exit code 0."""
    argv = sys.argv
    sys.argv = ["tqgd", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    assert int(exit_info.value.code or 0) == 0, f"tqgd {' '.join(map(str, args))} failed"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    write_phantom_set(root / "phantom", 3, seed=5, image_size=128)
    write_phantom_set(root / "test", 1, seed=99, image_size=128, formats=("orcascore", "dicom"))
    tqgd_cli("heart", "dataset", root / "phantom", root / "heart_ds", "--every", "2", "--folds", "3")
    tqgd_cli("heart", "train", "--data", root / "heart_ds" / "heart.yaml", "--epochs", "30", "--imgsz", "64",
             "--batch", "4", "--device", "cpu", "--project", root / "runs", "--name", "heart", "workers=0", "val=False")
    heart = root / "runs" / "heart" / "weights" / "best.pt"
    tqgd_cli("convert", "orcascore", root / "phantom", root / "ds", "--folds", "3", "--heart-weights", heart)
    tqgd_cli("train", "--data", root / "ds" / "orcascore.yaml", "--epochs", "1", "--imgsz", "128", "--batch", "4",
             "--device", "cpu", "--project", root / "runs", "--name", "calcium", "workers=0")
    weights = root / "runs" / "calcium" / "weights" / "best.pt"
    tqgd_cli("val", "--weights", weights, "--data", root / "ds" / "orcascore.yaml", "--imgsz", "128", "--device",
             "cpu", "--project", root / "runs", "--name", "val")
    # the model's own boxes (no physics filter, no snapping: tests/engine/test_detect_physics.py covers those), so the
    # crop-to-scanner mapping below can be checked against a direct prediction on the crop
    tqgd_cli("detect", root / "test" / "DICOM" / "TRV1P1", "--weights", weights, "--out", root / "detect", "--conf",
             "0.001", "--device", "cpu", "--no-physics-filter", "--no-snap")
    return {"root": root, "heart": heart, "weights": weights, "dicom": root / "test" / "DICOM" / "TRV1P1"}


def test_validation_wrote_metrics(pipeline) -> None:
    metrics = json.loads((pipeline["root"] / "runs" / "val" / "metrics.json").read_text())
    assert 0.0 <= metrics["ultralytics"]["map50"] <= 1.0 and metrics["counts"]["images"] > 0


def test_training_and_detection_crop_alike(pipeline) -> None:
    """The converter's per-image crop offsets are the ROIs the heart cropper gives those scans again."""
    from tqgd.engine.heart_crop import HeartCropper

    root = pipeline["root"]
    record = json.loads((root / "ds" / "convert.json").read_text())["crop"]
    assert record["kind"] == "heart" and record["heart_weights"] == str(pipeline["heart"])
    cropper = HeartCropper(pipeline["heart"])
    for row in read_manifest(root / "ds" / "manifest.csv"):
        roi = cropper.roi(read_ct(root / "phantom" / row.source))
        assert (row.crop_x0, row.crop_y0, row.crop_x0 + row.width, row.crop_y0 + row.height) == roi.xyxy


def test_detections_land_on_the_same_voxels_as_in_the_crop(pipeline) -> None:
    """Boxes in detections.json are the model's boxes on the cropped slice shifted by the ROI offset."""
    from tqgd.engine.detect_model import load_slice_detector, model_pixels, predict
    from tqgd.scoring.boxes import box_pixel_range

    result = load_detections(pipeline["root"] / "detect" / "detections.json")
    volume = read_ct(pipeline["dicom"])
    assert result.shape_zyx == volume.shape and result.series_uid == volume.meta.series_uid
    x0, y0, x1, y1 = (int(v) for v in result.heart_roi_xyxy)  # whole pixels, read back as numbers
    assert (x0, y0, x1, y1) == tuple(result.heart_roi_xyxy)
    assert (x0, y0) != (0, 0) and (x1, y1) != volume.shape[:0:-1]  # a real crop, not the whole slice
    detector = load_slice_detector(pipeline["weights"])
    with_boxes = [s for s in result.slices if s.detections]
    assert with_boxes
    for item in with_boxes[:: max(1, len(with_boxes) // 4)]:
        z = item.slice_index
        crop_hu = volume.hu[z, y0:y1, x0:x1]
        (rows,) = predict(detector, model_pixels(crop_hu[None], detector.windowing, True, "crop"), 0.001)
        mine = sorted(tuple(d.box_xyxy) for d in item.detections)
        shifted = sorted(tuple(np.round(r[:4] + [x0, y0, x0, y0], 3)) for r in rows)
        np.testing.assert_allclose(mine, shifted, atol=0.02)
        for d in item.detections:
            bx0, by0, bx1, by1 = d.box_xyxy
            assert x0 <= bx0 <= bx1 <= x1 and y0 <= by0 <= by1 <= y1  # inside the ROI, so inside the image
            r0, r1 = box_pixel_range(by0, by1, volume.shape[1])
            c0, c1 = box_pixel_range(bx0, bx1, volume.shape[2])
            full_patch = volume.hu[z, r0:r1, c0:c1]
            np.testing.assert_array_equal(full_patch, crop_hu[r0 - y0:r1 - y0, c0 - x0:c1 - x0])
            centre = volume.index_to_patient(np.array([z, (by0 + by1) / 2 - 0.5, (bx0 + bx1) / 2 - 0.5]))
            np.testing.assert_allclose(d.box_patient_mm["centre_mm"], centre, atol=1e-3)


def test_detect_outputs_name_the_crop_and_the_score(pipeline) -> None:
    out = pipeline["root"] / "detect"
    data = json.loads((out / "detections.json").read_text())
    crop = data["model"]["heart_crop"]
    assert crop["xyxy"] == data["heart_roi_xyxy"] and crop["heart_model"]["weights"] == str(pipeline["heart"])
    assert any("recorded in the calcium weights" in note for note in data["model"]["notes"])
    score = json.loads((out / "score.json").read_text())
    assert score["input"]["kind"] == "detections" and score["agatston"] >= 0.0
    assert (out / "report.png").is_file() and any((out / "overlays").glob("slice_*.png"))
