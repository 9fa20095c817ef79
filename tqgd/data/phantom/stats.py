"""Summaries of a phantom set: per-slice lesion-area buckets (the paper's Fig. 2) and Agatston density weights.

Area buckets follow the TQGDNet paper (003, Fig. 2): 0-10, 10-100, 100-200 and >200 pixels, read as
area <= 10, 10 < area <= 100, 100 < area <= 200, area > 200. One count per lesion per slice it crosses.
"""

from __future__ import annotations

from collections.abc import Iterable

from tqgd.data.phantom.truth import CalciumFacts

AREA_BUCKET_NAMES = ("0-10", "10-100", "100-200", ">200")
AREA_BUCKET_UPPER_PX = (10, 100, 200)
#: Agatston density weight by peak HU: 130-199 -> 1, 200-299 -> 2, 300-399 -> 3, >= 400 -> 4.
DENSITY_WEIGHT_LOWER_HU = (130, 200, 300, 400)


def area_bucket(area_px: int) -> str:
    """Name of the paper's size bucket holding a per-slice area in pixels."""
    for name, upper in zip(AREA_BUCKET_NAMES, AREA_BUCKET_UPPER_PX):
        if area_px <= upper:
            return name
    return AREA_BUCKET_NAMES[-1]


def density_weight(peak_hu: float) -> int:
    """Agatston density weight (1-4) of a peak HU above 130; 0 at or below 130."""
    return sum(peak_hu >= lower for lower in DENSITY_WEIGHT_LOWER_HU) if peak_hu > 130 else 0


def area_histogram(lesions: Iterable[CalciumFacts]) -> dict[str, int]:
    """Count of per-slice lesion areas in each bucket."""
    counts = dict.fromkeys(AREA_BUCKET_NAMES, 0)
    for lesion in lesions:
        for cross_section in lesion.slices:
            counts[area_bucket(cross_section.area_px)] += 1
    return counts


def weight_histogram(lesions: Iterable[CalciumFacts]) -> dict[int, int]:
    """Count of lesions per Agatston density weight of their peak HU."""
    counts = dict.fromkeys((1, 2, 3, 4), 0)
    for lesion in lesions:
        counts[density_weight(lesion.peak_hu)] += 1
    return counts
