"""3D completion: a found lesion's small end slices get boxes; other calcium and large pieces do not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

import tqgd.engine.detect as detect
from tqgd.data.model_input import InputSpec
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.data.windowing import parse_window
from tqgd.detections import load_detections, save_detections
from tqgd.engine.detect import DetectOptions, detect_volume
from tqgd.engine.lesion_tips import complete_tips


def _lesion_volume() -> np.ndarray:
    """(5, 40, 40) soft tissue with one lesion over five slices (tips of 2 and 1 px, a 30-40 px body) and a 2 px speck
    on slice 4 that touches nothing else."""
    hu = np.full((5, 40, 40), 40.0, dtype=np.float32)
    hu[0, 12, 14:16] = 300.0           # tip: 2 px
    hu[1, 10:15, 12:18] = 500.0        # 30 px
    hu[2, 10:15, 11:19] = 700.0        # 40 px
    hu[3, 10:15, 12:18] = 500.0        # 30 px
    hu[4, 11, 16] = 250.0              # tip: 1 px
    hu[4, 30, 30:32] = 400.0           # unconnected speck
    return hu


def _tight_box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


BODY = {z: np.array([[*_tight_box(_lesion_volume()[z] >= 130), 0.6 + z / 100, 0]]) for z in (1, 2, 3)}


def test_end_slices_of_a_found_lesion_get_their_tight_boxes():
    hu = _lesion_volume()
    out, counts, changed = complete_tips(hu, BODY, (0, 0, 40, 40))
    labels, _ = ndimage.label(hu >= 130)  # 6-connected, computed independently
    lesion = labels == labels[2, 12, 14]
    assert counts == {"added_boxes": 2, "raised_boxes": 0}
    assert out[0][:, :4].tolist() == [_tight_box(lesion[0])]
    assert out[4][:, :4].tolist() == [_tight_box(lesion[4])]  # the speck on slice 4 is not added
    assert out[0][0, 4:].tolist() == [0.61, 0] and out[4][0, 4:].tolist() == [0.63, 0]  # their neighbours' boxes
    assert all(np.array_equal(out[z], BODY[z]) for z in (1, 2, 3))
    assert {z: flags.tolist() for z, flags in changed.items()} == {0: [True], 1: [False], 2: [False], 3: [False],
                                                                  4: [True]}


def test_larger_pieces_are_not_added_and_stop_the_search():
    """From a box on the middle slice only, slices 1 and 3 hold 30 px pieces: neither they nor the tips beyond."""
    out, counts, _ = complete_tips(_lesion_volume(), {2: BODY[2]}, (0, 0, 40, 40))
    assert counts["added_boxes"] == 0 and list(out) == [2]
    out, counts, _ = complete_tips(_lesion_volume(), {2: BODY[2]}, (0, 0, 40, 40), max_area_px=30)
    assert counts["added_boxes"] == 4 and sorted(out) == [0, 1, 2, 3, 4]


def test_a_row_marked_whole_completes_pieces_of_any_size_and_only_its_own_component():
    """The middle slice's box marked whole adds the 30 px pieces and the tips beyond; the speck is not on it."""
    hu = _lesion_volume()
    out, counts, changed = complete_tips(hu, {2: BODY[2]}, (0, 0, 40, 40), whole={2: np.array([True])})
    labels, _ = ndimage.label(hu >= 130)
    lesion = labels == labels[2, 12, 14]
    assert counts == {"added_boxes": 4, "raised_boxes": 0} and sorted(out) == [0, 1, 2, 3, 4]
    assert all(out[z][:, :4].tolist() == [_tight_box(lesion[z])] for z in (0, 1, 3, 4))
    unmarked, _, _ = complete_tips(hu, {2: BODY[2]}, (0, 0, 40, 40), whole={2: np.array([False])})
    assert list(unmarked) == [2]


def test_bridge_fills_a_gap_between_two_boxed_slices_at_the_weaker_confidence():
    """Boxes on slices 1 and 3 (0.61, 0.63): the 40 px middle piece is left alone without ``bridge``, and gets its
    tight box at 0.61 with it; a box on one slice only bridges nothing (no box beyond the 30 px pieces)."""
    hu = _lesion_volume()
    ends = {1: BODY[1], 3: BODY[3]}
    plain, counts, _ = complete_tips(hu, ends, (0, 0, 40, 40))
    assert sorted(plain) == [0, 1, 3, 4] and counts["added_boxes"] == 2
    bridged, counts, changed = complete_tips(hu, ends, (0, 0, 40, 40), bridge=True)
    labels, _ = ndimage.label(hu >= 130)
    lesion = labels == labels[2, 12, 14]
    assert sorted(bridged) == [0, 1, 2, 3, 4] and counts == {"added_boxes": 3, "raised_boxes": 0}
    assert bridged[2].tolist() == [[*_tight_box(lesion[2]), 0.61, 0]] and changed[2].tolist() == [True]
    alone, counts, _ = complete_tips(hu, {2: BODY[2]}, (0, 0, 40, 40), bridge=True)
    assert list(alone) == [2] and counts["added_boxes"] == 0


