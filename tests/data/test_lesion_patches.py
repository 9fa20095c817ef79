"""Verifier patches: which components are candidates, where the patch looks, and what it holds."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tqgd.data.lesion_patches import (CHANNEL0_MAX, MIN_VOXELS, PATCH_MM, PATCH_PIXELS, PATCH_SLICES, WINDOW_HU,
                                      candidate_patch, find_candidates)


def _volume() -> np.ndarray:
    """(12, 64, 64) soft tissue with: a 3 x 7 x 7 cube (600 HU), two voxels touching it only diagonally in 3D, a long
    rod along z (slices 0-11, 300 HU) and a 2-voxel speck."""
    hu = np.full((12, 64, 64), 40.0, dtype=np.float32)
    hu[5:8, 20:27, 20:27] = 600.0
    hu[8, 27, 27] = hu[8, 28, 28] = 500.0   # corner-touching: another 6-connected component (2 voxels)
    hu[:, 50:53, 50:53] = 300.0
    hu[2, 5, 5:7] = 200.0
    return hu


def test_candidates_are_6_connected_components_of_min_voxels():
    labels, found = find_candidates(_volume())
    sizes = sorted(c.voxels for c in found)
    assert sizes == [12 * 3 * 3, 3 * 7 * 7]  # the diagonal pair and the speck are under MIN_VOXELS
    assert MIN_VOXELS > 2
    reference, _ = ndimage.label(_volume() >= 130)  # scipy's default structure is 6-connectivity
    assert len(np.unique(labels)) == len(np.unique(reference))
    for c in found:
        assert (labels[c.bbox] == c.label).sum() == c.voxels


def test_patch_is_centred_and_resampled_to_fixed_mm():
    hu = _volume()
    labels, found = find_candidates(hu)
    cube = next(c for c in found if c.voxels == 3 * 7 * 7)
    spacing = (3.0, 0.35, 0.35)  # 7 px = 2.45 mm = 3.5 patch samples
    patch, scalars = candidate_patch(hu, labels, cube, spacing)
    assert patch.shape == (2, PATCH_SLICES, PATCH_PIXELS, PATCH_PIXELS) and patch.dtype == np.float32
    middle = PATCH_SLICES // 2
    own = patch[1, middle] > 0.5
    ys, xs = np.nonzero(own)
    assert abs(ys.mean() - (PATCH_PIXELS - 1) / 2) < 0.6 and abs(xs.mean() - (PATCH_PIXELS - 1) / 2) < 0.6
    assert abs((xs.max() - xs.min() + 1) - 7 * 0.35 / PATCH_MM) <= 1.0
    assert own.sum() == (patch[1] > 0.5).sum() / 3  # the cube spans the three middle slices
    low, high = WINDOW_HU
    assert np.isclose(patch[0, middle][own].max(), (600 - low) / (high - low), atol=1e-5)
    assert np.allclose(scalars, [np.log1p(147 * 3.0 * 0.35 * 0.35), 0.9, 0.6, 1.0], atol=1e-6)


def test_patch_samples_the_same_as_the_whole_volume_would():
    hu = np.random.default_rng(0).normal(100, 300, (12, 64, 64)).astype(np.float32)
    hu[5:8, 30:34, 3:7] = 900.0  # near the left edge: the grid leaves the volume there
    labels, found = find_candidates(hu, min_voxels=40)
    candidate = next(c for c in found if labels[6, 31, 4] == c.label)
    spacing = (2.5, 0.6, 0.6)
    patch, _ = candidate_patch(hu, labels, candidate, spacing)
    bz, by, bx = candidate.bbox
    z = np.clip((bz.start + bz.stop - 1) // 2 + np.arange(PATCH_SLICES) - PATCH_SLICES // 2, 0, 11)
    offsets = (np.arange(PATCH_PIXELS) - (PATCH_PIXELS - 1) / 2) * PATCH_MM / 0.6
    grid = np.meshgrid(z, (by.start + by.stop - 1) / 2 + offsets, (bx.start + bx.stop - 1) / 2 + offsets, indexing="ij")
    whole = ndimage.map_coordinates(hu, grid, order=1, mode="nearest")
    mask = ndimage.map_coordinates((labels == candidate.label).astype(np.float32), grid, order=1, mode="constant")
    low, high = WINDOW_HU
    beyond = (bz.start + bz.stop - 1) // 2 + np.arange(PATCH_SLICES) - PATCH_SLICES // 2
    beyond = (beyond < 0) | (beyond > 11)  # slices past the 12-slice scan read as air, their mask as empty
    whole[beyond], mask[beyond] = low, 0.0
    assert np.allclose(patch[0], np.clip((whole - low) / (high - low), 0, CHANNEL0_MAX), atol=1e-5)
    assert np.allclose(patch[1], mask, atol=1e-6)


def test_slices_beyond_the_scan_read_as_air():
    hu = np.full((3, 32, 32), 40.0, dtype=np.float32)
    hu[0:2, 10:14, 10:14] = 500.0
    labels, found = find_candidates(hu)
    patch, scalars = candidate_patch(hu, labels, found[0], (3.0, 0.7, 0.7))
    # extent 0-1: centred on slice 0; patch index i holds slice i - half: before slice 0 and after slice 2, air
    half = PATCH_SLICES // 2
    assert (patch[:, :half] == 0).all() and (patch[:, half + 3:] == 0).all()
    assert patch[0, half:half + 3].min() > 0  # the scan's three slices (40 HU soft tissue lies above the window's 0)
    assert patch[1, half].max() > 0.5 and patch[1, half + 1].max() > 0.5 and patch[1, half + 2].max() == 0
    assert np.isclose(scalars[1], 0.6)
