"""Machinery of the realistic phantom: long or ring-shaped objects (leads, wires, annulus rings) as groups of parts.

1. A part is a ``CalcifiedObject`` (ellipsoids of one density). ``voxelise_parts`` gives it the same partial-volume
   fraction as ``calcium.voxelise`` but evaluates each ellipsoid only on its own bounding box (chains of dozens of
   small ellipsoids stay fast), and can add an extra in-plane blur (metal blooming).
2. A group is the parts of one physical thing (a pacemaker lead split into ~15 mm pieces so no window grows to
   the whole heart). ``place_group`` accepts a group only when every part ``fits`` beside the objects already
   placed (parts of the same group may touch each other), then commits all parts under one object id.
3. ``mark_group`` writes one distractor number on the >130 HU voxels of all its parts and measures them as one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tqgd.data.phantom.acquisition import Acquisition, MotionField, psf_sigma_px
from tqgd.data.phantom.calcium import (
    IN_PLANE_SUBSAMPLES, THROUGH_SLICE_SUBSAMPLES, CalcifiedObject, _extent_mm, _smear, commit, fits,
)
from tqgd.data.phantom.config import CALCIUM_THRESHOLD_HU
from tqgd.data.phantom.truth import CalciumFacts, _facts
from tqgd.data.volume import CTVolume


#: Objects denser than this get a support scaled by density / SUPPORT_REFERENCE_HU, so the faint blurred tail of
#: metal (which can still add >100 HU) belongs to it and never to a neighbouring lesion.
SUPPORT_REFERENCE_HU = 1000.0


@dataclass
class Group:
    """One physical object made of parts; ``kind`` is its cause in the truth (e.g. ``lead``, ``mitral_annulus``)."""

    kind: str
    parts: list[CalcifiedObject]
    density_hu: float
    size_mm: float
    bloom_mm: float = 0.0


def voxelise_parts(obj: CalcifiedObject, acq: Acquisition, motion: list[MotionField | None],
                   bloom_mm: float = 0.0) -> bool:
    """``calcium.voxelise`` with per-ellipsoid windows and an optional extra Gaussian blur of ``bloom_mm``."""
    grid, dx = acq.grid, acq.pixel_spacing_mm
    low, high = _extent_mm(obj)
    pad_px = int(np.ceil(4 * np.hypot(psf_sigma_px(acq), bloom_mm / dx)
                         + float(np.max(acq.motion_mm, initial=0.0)) / dx)) + 2
    c0 = max(int(np.floor((low[0] - grid.x0_mm) / dx)) - pad_px, 0)
    c1 = min(int(np.ceil((high[0] - grid.x0_mm) / dx)) + pad_px + 1, grid.size)
    r0 = max(int(np.floor((low[1] - grid.y0_mm) / dx)) - pad_px, 0)
    r1 = min(int(np.ceil((high[1] - grid.y0_mm) / dx)) + pad_px + 1, grid.size)
    half_t = acq.slice_thickness_mm / 2
    hit = np.nonzero((acq.z_mm + half_t >= low[2]) & (acq.z_mm - half_t <= high[2]))[0]
    if not len(hit) or c0 >= c1 or r0 >= r1:
        return False
    z0, z1 = max(int(hit[0]) - 1, 0), min(int(hit[-1]) + 2, acq.n_slices)
    n, m = IN_PLANE_SUBSAMPLES, THROUGH_SLICE_SUBSAMPLES
    sub = ((np.arange(n) + 0.5) / n - 0.5) * dx
    xs = (grid.x0_mm + np.arange(c0, c1)[:, None] * dx + sub[None, :]).ravel()
    ys = (grid.y0_mm + np.arange(r0, r1)[:, None] * dx + sub[None, :]).ravel()
    zs = (acq.z_mm[z0:z1, None] + ((np.arange(m) + 0.5) / m - 0.5)[None, :] * acq.slice_thickness_mm).ravel()
    inside = np.zeros((len(zs), len(ys), len(xs)), dtype=bool)
    for centre, matrix in obj.ellipsoids:
        half = np.sqrt(np.diag(np.linalg.inv(matrix)))
        i0, i1 = np.searchsorted(xs, centre[0] - half[0]), np.searchsorted(xs, centre[0] + half[0], side="right")
        j0, j1 = np.searchsorted(ys, centre[1] - half[1]), np.searchsorted(ys, centre[1] + half[1], side="right")
        k0, k1 = np.searchsorted(zs, centre[2] - half[2]), np.searchsorted(zs, centre[2] + half[2], side="right")
        if i0 >= i1 or j0 >= j1 or k0 >= k1:
            continue
        dxs = (xs[i0:i1] - centre[0])[None, None, :]
        dys = (ys[j0:j1] - centre[1])[None, :, None]
        dzs = (zs[k0:k1] - centre[2])[:, None, None]
        q = (matrix[0, 0] * dxs**2 + matrix[1, 1] * dys**2 + matrix[2, 2] * dzs**2 + 2 * matrix[0, 1] * dxs * dys
             + 2 * matrix[0, 2] * dxs * dzs + 2 * matrix[1, 2] * dys * dzs)
        inside[k0:k1, j0:j1, i0:i1] |= q <= 1.0
    fraction = inside.reshape(z1 - z0, m, r1 - r0, n, c1 - c0, n).mean(axis=(1, 3, 5), dtype=np.float32)
    if not fraction.any():
        return False
    sigma = float(np.hypot(psf_sigma_px(acq), bloom_mm / dx))
    fraction = ndimage.gaussian_filter(fraction, sigma=(0, sigma, sigma), mode="constant").astype(np.float32)
    obj.box = (slice(z0, z1), slice(r0, r1), slice(c0, c1))
    obj.fraction = fraction
    obj.support_fraction = _smear(fraction, obj.box, motion)
    return True


def place_group(draw: Callable[[], Group | None], acq: Acquisition, hu: np.ndarray, occupancy: np.ndarray,
                motion: list, next_id: int, attempts: int, forbidden: np.ndarray | None = None) -> Group | None:
    """Draw groups until one fits (up to ``attempts``), commit all its parts under ``next_id``; None if none fit."""
    for _ in range(attempts):
        group = draw()
        if group is None:
            continue
        parts = [p for p in group.parts if voxelise_parts(p, acq, motion, group.bloom_mm)]
        for part in parts:  # dense metal: the support reaches out to where it still adds SUPPORT_MIN_FRACTION x 1000 HU
            part.support_fraction *= np.float32(max(1.0, part.density_hu / SUPPORT_REFERENCE_HU))
        parts = [p for p in parts if p.support.any()]
        if not parts or not all(fits(p, occupancy, forbidden) for p in parts):
            continue
        group.parts = parts
        for part in parts:
            commit(part, next_id, hu, occupancy)
        return group
    return None


def mark_group(group: Group, number: int, volume: CTVolume, distractor_ids: np.ndarray) -> CalciumFacts | None:
    """Mark the >130 HU voxels of the group's parts with ``number``; facts of them all, or None when none."""
    starts = np.min([[s.start for s in p.box] for p in group.parts], axis=0)
    stops = np.max([[s.stop for s in p.box] for p in group.parts], axis=0)
    window = tuple(slice(int(a), int(b)) for a, b in zip(starts, stops))
    mask = np.zeros([int(b - a) for a, b in zip(starts, stops)], dtype=bool)
    for part in group.parts:
        local = tuple(slice(s.start - int(a), s.stop - int(a)) for s, a in zip(part.box, starts))
        mask[local] |= part.support & (volume.hu[part.box] > CALCIUM_THRESHOLD_HU)
    mask &= distractor_ids[window] == 0
    if not mask.any():
        return None
    distractor_ids[window][mask] = number
    return _facts(group.kind, mask, tuple(int(a) for a in starts), volume, group.density_hu, group.size_mm)


def metal_image(groups: list[Group], shape: tuple[int, ...]) -> np.ndarray:
    """HU the groups add (fraction x density, Z, Y, X): what the streak model projects."""
    excess = np.zeros(shape, dtype=np.float32)
    for group in groups:
        for part in group.parts:
            excess[part.box] += part.fraction * np.float32(part.density_hu)
    return excess
