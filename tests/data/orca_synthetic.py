"""Tiny OrCaScore-layout folders for converter tests: MetaImage (.mhd + .zraw) CT and label volumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tqgd.data.orcascore import case_id, image_path, reference_path

SPACING_XYZ_MM = (0.7, 0.7, 3.0)
CALCIUM_HU = 450


def synthetic_case(seed: int, slices: int = 8, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """(hu int16, labels uint8), both (Z, Y, X): a body ellipse with noise and a few calcium lesions.

    Lesions include one spanning several slices (LAD), a 1-pixel one (LCX), one touching the image border
    (RCA) and a random extra lesion, so conversions see the degenerate cases.
    """
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:slices, :size, :size]
    body = ((y - size / 2) / (0.45 * size)) ** 2 + ((x - size / 2) / (0.48 * size)) ** 2 <= 1
    hu = np.where(body, 40, -1000) + rng.normal(0, 20, (slices, size, size))
    labels = np.zeros((slices, size, size), np.uint8)
    cy, cx = (int(v) for v in rng.integers(size // 3, 2 * size // 3, 2))
    labels[slices // 4:slices // 4 + 3, cy:cy + 3, cx:cx + 4] = 1
    labels[max(slices - 2, 0), size // 4, size // 4 + seed % 5] = 2
    labels[(1 + seed % 3) % slices, size // 2:size // 2 + 3, size - 2:] = 3
    ry, rx = (int(v) for v in rng.integers(10, size - 12, 2))
    labels[seed % slices, ry:ry + 2, rx:rx + 2] = int(rng.integers(1, 4))
    hu[labels > 0] = CALCIUM_HU + rng.normal(0, 30, int((labels > 0).sum()))
    return np.round(hu).astype(np.int16), labels


def _write(array: np.ndarray, path: Path) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING_XYZ_MM)
    image.SetOrigin((-33.6, -33.6, 0.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


def write_orcascore_folder(root: Path, patients: int = 3, slices: int = 8, size: int = 96) -> Path:
    """Write ``patients`` cases (TRV1P1...) in the OrCaScore layout under ``root``; returns ``root``."""
    for number in range(1, patients + 1):
        case = case_id(1, number)
        hu, labels = synthetic_case(number, slices, size)
        _write(hu, image_path(root, case))
        _write(labels, reference_path(root, case))
    return root
