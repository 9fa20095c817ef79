"""Which part of each slice the calcium model sees: the square training crop, or with ``roi_crop`` the heart ROI
rounded up to 32 px; either way boxes come back in full-slice pixels."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tqgd.engine.detect as detect
from tqgd.data.model_input import InputSpec
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.data.windowing import apply_window, parse_window
from tqgd.engine.detect import DetectOptions, detect_volume
from tqgd.engine.heart_crop import HeartROI


def _volume() -> CTVolume:
    rng = np.random.default_rng(0)
    hu = rng.normal(40.0, 30.0, size=(2, 200, 240)).astype(np.float32)
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    return CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)


@pytest.mark.parametrize("roi_crop, box", [(False, (36, 21, 164, 149)), (True, (36, 53, 164, 117))])
def test_the_model_sees_the_crop_and_boxes_come_back_to_the_slice(monkeypatch, roi_crop, box) -> None:
    volume = _volume()
    spec = InputSpec(parse_window("calcium"), crop_size=128)
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    seen = []

    def predict(det, images, conf, imgsz=None):
        seen.append(([image.shape for image in images], imgsz, images[0][..., 0].copy()))
        return [np.array([[10.0, 12.0, 14.0, 15.0, 0.9, 0]]) for _ in images]

    monkeypatch.setattr(detect, "predict", predict)
    roi = HeartROI(xyxy=(50, 60, 150, 110), slices_run=[], slices_found=[], slices_kept=[],
                   median_box=(0.0, 0.0, 0.0, 0.0), margin_px=(0, 0))
    options = DetectOptions(conf=0.5, physics_filter=False, snap_boxes=False, roi_crop=roi_crop)
    result = detect_volume(volume, detector, roi, options)
    x0, y0, x1, y1 = box
    shapes, imgsz, first = seen[0]
    assert shapes == [(y1 - y0, x1 - x0, 3)] * 2 and imgsz == 128  # the longer side: no resizing, no padding
    np.testing.assert_array_equal(first, apply_window(volume.hu[0, y0:y1, x0:x1], spec.windowing))
    assert result.model["model_crop_xyxy"] == [x0, y0, x1, y1] and result.model["roi_crop"] is roi_crop
    assert [d.box_xyxy for _, d in result.all_detections()] == [(x0 + 10.0, y0 + 12.0, x0 + 14.0, y0 + 15.0)] * 2


def test_without_a_heart_roi_the_roi_crop_changes_nothing(monkeypatch) -> None:
    spec = InputSpec(parse_window("calcium"), crop_size=128)
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None: [np.zeros((0, 6)) for _ in images])
    crops = [detect_volume(_volume(), detector, None, DetectOptions(roi_crop=flag)).model["model_crop_xyxy"]
             for flag in (False, True)]
    assert crops[0] == crops[1] == [0, 0, 256, 256]


@pytest.mark.parametrize("recorded, option, crop, conf", [
    ((0.05, None), None, False, 0.05),   # weights without an ROI operating point: the square crop
    ((0.05, 0.1), None, True, 0.1),      # with one: the ROI crop at its confidence
    ((0.05, 0.1), False, False, 0.05),   # --square-crop: the square crop's confidence
    ((0.05, None), True, True, 0.05),    # --roi-crop without an ROI point: the only recorded confidence
    ((None, None), True, True, detect.DEFAULT_CONF)])
def test_the_crop_and_its_operating_point_go_together(recorded, option, crop, conf) -> None:
    detector = SimpleNamespace(operating_conf=recorded[0], operating_conf_roi=recorded[1])
    options = DetectOptions(roi_crop=option)
    assert detect.uses_roi_crop(detector, options) is crop and detect.operating_conf(detector, options) == conf
    assert detect.operating_conf(detector, DetectOptions(conf=0.3, roi_crop=option)) == 0.3
