"""Coronary calcified lesions: where on which artery, how large, how dense.

A lesion sits in the vessel wall at a random arc position (proximal segments more often, as in real CAC),
as a main ellipsoid stretched along the vessel plus, for larger plaques, one or two satellite ellipsoids that
make it irregular. Cross-section sizes come from the scan profile: many small specks in non-gated scans (the
paper's Concord set), mostly mid-sized lesions in gated ones (OrCaScore). Densities span 200-1300 HU so that,
after partial volume, peak HU covers all four Agatston density weights.
"""

from __future__ import annotations

import numpy as np

from tqgd.data.phantom.arteries import Artery
from tqgd.data.phantom.calcium import CalcifiedObject
from tqgd.data.phantom.config import ScanProfile
from tqgd.data.phantom.shapes import ellipsoid_matrix

#: How often each artery carries a lesion (LAD most, as in CAC registries).
ARTERY_WEIGHTS = {"LAD": 0.45, "LCX": 0.22, "RCA": 0.33}
#: Lesions stay this far from the ostium (the aortic wall has its own calcification, a distractor).
MIN_ARC_FROM_OSTIUM_MM = 6.0
LESION_DENSITY_HU = (200.0, 1300.0)
#: Cross-section radius above which a plaque gets satellite ellipsoids.
SATELLITE_RADIUS_MM = 1.3


def draw_radius(rng: np.random.Generator, profile: ScanProfile) -> float:
    """Cross-section semi-axis (mm): a small speck with probability small_share, else a skewed larger plaque."""
    smallest, typical, largest = profile.lesion_radius_mm
    if rng.random() < profile.lesion_small_share:
        low, high, skew = smallest, 0.85 * typical, 1.0
    else:
        low, high, skew = 0.7 * typical, largest, 1.8
    return float(np.exp(np.log(low) + (np.log(high) - np.log(low)) * rng.random() ** skew))


def _perpendicular(tangent: np.ndarray, angle_rad: float) -> np.ndarray:
    helper = np.array([0.0, 0.0, 1.0]) if abs(tangent[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(tangent, helper)
    u /= np.linalg.norm(u)
    v = np.cross(tangent, u)
    return np.cos(angle_rad) * u + np.sin(angle_rad) * v


def _wall_ellipsoid(point: np.ndarray, tangent: np.ndarray, lumen_mm: float, angle_rad: float, depth: float,
                    axes_mm: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Ellipsoid in the vessel wall at ``angle_rad`` around the lumen; axes (along, radial, around) in mm."""
    radial = _perpendicular(tangent, angle_rad)
    around = np.cross(tangent, radial)
    centre = point + depth * lumen_mm * radial
    return centre, ellipsoid_matrix(axes_mm, np.stack([tangent, radial, around], axis=1))


def draw_lesion(rng: np.random.Generator, profile: ScanProfile, arteries: tuple[Artery, ...],
                calcium_factor: float, z_limits_mm: tuple[float, float]) -> CalcifiedObject | None:
    """A candidate lesion on a random artery; None when the drawn spot lies outside the scanned slab."""
    names = list(ARTERY_WEIGHTS)
    name = names[int(rng.choice(len(names), p=list(ARTERY_WEIGHTS.values())))]
    artery = next(a for a in arteries if a.name == name)
    usable = artery.length_mm * 0.88 - MIN_ARC_FROM_OSTIUM_MM
    arc = MIN_ARC_FROM_OSTIUM_MM + usable * rng.beta(1.2, 2.0)
    point, tangent, lumen = artery.at(arc)
    if not z_limits_mm[0] <= point[2] <= z_limits_mm[1]:
        return None
    radius = draw_radius(rng, profile)
    angle = rng.uniform(0, 2 * np.pi)
    depth = rng.uniform(0.4, 0.9)
    axes = (radius * rng.uniform(1.2, 2.6), radius * rng.uniform(0.6, 1.0), radius)
    ellipsoids = [_wall_ellipsoid(point, tangent, lumen, angle, depth, axes)]
    if radius >= SATELLITE_RADIUS_MM:
        for _ in range(int(rng.integers(1, 3))):
            shift = rng.choice([-1.0, 1.0]) * axes[0] * rng.uniform(0.6, 1.1)
            sat_point, sat_tangent, sat_lumen = artery.at(arc + shift)
            scale = rng.uniform(0.5, 0.85)
            ellipsoids.append(_wall_ellipsoid(sat_point, sat_tangent, sat_lumen,
                                              angle + rng.choice([-1.0, 1.0]) * np.radians(rng.uniform(20, 70)),
                                              depth, tuple(a * scale for a in axes)))
    density = float(np.exp(rng.uniform(*np.log(LESION_DENSITY_HU)))) * calcium_factor
    return CalcifiedObject(kind="lesion", ellipsoids=ellipsoids, density_hu=density, artery=name, size_mm=radius)
