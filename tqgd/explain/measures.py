"""How much of a saliency map falls in a box, and how alike two maps are.

- ``energy_share``: the map's sum over the pixels a box touches divided by its sum over the whole model image. A map
  that is zero everywhere says nothing about where the model looked (``grad-cam`` min-max normalises, so a constant
  map becomes zero too); it is given the share a flat map would have, the box's area fraction (``area_fraction``),
  so an empty map never counts as "focused" or as "unfocused".
- ``rank_correlation``: Spearman's rho (scipy) between two maps of the same image, pixel by pixel; NaN when either map
  is constant (a rank correlation is undefined there).
"""

from __future__ import annotations

import math

import numpy as np


def box_slices(box_xyxy: tuple[float, float, float, float], shape_hw: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of the pixels a pixel-edge box touches, cut to the image: ``(rows, cols)``."""
    height, width = shape_hw
    x0, y0, x1, y1 = box_xyxy
    c0, r0 = min(max(math.floor(x0), 0), width), min(max(math.floor(y0), 0), height)
    c1, r1 = max(min(math.ceil(x1), width), c0), max(min(math.ceil(y1), height), r0)
    return slice(r0, r1), slice(c0, c1)


def area_fraction(box_xyxy: tuple[float, float, float, float], shape_hw: tuple[int, int]) -> float:
    """Share of the image's pixels the box touches (the energy share of a flat map)."""
    rows, cols = box_slices(box_xyxy, shape_hw)
    return (rows.stop - rows.start) * (cols.stop - cols.start) / float(shape_hw[0] * shape_hw[1])


def energy_share(cam: np.ndarray, box_xyxy: tuple[float, float, float, float]) -> float:
    """Share of the map's energy (sum of its non-negative values) inside the box; see the module docstring."""
    values = np.clip(np.asarray(cam, dtype=np.float64), 0.0, None)
    total = float(values.sum())
    if total <= 0.0:
        return area_fraction(box_xyxy, values.shape)
    rows, cols = box_slices(box_xyxy, values.shape)
    return float(values[rows, cols].sum()) / total


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rho between two maps of the same shape (NaN when either is constant)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(first, dtype=np.float64).ravel(), np.asarray(second, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {np.shape(first)} and {np.shape(second)}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)
