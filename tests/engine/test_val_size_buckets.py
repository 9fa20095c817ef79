"""Size buckets (the paper's Fig. 2): boundaries, agreement with the phantom statistics, and COCO area ranges."""

from __future__ import annotations

import math

import pytest

from tqgd.data.phantom.stats import area_bucket
from tqgd.engine.size_buckets import SIZE_BUCKET_NAMES, bucket_of, coco_area_ranges

BOUNDARY_CASES = [(0, "0-10"), (9.99, "0-10"), (10, "0-10"), (10.0001, "10-100"), (100, "10-100"),
                  (100.5, "100-200"), (200, "100-200"), (200.01, ">200"), (1e6, ">200")]


@pytest.mark.parametrize(("area", "name"), BOUNDARY_CASES)
def test_upper_bounds_are_inclusive(area: float, name: str) -> None:
    assert bucket_of(area) == name


@pytest.mark.parametrize("area", [0, 1, 9, 10, 11, 99, 100, 101, 199, 200, 201, 5000])
def test_same_buckets_as_the_phantom_statistics(area: int) -> None:
    assert bucket_of(area) == area_bucket(area)


def test_negative_or_nan_area_is_refused() -> None:
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="a box area must be >= 0"):
            bucket_of(bad)


def test_coco_ranges_give_the_same_membership() -> None:
    """COCOeval keeps an area a in [lo, hi] (both inclusive); each bucket's range must hold exactly its areas."""
    ranges = dict(coco_area_ranges())
    assert list(ranges) == ["all", *SIZE_BUCKET_NAMES]
    for area, name in BOUNDARY_CASES + [(math.nextafter(10, 11), "10-100"), (math.nextafter(200, 0), "100-200")]:
        holding = [label for label, (lo, hi) in ranges.items() if label != "all" and lo <= area <= hi]
        assert holding == [name], area
