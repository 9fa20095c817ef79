"""Pre-processing ideas of the segmentation papers: histogram matching (``002``) and lung removal (``000``, ``001``).

Histogram matching (cascade paper ``002``): every 8-bit slice is mapped so its cumulative histogram follows that of
one reference slice (albumentations' ``match_histograms``, per channel), which evens out scanner differences.

Lung removal (IarCAC ``000`` and CAC-Net ``001``: a -224..600 HU threshold for a coarse lung segmentation, refined by
seed filling, then the lungs are subtracted from the image). tqgd's reading, per axial slice:

1. Candidates are pixels below the soft-tissue range (HU < -224): lungs, airways and the air around the body.
2. Seed fill: the air around the body is flood-filled (``scipy.ndimage.binary_propagation``) through the candidates
   from seeds on the image border that are air (HU < -950; lung parenchyma is denser). Heart-centred fields of view
   cut the body, so lungs may touch the border; they are not seeds there because they are not that dark.
3. Remaining candidate regions of at least ``MIN_LUNG_AREA_MM2`` are lung; holes inside them (vessels, airway walls)
   smaller than ``MAX_LUNG_HOLE_MM2`` whose pixels all lie in the -224..600 HU range are filled in.
4. The lung pixels are set to -1000 HU (air): dense things never are (600 HU caps what may be filled).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: Soft-tissue HU range of the coarse segmentation (IarCAC / CAC-Net data processing).
SOFT_TISSUE_RANGE_HU = (-224.0, 600.0)
#: Border pixels darker than this are air around the body and seed the outside flood fill.
AIR_SEED_HU = -950.0
#: HU written where the lungs were removed.
REMOVED_LUNG_HU = -1000.0
#: Smallest region counted as lung (smaller dark pockets, e.g. oesophageal air, are left alone).
MIN_LUNG_AREA_MM2 = 200.0
#: Largest hole inside the lungs filled in as lung (vessel and bronchus cross-sections; the heart is far larger).
MAX_LUNG_HOLE_MM2 = 1000.0


def match_histogram(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` (uint8, (H, W) or (H, W, C)) with each channel's histogram matched to ``reference``'s."""
    from albumentations.augmentations.mixing.domain_adaptation_functional import match_histograms

    image, reference = np.asarray(image), np.asarray(reference)
    if image.dtype != np.uint8 or reference.dtype != np.uint8:
        raise ValueError(f"histogram matching works on 8-bit images, got {image.dtype} and {reference.dtype}")
    if image.ndim != reference.ndim or image.shape[2:] != reference.shape[2:]:
        raise ValueError(f"image {image.shape} and reference {reference.shape} need the same channels")
    return match_histograms(image, reference)


def _area_px(area_mm2: float, spacing_yx_mm: Sequence[float]) -> float:
    return area_mm2 / (float(spacing_yx_mm[0]) * float(spacing_yx_mm[1]))


def lung_mask(hu: np.ndarray, spacing_yx_mm: Sequence[float]) -> np.ndarray:
    """Boolean (H, W) lung mask of one axial HU slice (see the module docstring)."""
    hu = np.asarray(hu, dtype=np.float32)
    if hu.ndim != 2:
        raise ValueError(f"lung_mask works on one slice (H, W), got shape {hu.shape}")
    low, high = SOFT_TISSUE_RANGE_HU
    candidates = hu < low
    seeds = np.zeros_like(candidates)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        seeds[edge] = hu[edge] < AIR_SEED_HU
    outside = ndimage.binary_propagation(seeds, mask=candidates)
    lungs = candidates & ~outside
    labels, count = ndimage.label(lungs)
    if count == 0:
        return lungs
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    big = areas >= _area_px(MIN_LUNG_AREA_MM2, spacing_yx_mm)
    big[0] = False
    lungs = big[labels]
    holes, n_holes = ndimage.label(ndimage.binary_fill_holes(lungs) & ~lungs)
    if n_holes:
        hole_areas = np.bincount(holes.ravel(), minlength=n_holes + 1)
        dense = np.zeros(n_holes + 1, dtype=bool)
        np.logical_or.at(dense, holes.ravel(), (hu > high).ravel())
        fill = (hole_areas <= _area_px(MAX_LUNG_HOLE_MM2, spacing_yx_mm)) & ~dense
        fill[0] = False
        lungs |= fill[holes]
    return lungs


def remove_lungs(hu: np.ndarray, spacing_yx_mm: Sequence[float]) -> np.ndarray:
    """A copy of the slice (H, W) or volume (Z, H, W) with each slice's lungs set to -1000 HU."""
    hu = np.array(hu, dtype=np.float32, copy=True)
    for plane in (hu,) if hu.ndim == 2 else hu:
        plane[lung_mask(plane, spacing_yx_mm)] = REMOVED_LUNG_HU
    return hu
