"""Calcified objects (coronary lesions and their look-alikes) voxelised with partial volume.

A calcified object is a union of small solid ellipsoids of one calcium density. Its voxel fraction is measured
by supersampling each voxel (4 x 4 in-plane, 5 positions through the slice thickness, so overlapping
reconstructions see the same calcium in neighbouring slices), blurred by the scanner's point-spread function,
and (non-gated) smeared by the same cardiac motion as the image. The voxel's HU becomes
``(1 - f) * background + f * density``, so 1-2 voxel specks stay faint and large plaques reach their density.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from tqgd.data.phantom.acquisition import Acquisition, MotionField, psf_sigma_px

IN_PLANE_SUBSAMPLES = 4
THROUGH_SLICE_SUBSAMPLES = 5
#: A voxel belongs to an object's support where the object covers at least this fraction of it.
SUPPORT_MIN_FRACTION = 0.02
_SIX_CONNECTED = ndimage.generate_binary_structure(3, 1)


@dataclass
class CalcifiedObject:
    """Ellipsoids (centre mm (x, y, z), 3x3 matrix) sharing ``density_hu``; voxelised by ``voxelise``.

    ``box`` is the (z, y, x) window the object touches; ``fraction`` (PSF only) is what is blended into the
    image, ``support_fraction`` (after motion) decides which voxels belong to the object.
    """

    kind: str  # "lesion", "aortic_wall", "aortic_valve"
    ellipsoids: list[tuple[np.ndarray, np.ndarray]]
    density_hu: float
    artery: str | None = None
    size_mm: float = 0.0
    box: tuple[slice, slice, slice] | None = None
    fraction: np.ndarray | None = field(default=None, repr=False)
    support_fraction: np.ndarray | None = field(default=None, repr=False)

    @property
    def support(self) -> np.ndarray:
        """Boolean (z, y, x) mask of the voxels this object covers, on ``box``."""
        return self.support_fraction > SUPPORT_MIN_FRACTION

    def centre_mm(self) -> np.ndarray:
        """Centre of the first (main) ellipsoid."""
        return self.ellipsoids[0][0]


def _extent_mm(obj: CalcifiedObject) -> tuple[np.ndarray, np.ndarray]:
    lows, highs = [], []
    for centre, matrix in obj.ellipsoids:
        half = np.sqrt(np.diag(np.linalg.inv(matrix)))
        lows.append(centre - half)
        highs.append(centre + half)
    return np.min(lows, axis=0), np.max(highs, axis=0)


def voxelise(obj: CalcifiedObject, acq: Acquisition, motion: list[MotionField | None]) -> bool:
    """Fill ``obj.box``, ``obj.fraction`` and ``obj.support_fraction``; False when it misses the volume."""
    grid, dx = acq.grid, acq.pixel_spacing_mm
    low, high = _extent_mm(obj)
    pad_px = int(np.ceil(3 * psf_sigma_px(acq) + float(np.max(acq.motion_mm, initial=0.0)) / dx)) + 2
    c0 = int(np.floor((low[0] - grid.x0_mm) / dx)) - pad_px
    c1 = int(np.ceil((high[0] - grid.x0_mm) / dx)) + pad_px + 1
    r0 = int(np.floor((low[1] - grid.y0_mm) / dx)) - pad_px
    r1 = int(np.ceil((high[1] - grid.y0_mm) / dx)) + pad_px + 1
    half_t = acq.slice_thickness_mm / 2
    hit = np.nonzero((acq.z_mm + half_t >= low[2]) & (acq.z_mm - half_t <= high[2]))[0]
    c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, grid.size), min(r1, grid.size)
    if not len(hit) or c0 >= c1 or r0 >= r1:
        return False
    z0, z1 = max(int(hit[0]) - 1, 0), min(int(hit[-1]) + 2, acq.n_slices)
    n = IN_PLANE_SUBSAMPLES
    sub = ((np.arange(n) + 0.5) / n - 0.5) * dx
    xs = (grid.x0_mm + np.arange(c0, c1)[:, None] * dx + sub[None, :]).ravel()
    ys = (grid.y0_mm + np.arange(r0, r1)[:, None] * dx + sub[None, :]).ravel()
    m = THROUGH_SLICE_SUBSAMPLES
    zs = (acq.z_mm[z0:z1, None] + ((np.arange(m) + 0.5) / m - 0.5)[None, :] * acq.slice_thickness_mm).ravel()
    inside = np.zeros((len(zs), len(ys), len(xs)), dtype=bool)
    for centre, matrix in obj.ellipsoids:
        dxs = (xs - centre[0])[None, None, :]
        dys = (ys - centre[1])[None, :, None]
        dzs = (zs - centre[2])[:, None, None]
        q = (matrix[0, 0] * dxs**2 + matrix[1, 1] * dys**2 + matrix[2, 2] * dzs**2 + 2 * matrix[0, 1] * dxs * dys
             + 2 * matrix[0, 2] * dxs * dzs + 2 * matrix[1, 2] * dys * dzs)
        inside |= q <= 1.0
    shape = (z1 - z0, m, r1 - r0, n, c1 - c0, n)
    fraction = inside.reshape(shape).mean(axis=(1, 3, 5), dtype=np.float32)
    sigma = psf_sigma_px(acq)
    fraction = ndimage.gaussian_filter(fraction, sigma=(0, sigma, sigma), mode="constant").astype(np.float32)
    obj.box = (slice(z0, z1), slice(r0, r1), slice(c0, c1))
    obj.fraction = fraction
    obj.support_fraction = _smear(fraction, obj.box, motion)
    return True


def _smear(fraction: np.ndarray, box: tuple[slice, slice, slice], motion: list[MotionField | None]) -> np.ndarray:
    """Apply each slice's motion field to the object's fraction, as the image will get it."""
    out = fraction.copy()
    for local, k in enumerate(range(box[0].start, box[0].stop)):
        if motion[k] is None:
            continue
        weight = _weight_on(motion[k], box[1], box[2])
        blurred = cv2.filter2D(out[local], -1, motion[k].kernel, borderType=cv2.BORDER_CONSTANT)
        out[local] += weight * (blurred - out[local])
    return out


def _weight_on(motion: MotionField, rows: slice, cols: slice) -> np.ndarray:
    """The motion weight on the window (rows, cols); 0 where the window leaves the field's region."""
    weight = np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=np.float32)
    r0, r1 = max(rows.start, motion.rows.start), min(rows.stop, motion.rows.stop)
    c0, c1 = max(cols.start, motion.cols.start), min(cols.stop, motion.cols.stop)
    if r0 < r1 and c0 < c1:
        weight[r0 - rows.start:r1 - rows.start, c0 - cols.start:c1 - cols.start] = \
            motion.weight[r0 - motion.rows.start:r1 - motion.rows.start, c0 - motion.cols.start:c1 - motion.cols.start]
    return weight


