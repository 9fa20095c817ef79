"""detect_volume with the lesion verifier: rejected components lose their boxes before 3D completion; recorded."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tqgd.engine.detect as detect
from tqgd.data.model_input import InputSpec
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.data.windowing import parse_window
from tqgd.engine.detect import DetectOptions, detect_volume
from tqgd.errors import ConfigError


class RejectLong:
    """Stub verifier: rejects components longer than 1.2 cm along z."""

    threshold = 0.5

    def probabilities(self, patches, scalars):
        return np.where(scalars[:, 1] > 1.2, 0.1, 0.9)

    def describe(self, threshold):
        return {"file": "stub.onnx", "threshold": threshold}


def _volume() -> CTVolume:
    hu = np.full((8, 40, 40), 40.0, dtype=np.float32)
    hu[2:5, 8:14, 8:14] = 500.0     # a deposit over three slices
    hu[:, 30:33, 30:33] = 400.0      # a rod through every slice
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    return CTVolume(hu=hu, spacing_mm=(3.0, 0.5, 0.5), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)


@pytest.mark.parametrize("verify, physics", [(True, True), (False, True), (True, False)])
def test_rejected_components_lose_their_boxes_and_the_run_records_it(monkeypatch, verify, physics):
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    rows = {3: np.array([[8, 8, 14, 14, 0.7, 0], [30, 30, 33, 33, 0.6, 0]]), 5: np.array([[30, 30, 33, 33, 0.5, 0]])}
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None:
                        [rows.get(z, np.zeros((0, 6))).copy() for z in range(8)])
    monkeypatch.setattr(detect, "load_verifier", lambda path=None: RejectLong())
    options = DetectOptions(verify=verify, physics_filter=physics, snap_boxes=False, complete_tips=False, conf=0.1)
    result = detect_volume(_volume(), detector, None, options)
    boxes = {s.slice_index: [d.box_xyxy for d in s.detections] for s in result.slices}
    if verify and physics:
        assert boxes == {3: [(8.0, 8.0, 14.0, 14.0)]}
        # the rod, unboxed once rejected, is shown to the verifier again by rescue and stays out
        assert result.model["verifier"] == {"file": "stub.onnx", "threshold": 0.5, "checked_components": 2,
                                            "rejected_components": 1, "dropped_boxes": 2,
                                            "rescue": {"min_score": 0.99, "min_voxels": 4, "confidence": 0.25,
                                                       "scored_unboxed_components": 1, "rescued_components": 0}}
    else:
        assert boxes == {3: [(8.0, 8.0, 14.0, 14.0), (30.0, 30.0, 33.0, 33.0)], 5: [(30.0, 30.0, 33.0, 33.0)]}
        assert result.model["verifier"] is None


def test_verify_threshold_overrides_the_recorded_one_and_is_checked(monkeypatch):
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None:
                        [np.array([[30, 30, 33, 33, 0.5, 0]]) for _ in images])
    monkeypatch.setattr(detect, "load_verifier", lambda path=None: RejectLong())
    result = detect_volume(_volume(), detector, None, DetectOptions(verify_threshold=0.05, snap_boxes=False))
    assert result.model["verifier"]["threshold"] == 0.05 and result.model["verifier"]["rejected_components"] == 0
    assert len(result.slices) == 8
    with pytest.raises(ConfigError, match="verify-threshold"):
        DetectOptions(verify_threshold=1.5)


@pytest.mark.parametrize("whole_score, expect", [(0.5, [2, 3, 4, 5]), (0.95, [3]), (None, [3])])
def test_a_component_the_verifier_is_sure_of_is_completed_whole(monkeypatch, whole_score, expect):
    """A box on the middle slice of a deposit whose slices hold 36 px each: with the verifier's 0.9 at or above
    ``whole_lesion_score`` every slice of it gets a box (recorded), below it or off none (the pieces exceed the 10 px
    tip rule)."""
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    volume = _volume()  # the rod keeps every slice in the model's batch; no box sits on it
    volume.hu[2:6, 8:14, 8:14] = 500.0
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None:
                        [np.array([[8, 8, 14, 14, 0.7, 0]]) if z == 3 else np.zeros((0, 6)) for z in range(8)])
    monkeypatch.setattr(detect, "load_verifier", lambda path=None: RejectLong())
    options = DetectOptions(conf=0.1, snap_boxes=False, whole_lesion_score=whole_score)
    result = detect_volume(volume, detector, None, options)
    assert [s.slice_index for s in result.slices] == expect
    assert all(d.box_xyxy == (8.0, 8.0, 14.0, 14.0) for s in result.slices for d in s.detections)
    completion = result.model["tip_completion"]
    assert completion["added_boxes"] == len(expect) - 1
    assert completion["whole_lesion_score"] == whole_score
    with pytest.raises(ConfigError, match="whole-lesion-score"):
        DetectOptions(whole_lesion_score=1.5)


@pytest.mark.parametrize("names, rescued", [({0: "calcium"}, True), ({0: "LAD", 1: "RCA"}, False)])
def test_an_unboxed_component_the_verifier_is_sure_of_is_rescued_whole(monkeypatch, names, rescued):
    """The model boxes nothing; with ``rescue_score`` the deposit (scored 0.9) is seeded on one slice and completed
    on its others, each box marked by origin; the rod (scored 0.1) stays out. A model without a calcium class
    cannot name a rescued component: the run records why it skipped."""
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names=names, operating_conf=0.3,
                               describe=lambda: {"weights": "fake"})
    volume = _volume()
    volume.hu[3, 8:14, 14:16] = 500.0  # slice 3 is the deposit's largest
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None: [np.zeros((0, 6)) for _ in images])
    monkeypatch.setattr(detect, "load_verifier", lambda path=None: RejectLong())
    result = detect_volume(volume, detector, None, DetectOptions(conf=0.2, snap_boxes=False, rescue_score=0.8))
    found = {s.slice_index: [(d.box_xyxy, d.origin, d.confidence) for d in s.detections] for s in result.slices}
    record = result.model["verifier"]["rescue"]
    if rescued:
        assert found == {2: [((8.0, 8.0, 14.0, 14.0), "3d-completion", 0.3)],
                         3: [((8.0, 8.0, 16.0, 14.0), "verifier", 0.3)],
                         4: [((8.0, 8.0, 14.0, 14.0), "3d-completion", 0.3)]}
        assert record == {"min_score": 0.8, "min_voxels": 4, "confidence": 0.3, "scored_unboxed_components": 2,
                          "rescued_components": 1}
    else:
        assert found == {} and record["skipped"] == "no calcium class in the model"
    off = DetectOptions(conf=0.2, snap_boxes=False, rescue_score=None)
    assert detect_volume(volume, detector, None, off).slices == []
    with pytest.raises(ConfigError, match="rescue-score"):
        DetectOptions(rescue_score=-0.1)
