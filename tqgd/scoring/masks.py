"""Label and mask volumes given to scoring: read them, check them against their CT, decide how to read their values.

A mask is any segmentation of calcium on the CT's voxel grid: an OrCaScore reference (0 background, 1 LAD incl.
left main, 2 LCX, 3 RCA, 4 calcium of undetermined artery) or another model's output (binary, or with artery
labels). It must have the CT's shape and voxel spacing; values must be whole numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqgd.data.orcascore import REFERENCE_LABELS, reference_labels_text
from tqgd.data.volume import CTVolume
from tqgd.errors import LabelError, ScanReadError

_SPACING_RELATIVE_TOLERANCE = 1e-3


def read_mask(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Read a MetaImage/NIfTI label volume as int32 (Z, Y, X) and its spacing (z, y, x) in mm."""
    from tqgd.data.readers.sitk_image import read_sitk_volume

    path = Path(path)
    try:
        volume = read_sitk_volume(path)
    except ScanReadError as exc:
        raise LabelError(f"cannot read mask: {exc.detail}", path) from exc
    values = volume.hu
    if not np.array_equal(values, np.round(values)):
        raise LabelError("mask values must be whole numbers (label values or 0/1), found fractional values; save "
                         "the segmentation as an integer label volume, not probabilities", path)
    return values.astype(np.int32), volume.spacing_mm


def check_mask_matches(volume: CTVolume, labels: np.ndarray, spacing_mm: tuple[float, float, float] | None = None,
                       path: str | Path | None = None) -> None:
    """Raise ``LabelError`` unless ``labels`` lies on the CT's voxel grid (same shape, and spacing when known)."""
    source = path if path is not None else "mask"
    if tuple(labels.shape) != tuple(volume.shape):
        raise LabelError(f"mask shape (z, y, x) = {tuple(labels.shape)} differs from the CT's {tuple(volume.shape)} "
                         f"({volume.meta.source}); give the mask made for this scan, or resample it onto the CT grid",
                         source if path is not None else None)
    if spacing_mm is not None and not np.allclose(spacing_mm, volume.spacing_mm, rtol=_SPACING_RELATIVE_TOLERANCE):
        got = tuple(round(s, 4) for s in spacing_mm)
        want = tuple(round(s, 4) for s in volume.spacing_mm)
        raise LabelError(f"mask voxel spacing (z, y, x) = {got} mm differs from the CT's {want} mm; the mask was "
                         "made for another scan or resampled: give the mask on the CT's own grid", path)


def resolve_label_mode(labels: np.ndarray, mode: str, path: str | Path | None = None) -> bool:
    """True when ``labels`` are to be read as artery labels (1 LAD, 2 LCX, 3 RCA, 4 undetermined), False for binary.

    ``mode`` is ``ScoringOptions.mask_labels``: ``arteries`` (values must be 0-4), ``binary``, or ``auto``
    (arteries when every value is 0-4 and 2, 3 or 4 occurs: a plain 0/1 mask is binary).
    """
    values = np.unique(labels)
    if values.size and values.min() < 0:
        raise LabelError(f"mask values must be >= 0, found {int(values.min())}", path)
    artery_values = set(REFERENCE_LABELS) | {0}
    outside = sorted(set(values.tolist()) - artery_values)
    if mode == "binary":
        return False
    if mode == "arteries":
        if outside:
            raise LabelError(f"artery labels must be {reference_labels_text()}; found {outside[:5]}; "
                             "pass --labels binary if any non-zero value simply means calcium", path)
        return True
    return not outside and bool((set(REFERENCE_LABELS) - {1}) & set(values.tolist()))  # 1 alone: a 0/1 mask
