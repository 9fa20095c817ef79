"""Calcium lesions in a label volume: per-slice (2D) lesions for Agatston, grouped into 3D lesions for reporting.

Rule: a voxel is calcium when its label marks calcium (an artery value 1-3 or 4 for an undetermined artery, or
any non-zero value for a binary mask)
and its HU is at or above ``calcium_floor_hu`` (the threshold, or just above it: ``options.calcium_floor``).
Per slice, calcium pixels of the same artery form a lesion when they are connected (4- or 8-connectivity, an
option); lesions smaller than the minimum area are dropped from every score.
The remaining per-slice lesions are grouped into 3D lesions with the matching 3D connectivity (in-plane as chosen,
plus the voxel directly above and below), so each per-slice lesion belongs to exactly one 3D lesion and one artery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tqgd.data.orcascore import REFERENCE_LABELS

#: Label value given to calcium of unknown artery (binary masks).
UNKNOWN_ARTERY_VALUE = 0

_AREA_TOLERANCE = 1e-9


@dataclass
class LesionComponents:
    """Per-slice lesions of one scan as parallel arrays (length N, sorted by 3D lesion then slice).

    Attributes:
        lesion_map: int32 (Z, Y, X), 3D lesion id (1..L) per calcium voxel, 0 elsewhere (dropped pixels are 0).
        lesion_id, slice_index, artery_value, pixel_count: int arrays (N,); artery 0 = unknown (binary mask).
        peak_hu, sum_hu, centroid_y, centroid_x: float arrays (N,); centroid in voxel indices.
        dropped_small: number of per-slice components removed by the minimum-area rule.
    """

    lesion_map: np.ndarray
    lesion_id: np.ndarray
    slice_index: np.ndarray
    artery_value: np.ndarray
    pixel_count: np.ndarray
    peak_hu: np.ndarray
    sum_hu: np.ndarray
    centroid_y: np.ndarray
    centroid_x: np.ndarray
    dropped_small: int

    @property
    def n_lesions(self) -> int:
        """Number of 3D lesions."""
        return int(self.lesion_map.max()) if self.lesion_map.size else 0


def in_plane_structure(connectivity_2d: int) -> np.ndarray:
    """(3, 3, 3) structure connecting pixels within a slice only (4: edges, 8: edges and corners)."""
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1 if connectivity_2d == 4 else 2)
    return structure


def grouping_structure(connectivity_2d: int) -> np.ndarray:
    """3D structure matching ``connectivity_2d``: the in-plane neighbours plus the voxels above and below."""
    structure = in_plane_structure(connectivity_2d)
    structure[0, 1, 1] = structure[2, 1, 1] = True
    return structure


def calcium_classes(labels: np.ndarray, arteries: bool) -> list[tuple[int, np.ndarray]]:
    """(artery value, boolean mask) per calcium class: one per reference label (LAD, LCX, RCA, undetermined), or one
    unknown-artery class for a binary mask."""
    if not arteries:
        return [(UNKNOWN_ARTERY_VALUE, labels != 0)]
    return [(value, labels == value) for value in REFERENCE_LABELS]


def bounding_box(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Smallest (z, y, x) slices holding every True voxel of ``mask``, or None when it is empty."""
    if not mask.any():
        return None
    box = []
    for axis in range(3):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(int(present[0]), int(present[-1]) + 1))
    return tuple(box)  # type: ignore[return-value]


def find_lesions(hu: np.ndarray, labels: np.ndarray, spacing_mm: tuple[float, float, float], *,
                 calcium_floor_hu: float, connectivity_2d: int, min_area_mm2: float,
                 arteries: bool) -> LesionComponents:
    """Per-slice and 3D lesions of ``labels`` (Z, Y, X) on ``hu`` (same shape); see the module docstring."""
    pixel_area_mm2 = float(spacing_mm[1]) * float(spacing_mm[2])
    lesion_map = np.zeros(hu.shape, dtype=np.int32)
    above = hu >= calcium_floor_hu
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("lesion_id", "slice_index", "artery_value", "pixel_count",
                                                            "peak_hu", "sum_hu", "centroid_y", "centroid_x")}
    dropped = 0
    next_id = 0
    for artery_value, class_mask in calcium_classes(labels, arteries):
        box = bounding_box(class_mask & above)
        if box is None:
            continue
        per_slice, n = ndimage.label(class_mask[box] & above[box], structure=in_plane_structure(connectivity_2d))
        counts = np.bincount(per_slice.ravel(), minlength=n + 1)
        keep = counts * pixel_area_mm2 >= min_area_mm2 - _AREA_TOLERANCE
        keep[0] = False
        dropped += int(n - keep[1:].sum())
        kept = keep[per_slice]
        grouped, n_groups = ndimage.label(kept, structure=grouping_structure(connectivity_2d))
        if n_groups == 0:
            continue
        lesion_map[box][kept] = grouped[kept] + next_id
        z, y, x = np.nonzero(kept)
        component = per_slice[z, y, x]
        kept_ids = np.flatnonzero(keep)
        group_of = np.zeros(n + 1, dtype=np.int64)
        group_of[component] = grouped[z, y, x] + next_id
        slice_of = np.zeros(n + 1, dtype=np.int64)
        slice_of[component] = z + box[0].start
        values = hu[box][z, y, x].astype(np.float64)
        peak = np.full(n + 1, -np.inf)
        np.maximum.at(peak, component, values)
        columns["lesion_id"].append(group_of[kept_ids])
        columns["slice_index"].append(slice_of[kept_ids])
        columns["artery_value"].append(np.full(len(kept_ids), artery_value, dtype=np.int64))
        columns["pixel_count"].append(counts[kept_ids])
        columns["peak_hu"].append(peak[kept_ids])
        columns["sum_hu"].append(np.bincount(component, weights=values, minlength=n + 1)[kept_ids])
        for name, coordinate, offset in (("centroid_y", y, box[1].start), ("centroid_x", x, box[2].start)):
            sums = np.bincount(component, weights=coordinate, minlength=n + 1)[kept_ids]
            columns[name].append(sums / counts[kept_ids] + offset)
        next_id += n_groups
    arrays = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in columns.items()}
    order = np.lexsort((arrays["slice_index"], arrays["lesion_id"]))
    ints = ("lesion_id", "slice_index", "artery_value", "pixel_count")
    arrays = {k: (v[order].astype(np.int64) if k in ints else v[order].astype(np.float64)) for k, v in arrays.items()}
    return LesionComponents(lesion_map=lesion_map, dropped_small=dropped, **arrays)
