"""Segmentation metrics of the CAC papers, on binary masks (2D (H, W) or 3D (Z, H, W)).

Definitions (A = prediction, B = reference, |.| = voxel count; instances = connected components, face-connected by
default, i.e. 4-connected in 2D and 6-connected in 3D as OrCaScore defines a lesion):

- Instance sensitivity IS, precision IP, F1 IF1 (IarCAC, ``000``, after Kofler et al.'s blob loss): a reference
  instance is found when at least one of its voxels is predicted; a predicted instance is correct when at least one of
  its voxels is reference. IS = found reference instances / reference instances, IP = correct predicted instances /
  predicted instances, IF1 = 2 IS IP / (IS + IP). Several instances may share one overlap; there is no one-to-one
  matching. Counts are pooled over images (``InstanceCounts.__add__``).
- Dice (IarCAC ``000`` DSC, CAC-Net ``001``): 2 |A n B| / (|A| + |B|).
- Surface Dice at tolerance tau mm (IarCAC ``000`` SDSC, after Nikolov et al.): border voxels of a mask are its voxels
  with a face neighbour outside it; SD = (#border(A) within tau of border(B) + #border(B) within tau of border(A)) /
  (#border(A) + #border(B)), distances between voxel centres in mm (Euclidean, with the pixel spacing). Border voxels
  stand in for the surface elements of the original; tau is not given in the paper, tqgd's default is 1 mm.
- Intersection over minimum IoM (``004``): |A n B| / min(|A|, |B|); 1 when the smaller region lies inside the larger.
  ``box_iom`` is the same on boxes (areas of pixel-edge boxes).

Every function returns None where the ratio is undefined (both masks empty), never a made-up 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Surface Dice tolerance used when none is given (mm).
DEFAULT_TOLERANCE_MM = 1.0


def _pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, ref = np.asarray(pred) != 0, np.asarray(ref) != 0
    if pred.shape != ref.shape or pred.ndim not in (2, 3):
        raise ValueError(f"masks must be 2D or 3D with equal shapes, got {pred.shape} and {ref.shape}")
    return pred, ref


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator > 0 else None


@dataclass(frozen=True)
class InstanceCounts:
    """Instance counts of one or more images (see the module docstring)."""

    n_reference: int = 0
    n_predicted: int = 0
    reference_found: int = 0
    predicted_correct: int = 0

    def __add__(self, other: InstanceCounts) -> InstanceCounts:
        return InstanceCounts(self.n_reference + other.n_reference, self.n_predicted + other.n_predicted,
                              self.reference_found + other.reference_found,
                              self.predicted_correct + other.predicted_correct)

    @property
    def sensitivity(self) -> float | None:
        """IS: found reference instances / reference instances."""
        return _ratio(self.reference_found, self.n_reference)

    @property
    def precision(self) -> float | None:
        """IP: correct predicted instances / predicted instances."""
        return _ratio(self.predicted_correct, self.n_predicted)

    @property
    def f1(self) -> float | None:
        """IF1: harmonic mean of IS and IP (0 when one of them is 0; None when either is undefined)."""
        s, p = self.sensitivity, self.precision
        if s is None or p is None:
            return None
        return 2 * s * p / (s + p) if s + p > 0 else 0.0


def _structure(ndim: int, connectivity: int | None) -> np.ndarray:
    allowed = {2: (4, 8), 3: (6, 26)}[ndim]
    connectivity = allowed[0] if connectivity is None else connectivity
    if connectivity not in allowed:
        raise ValueError(f"connectivity {connectivity} is not defined for {ndim}D masks; use one of {allowed}")
    return ndimage.generate_binary_structure(ndim, 1 if connectivity == allowed[0] else ndim)


def instance_counts(pred: np.ndarray, ref: np.ndarray, connectivity: int | None = None) -> InstanceCounts:
    """Instance counts of one image or volume (4/8 in 2D, 6/26 in 3D; default face connectivity)."""
    pred, ref = _pair(pred, ref)
    structure = _structure(pred.ndim, connectivity)
    pred_labels, n_pred = ndimage.label(pred, structure=structure)
    ref_labels, n_ref = ndimage.label(ref, structure=structure)
    both = pred & ref
    return InstanceCounts(n_reference=n_ref, n_predicted=n_pred, reference_found=len(np.unique(ref_labels[both])),
                          predicted_correct=len(np.unique(pred_labels[both])))


def dice(pred: np.ndarray, ref: np.ndarray) -> float | None:
    """2 |A n B| / (|A| + |B|); None when both are empty."""
    pred, ref = _pair(pred, ref)
    return _ratio(2 * np.count_nonzero(pred & ref), np.count_nonzero(pred) + np.count_nonzero(ref))


def iom(pred: np.ndarray, ref: np.ndarray) -> float | None:
    """|A n B| / min(|A|, |B|); 0 when exactly one is empty, None when both are."""
    pred, ref = _pair(pred, ref)
    a, b = np.count_nonzero(pred), np.count_nonzero(ref)
    if a == 0 and b == 0:
        return None
    return _ratio(np.count_nonzero(pred & ref), min(a, b)) if min(a, b) else 0.0


def box_iom(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection area / smaller area of two ``(x0, y0, x1, y1)`` boxes (0 for an empty box)."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(width * height / smaller) if smaller > 0 else 0.0


def border(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (the image edge counts as outside)."""
    mask = np.asarray(mask) != 0
    inner = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)
    return mask & ~inner


