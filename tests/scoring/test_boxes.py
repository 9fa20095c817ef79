"""The box rule: calcium inside a detection box, connected to the box's brightest pixel, at or above threshold."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scoring.builders import BACKGROUND_HU, detection_result, make_volume
from tqgd.errors import LabelError
from tqgd.scoring import ScoringOptions, score_detections, score_mask
from tqgd.scoring.boxes import box_pixel_range, calcium_from_boxes, lesion_in_box


def _slice_with_two_blobs() -> np.ndarray:
    """(20, 20) HU slice: blob P (peak 600) and blob Q (500) not connected, both inside box x 2-12, y 2-12."""
    hu = np.full((20, 20), BACKGROUND_HU, np.float32)
    hu[3:6, 3:6] = 200  # P: 9 px
    hu[4, 4] = 600
    hu[3, 6] = 130  # exactly at threshold: joins P
    hu[3, 7] = 129  # just below threshold: not calcium (and breaks any chain to the right)
    hu[9:11, 9:11] = 500  # Q: 4 px, separate
    hu[5:7, 11:14] = 300  # R: half inside, half outside the box (cols 11 inside, 12-13 outside)
    return hu


def test_pixel_range_uses_pixel_centres():
    assert box_pixel_range(10.0, 11.0, 100) == (10, 11)  # exactly pixel 10
    assert box_pixel_range(10.4, 12.6, 100) == (10, 13)  # centres 10.5, 11.5, 12.5
    assert box_pixel_range(10.6, 12.4, 100) == (11, 12)  # centre 12.5 is outside 12.4
    assert box_pixel_range(10.2, 10.4, 100) == (10, 11)  # narrower than a pixel: the pixel holding its centre
    assert box_pixel_range(-3.0, 2.0, 100) == (0, 2)  # clipped to the image


def test_lesion_is_the_thresholded_component_of_the_brightest_pixel():
    hu = _slice_with_two_blobs()
    mask, (rows, cols) = lesion_in_box(hu, (2, 2, 12, 12), 130.0, 8)
    full = np.zeros_like(hu, dtype=bool)
    full[rows, cols] = mask
    expected = np.zeros_like(full)
    expected[3:6, 3:6] = True
    expected[3, 6] = True  # the 130 HU pixel, connected to P
    assert np.array_equal(full, expected)  # Q (brighter than threshold but not connected) and R are left out


def test_lesion_is_cut_at_the_box_edge_and_empty_boxes_give_nothing():
    hu = _slice_with_two_blobs()
    mask, (rows, cols) = lesion_in_box(hu, (10, 4, 12, 8), 130.0, 8)  # covers R's column 11 only (+ col 10)
    full = np.zeros_like(hu, dtype=bool)
    full[rows, cols] = mask
    assert np.argwhere(full).tolist() == [[5, 11], [6, 11]]
    assert lesion_in_box(hu, (15, 15, 19, 19), 130.0, 8) is None  # nothing at or above 130 HU


def test_box_score_by_hand_and_equal_to_the_mask_of_the_same_pixels():
    volume = make_volume((3, 20, 20), (3.0, 0.5, 0.5))
    volume.hu[1] = _slice_with_two_blobs()
    result = detection_result(volume, [(1, (2.0, 2.0, 12.0, 12.0), 0.9, "calcium")])
    report = score_detections(volume, result)
    area_mm2 = 10 * 0.25  # P's 9 pixels + the 130 HU pixel
    assert report.agatston == pytest.approx(area_mm2 * 4)  # peak 600 -> weight 4; factor 1
    assert report.volume_mm3 == pytest.approx(area_mm2 * 3.0)
    labels = np.zeros(volume.shape, np.uint8)
    labels[1, 3:6, 3:6] = 1
    labels[1, 3, 6] = 1
    assert score_mask(volume, labels).agatston == pytest.approx(report.agatston)
    assert report.input["kind"] == "detections" and report.per_artery() is None


def test_overlapping_boxes_do_not_double_count_and_artery_classes_give_per_artery_scores():
    volume = make_volume((3, 20, 20), (3.0, 1.0, 1.0))
    volume.hu[1, 4:6, 4:6] = 300  # 4 mm^2, weight 3
    volume.hu[2, 12:15, 12:15] = 450  # 9 mm^2, weight 4
    boxes = [(1, (3.0, 3.0, 7.0, 7.0), 0.9, "LAD"), (1, (4.0, 4.0, 8.0, 8.0), 0.6, "LAD"),
             (2, (11.0, 11.0, 16.0, 16.0), 0.8, "RCA"), (2, (0.0, 0.0, 2.0, 2.0), 0.3, "LCX")]
    report = score_detections(volume, detection_result(volume, boxes))
    assert report.agatston == pytest.approx(4 * 3 + 9 * 4)
    per_artery = report.per_artery()
    assert per_artery["LAD"]["agatston"] == pytest.approx(12.0)
    assert per_artery["RCA"]["agatston"] == pytest.approx(36.0)
    assert per_artery["LCX"]["agatston"] == 0
    assert report.input["boxes_without_calcium"] == 1
    assert any("1 of 4 boxes hold no pixel above the calcium threshold" in n for n in report.notes)


def test_undetermined_class_boxes_score_as_label_4():
    volume = make_volume((3, 20, 20), (3.0, 1.0, 1.0))
    volume.hu[1, 4:6, 4:6] = 300  # 4 mm^2, weight 3 -> 12
    volume.hu[2, 12:15, 12:15] = 250  # 9 mm^2, weight 2 -> 18
    boxes = [(1, (3.0, 3.0, 7.0, 7.0), 0.9, "LAD"), (2, (11.0, 11.0, 16.0, 16.0), 0.8, "undetermined")]
    found = calcium_from_boxes(volume.hu, detection_result(volume, boxes), calcium_floor_hu=130.0, connectivity_2d=8)
    assert found.arteries and set(np.unique(found.labels[2])) == {0, 4}
    per_artery = score_detections(volume, detection_result(volume, boxes)).per_artery()
    assert per_artery["undetermined"]["agatston"] == pytest.approx(9 * 2)
    assert per_artery["LAD"]["agatston"] == pytest.approx(4 * 3)


def test_exclusive_threshold_leaves_out_the_130_hu_pixel():
    volume = make_volume((3, 20, 20), (3.0, 0.5, 0.5))
    volume.hu[1] = _slice_with_two_blobs()
    result = detection_result(volume, [(1, (2.0, 2.0, 12.0, 12.0), 0.9, "calcium")])
    exclusive = score_detections(volume, result, ScoringOptions(threshold_inclusive=False))
    assert exclusive.agatston == pytest.approx(9 * 0.25 * 4)  # P without its 130 HU neighbour
    assert exclusive.conventions.calcium_floor_hu > 130.0


def test_box_rule_follows_the_threshold_option():
    volume = make_volume((3, 20, 20), (3.0, 1.0, 1.0), kvp=100.0)
    volume.hu[1, 4:6, 4:6] = 140
    result = detection_result(volume, [(1, (3.0, 3.0, 7.0, 7.0), 0.9, "calcium")])
    assert score_detections(volume, result).agatston == pytest.approx(4.0)
    assert score_detections(volume, result, ScoringOptions(kvp_adjusted_threshold=True)).agatston == 0
    found = calcium_from_boxes(volume.hu, result, calcium_floor_hu=147.0, connectivity_2d=8)
    assert found.boxes_without_calcium == 1 and not found.labels.any()


def test_detections_for_another_scan_are_refused(tmp_path):
    volume = make_volume((3, 20, 20))
    other = make_volume((5, 20, 20))
    path = tmp_path / "detections.json"
    with pytest.raises(LabelError, match=r"detections.json: detections are for a scan of shape \(z, y, x\) = "
                                          r"\(5, 20, 20\).*has shape \(3, 20, 20\)"):
        score_detections(volume, detection_result(other, []), detections_path=path)
    with pytest.raises(LabelError, match="voxel spacing"):
        score_detections(volume, detection_result(volume, [], spacing_mm=(2.5, 0.5, 0.5)))
    volume.meta.series_uid = "1.2.3"
    with pytest.raises(LabelError, match="series 9.9.9"):
        score_detections(volume, detection_result(volume, [], series_uid="9.9.9"))
