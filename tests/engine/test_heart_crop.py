"""Heart ROI rule: per-slice boxes -> one ROI per scan (missing slices, outliers, margin, clipping, no heart)."""

from __future__ import annotations

import math

import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.engine.heart_crop import (
    HeartCropSettings,
    HeartNotFoundError,
    combine_heart_boxes,
    required_slices,
    slices_to_run,
)
from tqgd.errors import ConfigError, ScanReadError

SHAPE_YX = (200, 300)
SPACING_YX_MM = (0.5, 0.8)  # rows 0.5 mm, columns 0.8 mm: margins differ per axis
NO_MARGIN = HeartCropSettings(margin_mm=0.0)


def heart(x0: float, y0: float, x1: float, y1: float, conf: float = 0.9):
    return (x0, y0, x1, y1), conf


def test_union_of_slice_boxes_tolerates_missing_slices() -> None:
    boxes = {0: None, 3: heart(100, 60, 180, 130), 6: None, 9: heart(90, 50, 170, 120), 12: heart(110, 70, 200, 140),
             15: None}
    roi = combine_heart_boxes(boxes, SHAPE_YX, SPACING_YX_MM, NO_MARGIN)
    assert roi.xyxy == (90, 50, 200, 140)
    assert roi.offset_xy == (90, 50)
    assert roi.slices_found == [3, 9, 12] and roi.slices_kept == [3, 9, 12] and roi.slices_run == [0, 3, 6, 9, 12, 15]


def test_low_confidence_boxes_count_as_missing() -> None:
    boxes = {0: heart(100, 60, 180, 130), 1: heart(100, 60, 180, 130), 2: heart(100, 60, 180, 130),
             3: heart(0, 0, 300, 200, conf=0.1)}
    roi = combine_heart_boxes(boxes, SHAPE_YX, SPACING_YX_MM, NO_MARGIN)
    assert roi.xyxy == (100, 60, 180, 130) and roi.slices_found == [0, 1, 2]


def test_outliers_are_dropped_against_the_median_box() -> None:
    typical = {z: heart(100 + z, 60, 180 + z, 130) for z in range(0, 12, 2)}
    far_away = heart(250, 160, 290, 195)  # a confident box on another organ: centre outside the median box
    huge = heart(5, 5, 295, 195)  # centred like the heart but far wider and taller than the median
    roi = combine_heart_boxes({**typical, 13: far_away, 14: huge}, SHAPE_YX, SPACING_YX_MM, NO_MARGIN)
    assert roi.xyxy == (100, 60, 190, 130)
    assert roi.slices_kept == sorted(typical) and set(roi.slices_found) - set(roi.slices_kept) == {13, 14}
    assert roi.to_json()["outlier_slices"] == [13, 14]


def test_margin_is_in_millimetres_per_axis_and_rounds_outwards() -> None:
    boxes = {z: heart(100.4, 60.6, 179.2, 129.5) for z in range(4)}
    roi = combine_heart_boxes(boxes, SHAPE_YX, SPACING_YX_MM, HeartCropSettings(margin_mm=4.0))
    margin_x, margin_y = math.ceil(4.0 / 0.8), math.ceil(4.0 / 0.5)  # 5 columns, 8 rows
    assert roi.margin_px == (margin_x, margin_y)
    assert roi.xyxy == (100 - margin_x, 60 - margin_y, 180 + margin_x, 130 + margin_y)


def test_roi_is_clipped_to_the_slice() -> None:
    boxes = {z: heart(3, 2, 296, 199) for z in range(4)}
    roi = combine_heart_boxes(boxes, SHAPE_YX, SPACING_YX_MM, HeartCropSettings(margin_mm=20.0))
    assert roi.xyxy == (0, 0, 300, 200)


def test_no_heart_is_an_error_naming_the_scan_and_the_counts() -> None:
    boxes = {z: None for z in range(0, 120, 3)}
    with pytest.raises(HeartNotFoundError, match=r"no heart found in scan7\.mhd: detected on 0 of 40 slices") as info:
        combine_heart_boxes(boxes, SHAPE_YX, SPACING_YX_MM, source="/data/scan7.mhd")
    assert isinstance(info.value, ScanReadError) and "scan7.mhd" in str(info.value.path)


def test_too_few_slices_with_a_heart_is_an_error() -> None:
    run = list(range(0, 60, 3))  # 20 slices run; 20 % of them = 4 must show the heart
    boxes = {z: (heart(100, 60, 180, 130) if z in (0, 3, 6) else None) for z in run}
    with pytest.raises(HeartNotFoundError, match=r"detected on 3 of 20 slices run .*at least 4 needed"):
        combine_heart_boxes(boxes, SHAPE_YX, SPACING_YX_MM)
    boxes[9] = heart(100, 60, 180, 130)
    assert combine_heart_boxes(boxes, SHAPE_YX, SPACING_YX_MM, NO_MARGIN).xyxy == (100, 60, 180, 130)


def test_a_single_slice_scan_needs_its_one_slice() -> None:
    assert required_slices(1, HeartCropSettings()) == 1
    roi = combine_heart_boxes({0: heart(10, 20, 30, 40)}, SHAPE_YX, SPACING_YX_MM, NO_MARGIN)
    assert roi.xyxy == (10, 20, 30, 40)
    with pytest.raises(HeartNotFoundError, match="detected on 0 of 1 slices"):
        combine_heart_boxes({0: None}, SHAPE_YX, SPACING_YX_MM)


@pytest.mark.parametrize(("num_slices", "step", "expected"), [
    (1, 3, [0]), (7, 3, [0, 3, 6]), (8, 3, [0, 3, 6]), (9, 3, [1, 4, 7]), (5, 1, [0, 1, 2, 3, 4]),
])
def test_slices_run_are_centred_every_kth(num_slices: int, step: int, expected: list[int]) -> None:
    assert slices_to_run(num_slices, step) == expected


def test_settings_are_checked_and_round_trip() -> None:
    settings = HeartCropSettings(slice_step=2, conf=0.4, margin_mm=5.0)
    assert HeartCropSettings.from_json(settings.to_json()) == settings
    with pytest.raises(ConfigError, match="unknown heart crop settings"):
        HeartCropSettings.from_json({"margin": 3})
    with pytest.raises(ConfigError, match="conf must lie in"):
        HeartCropSettings(conf=1.5)
    with pytest.raises(ConfigError, match="slice_step"):
        HeartCropSettings(slice_step=0)
