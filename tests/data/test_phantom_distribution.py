"""Lesion sizes and densities over a few full-size patients, measured from the label volume with scipy.

The TQGDNet paper (003, §2.1.3, Fig. 2): most per-slice deposit areas of the gated OrCaScore set fall in 10-100 px,
while the non-gated Concord set has a larger share of 0-10 px. Every Agatston density weight and every size bucket
must occur so scoring and per-size evaluation are exercised.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from tqgd.data.phantom import PhantomConfig, generate_patient

PATIENTS = 6
SIX_CONNECTED = ndimage.generate_binary_structure(3, 1)


def bucket(area_px: int) -> int:
    """0: 0-10, 1: 10-100, 2: 100-200, 3: >200 px (upper bounds inclusive)."""
    return int(np.searchsorted([10, 100, 200], area_px, side="left"))


def density_weight(peak_hu: float) -> int:
    return 1 + int(peak_hu >= 200) + int(peak_hu >= 300) + int(peak_hu >= 400)


@functools.lru_cache(maxsize=None)
def measured(gated: bool) -> tuple[np.ndarray, np.ndarray]:
    """(per-slice area bucket counts, per-lesion density weight counts) over PATIENTS full-size patients."""
    areas, weights = np.zeros(4, int), np.zeros(4, int)
    for seed in range(PATIENTS):
        case = generate_patient(100 + seed, PhantomConfig(gated=gated))
        components, count = ndimage.label(case.labels > 0, structure=SIX_CONNECTED)
        for index, window in enumerate(ndimage.find_objects(components), start=1):
            lesion = components[window] == index
            for area in lesion.sum(axis=(1, 2)):
                if area:
                    areas[bucket(int(area))] += 1
            weights[density_weight(float(case.volume.hu[window][lesion].max())) - 1] += 1
    return areas, weights


@pytest.mark.slow
def test_gated_areas_are_mostly_10_to_100_px():
    areas, _ = measured(True)
    assert areas[1] / areas.sum() > 0.5


@pytest.mark.slow
def test_non_gated_sets_have_a_larger_share_of_0_to_10_px():
    gated, _ = measured(True)
    non_gated, _ = measured(False)
    assert non_gated[0] / non_gated.sum() > gated[0] / gated.sum() + 0.05


@pytest.mark.slow
def test_all_size_buckets_and_density_weights_occur():
    gated_areas, gated_weights = measured(True)
    non_gated_areas, non_gated_weights = measured(False)
    assert (gated_areas + non_gated_areas > 0).all()
    assert (gated_weights > 0).all() and (non_gated_weights > 0).all()