def surface_dice(pred: np.ndarray, ref: np.ndarray, spacing_mm: Sequence[float],
                 tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> float | None:
    """Surface Dice at ``tolerance_mm`` (see the module docstring); ``spacing_mm`` per axis, in array order."""
    pred, ref = _pair(pred, ref)
    if len(spacing_mm) != pred.ndim or min(spacing_mm) <= 0:
        raise ValueError(f"spacing_mm needs {pred.ndim} positive values (array order), got {tuple(spacing_mm)}")
    if tolerance_mm < 0:
        raise ValueError(f"tolerance_mm must be >= 0, got {tolerance_mm}")
    edge_a, edge_b = border(pred), border(ref)
    n_a, n_b = int(edge_a.sum()), int(edge_b.sum())
    if n_a + n_b == 0:
        return None
    if n_a == 0 or n_b == 0:
        return 0.0
    to_b = ndimage.distance_transform_edt(~edge_b, sampling=spacing_mm)
    to_a = ndimage.distance_transform_edt(~edge_a, sampling=spacing_mm)
    close = np.count_nonzero(to_b[edge_a] <= tolerance_mm) + np.count_nonzero(to_a[edge_b] <= tolerance_mm)
    return float(close / (n_a + n_b))


@dataclass
class MaskMetrics:
    """Mask metrics over a set of images: pooled instance counts, per-image Dice / surface Dice / IoM values."""

    counts: InstanceCounts
    dice_values: list[float]
    surface_dice_values: list[float]
    iom_values: list[float]
    tolerance_mm: float
    n_images: int

    def summary(self) -> dict[str, float | int | None]:
        """IF1/IS/IP from pooled counts; mean Dice and surface Dice and median IoM over images where defined."""
        def mean(values: list[float]) -> float | None:
            return float(np.mean(values)) if values else None

        return {"instance_f1": self.counts.f1, "instance_sensitivity": self.counts.sensitivity,
                "instance_precision": self.counts.precision, "reference_instances": self.counts.n_reference,
                "predicted_instances": self.counts.n_predicted, "dice": mean(self.dice_values),
                "surface_dice": mean(self.surface_dice_values), "surface_dice_tolerance_mm": self.tolerance_mm,
                "iom_median": float(np.median(self.iom_values)) if self.iom_values else None,
                "images": self.n_images}


class MaskMetricsAccumulator:
    """Adds images one at a time (``add``) and returns a ``MaskMetrics``."""

    def __init__(self, connectivity: int | None = None, tolerance_mm: float = DEFAULT_TOLERANCE_MM):
        self.connectivity, self.tolerance_mm = connectivity, tolerance_mm
        self.result = MaskMetrics(InstanceCounts(), [], [], [], tolerance_mm, 0)

    def add(self, pred: np.ndarray, ref: np.ndarray, spacing_mm: Sequence[float] | None) -> None:
        """One image; surface Dice is skipped when ``spacing_mm`` is None (pixel size unknown)."""
        result = self.result
        result.counts = result.counts + instance_counts(pred, ref, self.connectivity)
        result.n_images += 1
        for values, value in ((result.dice_values, dice(pred, ref)), (result.iom_values, iom(pred, ref))):
            if value is not None:
                values.append(value)
        if spacing_mm is not None:
            value = surface_dice(pred, ref, spacing_mm, self.tolerance_mm)
            if value is not None:
                result.surface_dice_values.append(value)
