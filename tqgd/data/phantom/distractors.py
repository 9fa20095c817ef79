"""Bright things that are not coronary calcium and must stay unlabelled.

Aortic wall calcification (ascending and descending aorta), aortic valve calcification at the root, and noise
spikes (isolated bright voxels, as photon starvation leaves them). Bone (ribs, sternum, spine) is painted with
the anatomy. A calcium detector has to learn to ignore all of these, as OrCaScore's annotators did.
"""

from __future__ import annotations

import numpy as np

from tqgd.data.phantom.anatomy import Chest
from tqgd.data.phantom.calcium import CalcifiedObject
from tqgd.data.phantom.config import CALCIUM_THRESHOLD_HU, Tissue
from tqgd.data.phantom.heart import Heart
from tqgd.data.phantom.shapes import ellipsoid_matrix

AORTIC_DENSITY_HU = (300.0, 1000.0)
#: Ascending-aorta plaques stay this far above the root, clear of the coronary ostia.
ASCENDING_MIN_HEIGHT_MM = 14.0
SPIKE_HEIGHT_HU = (300.0, 800.0)
#: Spikes keep this many voxels away from any calcified object.
SPIKE_CLEARANCE_VOXELS = 3


def draw_aortic_wall(rng: np.random.Generator, heart: Heart, chest: Chest, calcium_factor: float,
                     z_limits_mm: tuple[float, float]) -> CalcifiedObject | None:
    """An intimal plaque on the ascending or descending aorta wall; None when outside the scanned slab."""
    root = heart.aortic_root_mm
    if rng.random() < 0.4:
        cx, cy, radius = root[0] - 3.0, root[1] - 3.0, heart.aorta_radius_mm
        if root[2] + ASCENDING_MIN_HEIGHT_MM > z_limits_mm[1]:  # short (clipped) scans may end below that height
            return None
        z = rng.uniform(root[2] + ASCENDING_MIN_HEIGHT_MM, z_limits_mm[1])
    else:
        cx, cy, radius = chest.descending_aorta
        z = rng.uniform(*z_limits_mm)
    if not z_limits_mm[0] <= z <= z_limits_mm[1]:
        return None
    alpha = rng.uniform(0, 2 * np.pi)
    radial = np.array([np.cos(alpha), np.sin(alpha), 0.0])
    tangent = np.array([-np.sin(alpha), np.cos(alpha), 0.0])
    centre = np.array([cx, cy, z]) + (radius - 0.8) * radial
    axes = (rng.uniform(1.5, 5.0), rng.uniform(0.6, 1.4), rng.uniform(1.5, 4.5))
    matrix = ellipsoid_matrix(axes, np.stack([tangent, radial, [0.0, 0.0, 1.0]], axis=1))
    density = float(rng.uniform(*AORTIC_DENSITY_HU)) * calcium_factor
    return CalcifiedObject(kind="aortic_wall", ellipsoids=[(centre, matrix)], density_hu=density,
                           size_mm=float(max(axes)))


def draw_aortic_valve(rng: np.random.Generator, heart: Heart, calcium_factor: float) -> CalcifiedObject:
    """A calcified nodule on an aortic valve cusp, within a few mm of the root's centre."""
    offset = rng.normal(0, 1, 3)
    centre = heart.aortic_root_mm + offset / np.linalg.norm(offset) * rng.uniform(2.0, 7.0)
    radius = rng.uniform(1.0, 2.8)
    matrix = ellipsoid_matrix((radius, radius * rng.uniform(0.6, 1.0), radius * rng.uniform(0.6, 1.0)),
                              np.linalg.qr(rng.normal(0, 1, (3, 3)))[0])
    density = float(rng.uniform(*AORTIC_DENSITY_HU)) * calcium_factor
    return CalcifiedObject(kind="aortic_valve", ellipsoids=[(centre, matrix)], density_hu=density, size_mm=radius)


def add_noise_spikes(rng: np.random.Generator, hu: np.ndarray, tissue: np.ndarray, occupancy: np.ndarray,
                     heart_boxes: list[tuple[int, int, int, int] | None], count: int) -> list[tuple[int, int, int]]:
    """Set ``count`` isolated soft-tissue voxels inside heart boxes well above 130 HU; return their (z, y, x)."""
    slices = [k for k, box in enumerate(heart_boxes) if box is not None]
    if not slices or count == 0:
        return []
    placed: list[tuple[int, int, int]] = []
    for _ in range(count * 50):
        if len(placed) == count:
            break
        k = int(rng.choice(slices))
        x0, y0, x1, y1 = heart_boxes[k]
        y, x = int(rng.integers(y0, y1)), int(rng.integers(x0, x1))
        c = SPIKE_CLEARANCE_VOXELS
        near_object = occupancy[max(k - c, 0):k + c + 1, max(y - c, 0):y + c + 1, max(x - c, 0):x + c + 1].any()
        if near_object or tissue[k, y, x] in (Tissue.BONE, Tissue.LUNG, Tissue.AIR):
            continue
        window = hu[max(k - 1, 0):k + 2, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
        if (window > CALCIUM_THRESHOLD_HU).any() or any(max(abs(k - a), abs(y - b), abs(x - c)) < 4
                                                      for a, b, c in placed):
            continue
        hu[k, y, x] = max(float(hu[k, y, x]), 0.0) + rng.uniform(*SPIKE_HEIGHT_HU)
        placed.append((k, y, x))
    return placed