def test_only_calcium_inside_the_crop_and_above_the_threshold_counts():
    hu = _lesion_volume()
    out, counts, _ = complete_tips(hu, BODY, (0, 0, 40, 40), threshold_hu=260.0)  # the 250 HU tip is not calcium
    assert counts["added_boxes"] == 1 and 4 not in out
    out, counts, _ = complete_tips(hu, BODY, (0, 0, 40, 12))  # the crop ends above the slice-0 tip's row (12)
    assert 0 not in out and 4 in out


@pytest.mark.parametrize("bridge", [False, True])
def test_completing_a_low_confidence_pass_then_keeping_c_equals_completing_the_boxes_kept_at_c(bridge):
    """Completion does not depend on the boxes below the confidence kept afterwards: a weak box already on a tip is
    raised to its lesion's confidence, as the tip's added box would have it; a bridged gap likewise."""
    hu = _lesion_volume()
    weak = {1: BODY[1], 3: BODY[3], 0: np.array([[14.0, 12.0, 16.0, 13.0, 0.05, 0]]),
            4: np.array([[29.0, 29.0, 33.0, 33.0, 0.3, 0]])}
    if not bridge:
        weak[2] = BODY[2]
    low, counts, changed = complete_tips(hu, weak, (0, 0, 40, 40), bridge=bridge)
    assert counts == {"added_boxes": 2 if bridge else 1, "raised_boxes": 1}
    assert changed[0].tolist() == [True] and changed[4].tolist() == [False, True]  # raised on 0, added on 4
    for c in (0.01, 0.1, 0.5, 0.62, 0.7):
        kept = {z: r[r[:, 4] >= c] for z, r in weak.items() if (r[:, 4] >= c).any()}
        direct, _, _ = complete_tips(hu, kept, (0, 0, 40, 40), bridge=bridge)
        filtered = {z: r[r[:, 4] >= c] for z, r in low.items() if (r[:, 4] >= c).any()}
        assert sorted(direct) == sorted(filtered)
        for z in direct:
            order = np.lexsort(direct[z].T[::-1])
            assert np.array_equal(direct[z][order], filtered[z][np.lexsort(filtered[z].T[::-1])])


def test_nothing_found_nothing_added():
    assert complete_tips(_lesion_volume(), {}, (0, 0, 40, 40)) == ({}, {"added_boxes": 0, "raised_boxes": 0}, {})


def _fake_model(monkeypatch, per_slice: list[np.ndarray]) -> tuple[CTVolume, SimpleNamespace]:
    """The lesion volume as a scan, and a stand-in detector whose model returns ``per_slice`` rows on each slice."""
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    volume = CTVolume(hu=_lesion_volume(), spacing_mm=(3.0, 0.5, 0.5), origin_mm=(0.0, 0.0, 0.0),
                      direction=np.eye(3), meta=meta)
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"},
                               describe=lambda: {"weights": "fake"})
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None: [r.copy() for r in per_slice])
    return volume, detector


@pytest.mark.parametrize("complete, physics, expect_tip", [(True, True, True), (False, True, False),
                                                          (True, False, False)])
def test_detect_volume_completes_and_records(monkeypatch, tmp_path, complete, physics, expect_tip):
    volume, detector = _fake_model(monkeypatch, [np.zeros((0, 6)), BODY[1], BODY[2], BODY[3], np.zeros((0, 6))])
    result = detect_volume(volume, detector, None, DetectOptions(complete_tips=complete, physics_filter=physics,
                                                                  verify=False))
    found = {s.slice_index for s in result.slices}
    assert (0 in found and 4 in found) == expect_tip
    origins = {z: [d.origin for d in s.detections] for s in result.slices for z in [s.slice_index]}
    assert origins == ({0: ["3d-completion"], 1: ["model"], 2: ["model"], 3: ["model"], 4: ["3d-completion"]}
                       if expect_tip else {1: ["model"], 2: ["model"], 3: ["model"]})
    reread = load_detections(save_detections(result, tmp_path / "detections.json"))
    assert {s.slice_index: [d.origin for d in s.detections] for s in reread.slices} == origins
    record = result.model["tip_completion"]
    assert (record["added_boxes"] if record else None) == (2 if expect_tip else None)


@pytest.mark.parametrize("bridge", [True, False])
def test_detect_volume_bridges_a_skipped_middle_slice_by_default(monkeypatch, bridge):
    """The model boxes slices 1 and 3 only: detect's default boxes the 40 px piece between them (origin
    3d-completion) and records it; ``bridge_gaps=False`` leaves the gap."""
    volume, detector = _fake_model(monkeypatch, [np.zeros((0, 6)), BODY[1], np.zeros((0, 6)), BODY[3],
                                                 np.zeros((0, 6))])
    options = DetectOptions(verify=False) if bridge else DetectOptions(verify=False, bridge_gaps=False)
    result = detect_volume(volume, detector, None, options)
    origins = {s.slice_index: [d.origin for d in s.detections] for s in result.slices}
    assert origins.get(2) == (["3d-completion"] if bridge else None)
    assert result.model["tip_completion"]["bridge_gaps"] is bridge