def fits(obj: CalcifiedObject, occupancy: np.ndarray, forbidden: np.ndarray | None = None,
         forbidden_margin: int = 2) -> bool:
    """True when the object's support, grown by one voxel (6-connected), touches no other object's support
    (``occupancy`` > 0), and grown by ``forbidden_margin`` voxels touches no ``forbidden`` voxel (e.g. bone)."""
    grown = ndimage.binary_dilation(obj.support, _SIX_CONNECTED)
    if occupancy[obj.box][grown].any():
        return False
    if forbidden is None:
        return True
    if forbidden_margin > 1:
        grown = ndimage.binary_dilation(grown, _SIX_CONNECTED, iterations=forbidden_margin - 1)
    return not forbidden[obj.box][grown].any()


def expected_peak_hu(obj: CalcifiedObject, hu: np.ndarray) -> float:
    """Noise-free peak HU the object will show at its own core (voxels holding at least half its densest
    fraction) once blended into ``hu`` and smeared by motion; bright neighbours inside the window do not count."""
    fraction = obj.support_fraction
    core = fraction >= 0.5 * fraction.max()
    background = hu[obj.box][core]
    return float(np.max(background + fraction[core] * (obj.density_hu - background)))


def commit(obj: CalcifiedObject, object_id: int, hu: np.ndarray, occupancy: np.ndarray) -> None:
    """Blend the object into ``hu`` (before motion and noise) and claim its support in ``occupancy``."""
    region = hu[obj.box]
    region += obj.fraction * (np.float32(obj.density_hu) - region)
    occupancy[obj.box][obj.support] = object_id
