"""3D patches of calcium candidates: what the lesion verifier sees of one >= 130 HU component.

A candidate is a 6-connected component of voxels at or above the calcium threshold (OrCaScore's lesion definition).
Its patch is centred on the component's bounding-box centre: ``PATCH_SLICES`` whole slices (the first of the two
middle slices of an even extent at the centre), and in-plane ``PATCH_PIXELS`` x ``PATCH_PIXELS`` samples every
``PATCH_MM`` mm (bilinear), so gated and non-gated fields of view look alike. Channel 0 is the HU window
``WINDOW_HU`` scaled to 0..1 (slices beyond the scan read as air), channel 1 the component's own mask (what is being
asked about, among its neighbours). Four scalars describe the whole component, which may be larger than the patch:
log volume (mm³), z-extent (cm), peak HU / 1000, slice spacing / 3 mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Patch geometry: slices, in-plane samples per side, in-plane sample spacing (mm).
PATCH_SLICES = 15  # 22 mm at 1.5 mm slices: a stent's 12-30 mm length shows (9 slices scored it like a lesion)
PATCH_PIXELS = 48
PATCH_MM = 0.7
#: HU mapped to 0..1 in channel 0 (values above keep growing to 1.2: metal and dense calcium stay apart).
WINDOW_HU = (-200.0, 1000.0)
CHANNEL0_MAX = 1.2
#: Components smaller than this (voxels) are not verified: specks the detector's physics rules already judge.
MIN_VOXELS = 4
SCALARS = ("log_volume_mm3", "z_extent_cm", "peak_hu_per_1000", "slice_spacing_per_3mm")


@dataclass(frozen=True)
class Candidate:
    """One component: its label in the component map, voxel count and bounding box (``slice`` triple, z y x)."""

    label: int
    voxels: int
    bbox: tuple[slice, slice, slice]


def find_candidates(hu: np.ndarray, threshold_hu: float = 130.0, min_voxels: int = MIN_VOXELS
                    ) -> tuple[np.ndarray, list[Candidate]]:
    """Component map (Z, H, W) int32 of ``hu >= threshold_hu`` (6-connected) and its components of >= ``min_voxels``."""
    from scipy import ndimage

    labels, _ = ndimage.label(hu >= threshold_hu, structure=ndimage.generate_binary_structure(3, 1))
    counts = np.bincount(labels.ravel())
    found = [Candidate(i, int(counts[i]), tuple(box))  # type: ignore[arg-type]
             for i, box in enumerate(ndimage.find_objects(labels), start=1)
             if box is not None and counts[i] >= min_voxels]
    return labels, found


def candidate_patch(hu: np.ndarray, labels: np.ndarray, candidate: Candidate,
                    spacing_mm: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(2, PATCH_SLICES, PATCH_PIXELS, PATCH_PIXELS) float32 patch and (4,) float32 scalars of ``candidate``."""
    from scipy import ndimage

    bz, by, bx = candidate.bbox
    centre_z = (bz.start + bz.stop - 1) // 2  # the first of the two middle slices of an even extent
    centre_y, centre_x = (by.start + by.stop - 1) / 2, (bx.start + bx.stop - 1) / 2
    z = centre_z + np.arange(PATCH_SLICES) - PATCH_SLICES // 2
    offsets_mm = (np.arange(PATCH_PIXELS) - (PATCH_PIXELS - 1) / 2) * PATCH_MM
    ys, xs = centre_y + offsets_mm / spacing_mm[1], centre_x + offsets_mm / spacing_mm[2]
    # sample from the region the grid covers (plus one voxel for interpolation), not the whole volume
    z0, z1 = int(np.clip(z.min(), 0, hu.shape[0] - 1)), int(np.clip(z.max(), 0, hu.shape[0] - 1)) + 1
    y0, y1 = max(int(np.floor(ys.min())) - 1, 0), min(int(np.ceil(ys.max())) + 2, hu.shape[1])
    x0, x1 = max(int(np.floor(xs.min())) - 1, 0), min(int(np.ceil(xs.max())) + 2, hu.shape[2])
    region = (slice(z0, z1), slice(y0, y1), slice(x0, x1))
    grid = np.meshgrid(np.clip(z, 0, hu.shape[0] - 1) - z0, ys - y0, xs - x0, indexing="ij")
    values = ndimage.map_coordinates(np.asarray(hu[region], dtype=np.float32), grid, order=1, mode="nearest")
    own = ndimage.map_coordinates((labels[region] == candidate.label).astype(np.float32), grid, order=1,
                                  mode="constant")
    outside = (z < 0) | (z >= hu.shape[0])
    values[outside] = WINDOW_HU[0]
    own[outside] = 0.0
    low, high = WINDOW_HU
    patch = np.stack([np.clip((values - low) / (high - low), 0.0, CHANNEL0_MAX), own]).astype(np.float32)
    inside = labels[candidate.bbox] == candidate.label
    peak = float(np.asarray(hu[candidate.bbox])[inside].max())
    volume_mm3 = candidate.voxels * float(np.prod(spacing_mm))
    z_extent_cm = (bz.stop - bz.start) * spacing_mm[0] / 10.0
    scalars = np.array([np.log1p(volume_mm3), z_extent_cm, peak / 1000.0, spacing_mm[0] / 3.0], dtype=np.float32)
    return patch, scalars
