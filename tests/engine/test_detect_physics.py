"""The physics filter of ``detect_volume``: a box without a voxel >= 130 HU cannot be calcium and is dropped."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tqgd.engine.detect as detect
from tqgd.data.model_input import InputSpec
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.data.windowing import parse_window
from tqgd.engine.detect import DetectOptions, detect_volume, holds_calcium, snap_to_calcium


def _volume() -> CTVolume:
    hu = np.full((2, 32, 32), 40.0, dtype=np.float32)
    hu[0, 10:12, 10:12] = 400.0  # calcium
    hu[0, 20, 25] = 130.0  # exactly the threshold: counts (Agatston's >= 130)
    hu[0, 5, 25] = 129.0  # just below: does not
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    return CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)


#: Boxes (x0, y0, x1, y1, conf, class) on slice 0: on calcium, on the 130 HU pixel, on the 129 HU pixel, on soft tissue.
ROWS = np.array([[9.0, 9.0, 13.0, 13.0, 0.9, 0], [24.5, 19.5, 25.5, 20.5, 0.8, 0], [24.2, 4.2, 25.8, 5.8, 0.7, 0],
                 [2.0, 20.0, 6.0, 24.0, 0.6, 0]])


def test_holds_calcium_checks_every_pixel_the_box_touches():
    keep = holds_calcium(_volume().hu[0], ROWS, 130.0)
    assert keep.tolist() == [True, True, False, False]


@pytest.mark.parametrize("physics, kept, dropped", [(True, 2, 2), (False, 4, None)])
def test_detect_volume_drops_and_counts(monkeypatch, physics, kept, dropped):
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None:
                        [ROWS.copy(), np.zeros((0, 6))][:len(images)])  # slice 1 (no calcium) skips with the filter
    result = detect_volume(_volume(), detector, None, DetectOptions(physics_filter=physics, verify=False))
    assert len(result.all_detections()) == kept
    record = result.model["physics_filter"]
    assert (record["dropped_boxes"] if record else None) == dropped


def test_snap_gives_the_tight_box_of_the_deposit_and_merges_duplicates():
    from scipy import ndimage

    hu = np.full((40, 40), 40.0, dtype=np.float32)
    hu[10:12, 20:23] = 300.0  # a 2 x 3 px deposit
    hu[12, 23] = 500.0  # diagonal neighbour: 8-connected to it, brightest pixel
    hu[30, 5] = 200.0  # a 1 px speck
    rows = np.array([[18.6, 9.2, 24.1, 13.4, 0.9, 0],   # loose box on the deposit
                     [21.0, 10.0, 23.0, 12.0, 0.5, 0],  # a second, tighter box on the same deposit
                     [3.0, 28.0, 8.0, 33.0, 0.7, 0],    # box around the speck
                     [30.0, 30.0, 34.0, 34.0, 0.4, 0]])  # no calcium: kept as it is
    snapped = snap_to_calcium(hu, rows, 130.0)
    labels, _ = ndimage.label(hu >= 130, structure=np.ones((3, 3)))
    ys, xs = np.nonzero(labels == labels[12, 23])
    deposit = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert snapped[:, :4].tolist() == [deposit, [5, 30, 6, 31], [30, 30, 34, 34]]
    assert snapped[:, 4].tolist() == [0.9, 0.7, 0.4]


def test_boxes_on_metal_are_dropped_after_snapping_and_counted(monkeypatch):
    """A wire saturating the scanner (3071 HU) with blooming around it is not calcium; calcium next to it stays."""
    hu = np.full((1, 40, 40), 40.0, dtype=np.float32)
    hu[0, 10:13, 10:13] = 600.0  # blooming around the wire
    hu[0, 11, 11] = 3071.0  # the wire's core
    hu[0, 30:32, 30:32] = 1400.0  # dense calcium: under metal density
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    volume = CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)
    rows = np.array([[9.0, 9.0, 14.0, 14.0, 0.9, 0], [29.0, 29.0, 33.0, 33.0, 0.8, 0]])
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None: [rows.copy()])
    result = detect_volume(volume, detector, None, DetectOptions(verify=False))
    assert [d.box_xyxy for _, d in result.all_detections()] == [(30.0, 30.0, 32.0, 32.0)]
    assert result.model["physics_filter"]["dropped_metal_boxes"] == 1
    off = detect_volume(volume, detector, None, DetectOptions(physics_filter=False, verify=False))
    assert len(off.all_detections()) == 2


def test_boxes_on_part_of_a_larger_structure_are_dropped_but_enclosed_deposits_stay(monkeypatch):
    """A box on a stretch of a long bright bar (a rib, the aortic wall) is dropped and counted; a deposit the box
    encloses stays, and so does one cut by the slice border (the window stops there, not the structure)."""
    hu = np.full((1, 60, 60), 40.0, dtype=np.float32)
    hu[0, 20:23, 5:55] = 700.0  # a 50 px bar
    hu[0, 40:43, 30:33] = 400.0  # a 3 x 3 deposit
    hu[0, 50:53, 0:3] = 400.0  # a deposit at the slice border
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    volume = CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)
    rows = np.array([[25.0, 19.0, 31.0, 24.0, 0.9, 0],   # 6 px of the bar
                     [29.0, 39.0, 34.0, 44.0, 0.8, 0],   # the deposit
                     [0.0, 49.0, 4.0, 54.0, 0.7, 0]])    # the border deposit
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None: [rows.copy()])
    result = detect_volume(volume, detector, None, DetectOptions(verify=False))
    assert sorted(d.box_xyxy for _, d in result.all_detections()) == [(0.0, 50.0, 3.0, 53.0), (30.0, 40.0, 33.0, 43.0)]
    assert result.model["physics_filter"]["dropped_spilling_boxes"] == 1
    kept = detect_volume(volume, detector, None, DetectOptions(drop_spilling=False, verify=False))
    assert len(kept.all_detections()) == 3


@pytest.mark.parametrize("physics", [True, False])
def test_slices_without_calcium_in_the_crop_skip_the_model_only_with_the_filter(monkeypatch, physics):
    hu = np.full((6, 32, 32), 40.0, dtype=np.float32)
    hu[2, 10:13, 10:13] = 400.0
    hu[4, 30, 30] = 400.0  # outside the crop below
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    volume = CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    seen = []

    def predict(det, images, conf, imgsz=None):
        seen.append(len(images))
        return [np.array([[10.0, 10.0, 13.0, 13.0, 0.9, 0]]) for _ in images]

    monkeypatch.setattr(detect, "predict", predict)
    monkeypatch.setattr(detect, "model_crop", lambda *args: (0, 0, 24, 24))
    result = detect_volume(volume, detector, None, DetectOptions(physics_filter=physics, verify=False, batch=4))
    assert sum(seen) == (1 if physics else 6)
    assert [s.slice_index for s in result.slices] == ([2] if physics else [0, 1, 2, 3, 4, 5])
