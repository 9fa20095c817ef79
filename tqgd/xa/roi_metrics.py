"""Paper 004's Table 2 metrics: patch classification P/R/F1, IoM and Hausdorff distance (mm) of ROIs, over folds.

- Classification, per patch: positive = the patch holds calcium (reference) or the method says so (the baseline's
  classifier at its threshold; a detector: at least one box at its confidence). P = TP / (TP + FP), R = TP / (TP +
  FN), F1 their harmonic mean; a ratio with a zero denominator counts 0 (scikit-learn's ``zero_division=0``).
- IoM (intersection over minimum, ``tqgd.baselines.instance_metrics.iom``): |ROI n calcium| / min(|ROI|, |calcium|)
  per frame with calcium; 0 when the method gives no ROI. For a ROI larger than the calcium it is the share of the
  calcium inside the ROI.
- Hausdorff distance between the ROI and the calcium pixels: the larger of the two directed distances (the farthest
  pixel of one set from the other set), measured between pixel centres in mm with the run's pixel spacing (row,
  column); undefined (None) when either set is empty.
- A fold's value is the mean over its frames (classification pooled over its patches); Table 2 gives the median and
  the quartiles of the fold values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tqgd.baselines.instance_metrics import iom
from tqgd.errors import ConfigError


def hausdorff_mm(a: np.ndarray, b: np.ndarray, spacing_mm: Sequence[float]) -> float | None:
    """Symmetric Hausdorff distance (mm) between the non-zero pixels of two (H, W) masks; None if either is empty."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    if a.shape != b.shape or a.ndim != 2:
        raise ConfigError(f"Hausdorff distance needs two 2D masks of one shape, got {a.shape} and {b.shape}")
    if len(spacing_mm) != 2 or min(spacing_mm) <= 0:
        raise ConfigError(f"pixel spacing must be two positive numbers (row, column) in mm, got {spacing_mm}")
    if not a.any() or not b.any():
        return None
    to_b = ndimage.distance_transform_edt(~b, sampling=spacing_mm)
    to_a = ndimage.distance_transform_edt(~a, sampling=spacing_mm)
    return float(max(to_b[a].max(), to_a[b].max()))


def boxes_to_mask(boxes: Iterable[Sequence[float]], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool with every ``(x0, y0, x1, y1)`` box filled (pixel edges, rounded; at least one pixel each)."""
    mask = np.zeros(shape, dtype=bool)
    height, width = shape
    for x0, y0, x1, y1 in (tuple(b[:4]) for b in boxes):
        c0, r0 = min(max(int(round(x0)), 0), width - 1), min(max(int(round(y0)), 0), height - 1)
        c1, r1 = min(max(int(round(x1)), c0 + 1), width), min(max(int(round(y1)), r0 + 1), height)
        mask[r0:r1, c0:c1] = True
    return mask


@dataclass
class ClassCounts:
    """Patch classification counts; ``add`` one patch at a time."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, predicted: bool) -> None:
        """Count one patch."""
        if truth and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        """TP / (TP + FP), 0 when nothing was called positive."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN), 0 when no patch holds calcium."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0 when both are 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class FrameScores:
    """Per-frame IoM and Hausdorff values of one fold (frames with calcium only) and the frames with no ROI."""

    iom: list[float]
    hd_mm: list[float]
    frames: int = 0
    frames_without_roi: int = 0

    def add(self, roi: np.ndarray, calcium: np.ndarray, spacing_mm: Sequence[float]) -> None:
        """Score one frame's ROI (H, W) against its calcium (H, W); frames without calcium are not scored."""
        if not np.any(calcium):
            return
        self.frames += 1
        self.iom.append(iom(roi, calcium))
        distance = hausdorff_mm(roi, calcium, spacing_mm)
        if distance is None:
            self.frames_without_roi += 1
        else:
            self.hd_mm.append(distance)


def fold_record(counts: ClassCounts, frames: FrameScores) -> dict:
    """One fold's Table 2 values (None where no frame defines them) and the counts behind them."""
    return {"precision": counts.precision, "recall": counts.recall, "f1": counts.f1,
            "iom": float(np.mean(frames.iom)) if frames.iom else None,
            "hd_mm": float(np.mean(frames.hd_mm)) if frames.hd_mm else None,
            "patches": counts.tp + counts.fp + counts.fn + counts.tn, "tp": counts.tp, "fp": counts.fp,
            "fn": counts.fn, "tn": counts.tn, "frames_with_calcium": frames.frames,
            "frames_without_roi": frames.frames_without_roi}


def median_quartiles(values: Iterable[float | None]) -> tuple[float, float, float, int] | None:
    """(median, first quartile, third quartile, n) of the defined values (linear percentiles); None if none."""
    defined = np.array([v for v in values if v is not None], dtype=np.float64)
    if defined.size == 0:
        return None
    q1, median, q3 = np.percentile(defined, [25, 50, 75])
    return float(median), float(q1), float(q3), int(defined.size)
