"""Lesion-size buckets of the TQGDNet paper's Fig. 2 (0-10, 10-100, 100-200, >200 pixels) for per-size metrics.

A ground-truth box falls in a bucket by its area in pixels of the original image (width x height of the box), read
as the phantom statistics read them (``tqgd.data.phantom.stats``): area <= 10, 10 < area <= 100, 100 < area <= 200,
area > 200. ``coco_area_ranges`` turns the same buckets into pycocotools ``areaRng`` pairs; COCOeval keeps an area
``a`` when ``lo <= a <= hi``, so a bucket's open lower end starts at the next float above the previous upper bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Bucket names and inclusive upper bounds in px^2 (the last bucket is unbounded).
SIZE_BUCKET_NAMES = ("0-10", "10-100", "100-200", ">200")
SIZE_BUCKET_UPPER_PX2 = (10.0, 100.0, 200.0)
#: pycocotools' own upper limit for "all" areas (1e5 ** 2).
COCO_MAX_AREA_PX2 = 1e10


@dataclass(frozen=True)
class SizeBucket:
    """One bucket: ``name`` and its area bounds in px^2, ``lower`` exclusive (except 0) and ``upper`` inclusive."""

    name: str
    lower_px2: float
    upper_px2: float

    def contains(self, area_px2: float) -> bool:
        """Whether a box of this area belongs here."""
        above = area_px2 >= self.lower_px2 if self.lower_px2 == 0 else area_px2 > self.lower_px2
        return above and area_px2 <= self.upper_px2


def size_buckets() -> tuple[SizeBucket, ...]:
    """The paper's four buckets, smallest first."""
    lowers = (0.0, *SIZE_BUCKET_UPPER_PX2)
    uppers = (*SIZE_BUCKET_UPPER_PX2, math.inf)
    return tuple(SizeBucket(name, lo, hi) for name, lo, hi in zip(SIZE_BUCKET_NAMES, lowers, uppers, strict=True))


def bucket_of(area_px2: float) -> str:
    """Name of the bucket holding a box area in px^2 (negative areas are refused)."""
    if not area_px2 >= 0:
        raise ValueError(f"a box area must be >= 0 px^2, got {area_px2}")
    return next(bucket.name for bucket in size_buckets() if bucket.contains(area_px2))  # the last is unbounded


def coco_area_ranges() -> list[tuple[str, list[float]]]:
    """(label, [lo, hi]) pairs for ``COCOeval.params.areaRng``: ``all`` first, then each bucket, same membership."""
    ranges = [("all", [0.0, COCO_MAX_AREA_PX2])]
    for bucket in size_buckets():
        lower = bucket.lower_px2 if bucket.lower_px2 == 0 else math.nextafter(bucket.lower_px2, math.inf)
        ranges.append((bucket.name, [lower, min(bucket.upper_px2, COCO_MAX_AREA_PX2)]))
    return ranges
