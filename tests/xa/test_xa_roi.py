"""tqgd.xa.roi and roi_metrics: ROI targets, post-processing, IoM, Hausdorff distance in mm, P/R/F1, quartiles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve2d
from scipy.spatial.distance import directed_hausdorff

from tqgd.errors import ConfigError
from tqgd.xa.roi import RoiOptions, postprocess_roi, remove_small_islands, roi_target
from tqgd.xa.roi_metrics import (
    ClassCounts,
    FrameScores,
    boxes_to_mask,
    hausdorff_mm,
    median_quartiles,
)
from tqgd.xa.table2 import detector_outputs


def _disc_by_distance(radius: int) -> np.ndarray:
    """A disc written out from the distance formula, independently of tqgd.xa.roi.disc."""
    size = 2 * radius + 1
    out = np.zeros((size, size), dtype=np.uint8)
    for r in range(size):
        for c in range(size):
            out[r, c] = (r - radius) ** 2 + (c - radius) ** 2 <= radius ** 2
    return out


def test_roi_target_is_the_mask_grown_four_times_by_a_five_pixel_disc() -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros((90, 110), dtype=np.uint8)
    mask[40:43, 50:52] = 1
    mask[rng.integers(0, 90, 6), rng.integers(0, 110, 6)] = 2
    # iterated dilation = one dilation by the Minkowski sum of the discs = support of the repeated convolution
    grown = mask != 0
    for _ in range(4):
        grown = convolve2d(grown.astype(np.int64), _disc_by_distance(5), mode="same") > 0
    target = roi_target(mask, RoiOptions(iterations=4, step_px=5))
    assert target.dtype == bool and np.array_equal(target, grown)


def test_roi_target_of_one_pixel_reaches_twenty_pixels_along_the_axes() -> None:
    mask = np.zeros((61, 61), bool)
    mask[30, 30] = True
    target = roi_target(mask)  # paper defaults: 4 iterations of 5 px
    rows, cols = np.nonzero(target)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 50, 10, 50)
    assert np.array_equal(roi_target(mask, RoiOptions(iterations=0)), mask)
    with pytest.raises(ConfigError, match="2D masks"):
        roi_target(np.zeros((2, 3, 3)))


def test_hausdorff_in_mm_matches_a_hand_computed_case() -> None:
    spacing = (0.5, 2.0)  # rows 0.5 mm apart, columns 2 mm apart
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[1, 1] = True
    b[1, 1] = b[4, 1] = True  # b's far pixel is 3 rows = 1.5 mm from a; a lies on b
    assert hausdorff_mm(a, b, spacing) == pytest.approx(1.5)
    a[1, 1], a[0, 3] = False, True  # now a = (0, 3): to (1, 1) sqrt(0.5^2 + 4^2), to (4, 1) sqrt(2^2 + 4^2)
    assert hausdorff_mm(a, b, spacing) == pytest.approx(np.sqrt(2.0 ** 2 + 4.0 ** 2))
    assert hausdorff_mm(np.zeros_like(a), b, spacing) is None


def test_hausdorff_agrees_with_scipy_point_set_hausdorff() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random((40, 30)) > 0.97, rng.random((40, 30)) > 0.95
    spacing = (0.3, 0.7)
    pa, pb = np.argwhere(a) * spacing, np.argwhere(b) * spacing
    expected = max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])
    assert hausdorff_mm(a, b, spacing) == pytest.approx(expected)


def test_iom_and_hd_per_frame_from_a_hand_case() -> None:
    calcium = np.zeros((20, 20), bool)
    calcium[5, 5:8] = True  # 3 px, 2 of them inside the ROI
    roi = np.zeros((20, 20), bool)
    roi[3:7, 2:7] = True  # 20 px
    frames = FrameScores([], [])
    frames.add(roi, calcium, (1.0, 1.0))
    frames.add(np.zeros_like(roi), calcium, (1.0, 1.0))  # no ROI: IoM 0, HD undefined
    frames.add(roi, np.zeros_like(calcium), (1.0, 1.0))  # no calcium: not scored
    assert frames.iom == pytest.approx([2 / 3, 0.0])
    # farthest ROI pixel from the calcium: (3, 2) to (5, 5) = sqrt(4 + 9); farthest calcium pixel: (5, 7) to (5, 6) = 1
    assert frames.hd_mm == pytest.approx([np.sqrt(13)])
    assert (frames.frames, frames.frames_without_roi) == (2, 1)


def test_classification_counts_and_quartiles() -> None:
    counts = ClassCounts()
    for truth, predicted in ((1, 1), (1, 1), (1, 0), (0, 1), (0, 0), (0, 0)):
        counts.add(bool(truth), bool(predicted))
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (2, 1, 1, 2)
    assert (counts.precision, counts.recall, counts.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert ClassCounts(fn=3).f1 == 0.0
    assert median_quartiles([4.0, None, 1.0, 3.0, 2.0]) == pytest.approx((2.5, 1.75, 3.25, 4))
    assert median_quartiles([None]) is None


def test_boxes_fill_their_pixels_and_detectors_call_positives_at_their_confidence() -> None:
    mask = boxes_to_mask([(1, 2, 4, 5)], (8, 8))
    assert np.array_equal(np.argwhere(mask).min(0), [2, 1]) and np.array_equal(np.argwhere(mask).max(0), [4, 3])
    assert mask.sum() == 9
    outputs = detector_outputs([np.array([[0, 0, 2, 2, 0.1]]), np.array([[4, 4, 6, 6, 0.9]]), np.zeros((0, 5))],
                               [(8, 8)] * 3, conf=0.5)
    assert [o.positive for o in outputs] == [False, True, False]
    assert [int(o.roi.sum()) for o in outputs] == [0, 4, 0]
    assert len(outputs[0].boxes) == 1  # every box stays for mAP


def test_postprocess_gates_by_the_classifier_and_drops_small_islands() -> None:
    prob = np.zeros((64, 64), np.float32)
    prob[10:40, 10:40] = 0.9  # 900 px
    prob[50:53, 50:53] = 0.9  # 9 px island
    options = RoiOptions(min_roi_px=50, sigma_px=0.0)
    roi = postprocess_roi(prob, cls_prob=0.8, options=options)
    assert roi.sum() == 900 and not roi[50:53, 50:53].any()
    assert not postprocess_roi(prob, cls_prob=0.2, options=options).any()
    smooth = postprocess_roi(prob, cls_prob=0.8, options=RoiOptions(min_roi_px=50, sigma_px=3.0))
    assert smooth[25, 25] and not smooth[10, 10]  # a Gaussian of 3 px rounds the square's corners
    assert remove_small_islands(prob > 0.5, 10).sum() == 900
    with pytest.raises(ConfigError, match="between 0 and 1"):
        RoiOptions(cls_threshold=1.5)
