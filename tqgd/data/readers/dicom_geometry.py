"""Order the slices of one DICOM series in space and check they form one volume.

Slices are sorted by ImagePositionPatient projected on the slice normal (row x column direction), never by file
name or InstanceNumber, which exports often scramble. A series must share one image size, orientation and pixel
spacing and hold no two slices at the same place. The z spacing is the median gap between neighbouring slice
centres; uneven gaps keep every slice's own position and are recorded, not smoothed over.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.readers.dicom_slices import SliceHeader
from tqgd.errors import ScanReadError, SeriesError

#: Direction cosines may differ by rounding in the last printed digits.
ORIENTATION_TOLERANCE = 1e-4
#: Pixel spacings (mm) that differ by less than this are the same.
PIXEL_SPACING_TOLERANCE_MM = 1e-4
#: Two slices closer than this along the normal are the same slice position.
DUPLICATE_POSITION_TOLERANCE_MM = 1e-3
#: Gaps that differ from the median by more than this (mm), or by more than the fraction below, are irregular.
IRREGULAR_GAP_TOLERANCE_MM = 0.01
IRREGULAR_GAP_FRACTION = 0.01
#: Slice offsets that leave the normal by more than this (mm) mean a tilted gantry or a sheared stack.
OFF_NORMAL_TOLERANCE_MM = 0.01


@dataclass
class SeriesLayout:
    """Where the slices of a series go: z order, geometry and any irregularity found."""

    order: list[int]  # indices into the header list, in increasing position along the normal
    positions_mm: np.ndarray | None  # (Z, 3) ImagePositionPatient of each slice in z order
    direction: np.ndarray  # (3, 3) columns: row direction (x), column direction (y), slice normal (z)
    spacing_mm: tuple[float, float, float]  # (z, y, x)
    extra: dict[str, Any] = field(default_factory=dict)


def _examples(headers: list[SliceHeader], values: list[Any]) -> str:
    """'value: N slice(s) (e.g. IM0003.dcm)' for each distinct value, most common first."""
    counts = Counter(values)
    first = {}
    for header, value in zip(headers, values, strict=True):
        first.setdefault(value, header.label)
    return "; ".join(f"{value}: {n} slice(s) (e.g. {first[value]})" for value, n in counts.most_common())


def _check_same(headers: list[SliceHeader], where: Path) -> None:
    """Every slice must share the image size, pixel spacing and orientation of the first."""
    sizes = [(h.rows, h.columns) for h in headers]
    if len(set(sizes)) > 1:
        raise SeriesError("slices have different image sizes (Rows x Columns) in one series: "
                          f"{_examples(headers, [f'{r}x{c}' for r, c in sizes])}; pick one series or remove the "
                          "odd files (a scout or a reformat may share the series UID)", where)
    spacings = np.array([h.pixel_spacing_mm for h in headers])
    if np.abs(spacings - spacings[0]).max() > PIXEL_SPACING_TOLERANCE_MM:
        labels = [f"{s[0]:g}x{s[1]:g} mm" for s in spacings]
        raise SeriesError(f"slices have different PixelSpacing in one series: {_examples(headers, labels)}", where)
    orientations = [h.orientation for h in headers]
    if any(o is None for o in orientations):
        if len(headers) == 1:
            return
        missing = next(h.label for h in headers if h.orientation is None)
        raise ScanReadError(f"ImageOrientationPatient (0020,0037) is missing in {missing}; without it the slices "
                            "cannot be placed in space", where)
    stack = np.array(orientations)
    if np.abs(stack - stack[0]).max() > ORIENTATION_TOLERANCE:
        labels = [str(np.round(o, 4).tolist()) for o in stack]
        raise SeriesError(f"slices have different ImageOrientationPatient in one series: {_examples(headers, labels)}; "
                          "a localizer or an oblique reformat is mixed in: remove those files", where)


def _direction(orientation: np.ndarray | None, where: Path) -> np.ndarray:
    """(3, 3) direction matrix from the six direction cosines; the third column is their cross product."""
    if orientation is None:
        return np.eye(3)
    row, col = orientation[:3], orientation[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(row @ col) > 1e-3:
        raise ScanReadError(f"ImageOrientationPatient (0020,0037) {orientation.tolist()} is not two perpendicular unit "
                            "vectors; the header is corrupt", where)
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    return np.stack([row, col, np.cross(row, col)], axis=1)


def layout_series(headers: list[SliceHeader], where: Path, single_slice_spacing_mm: float | None) -> SeriesLayout:
    """Sort ``headers`` along the slice normal, check the series and measure its spacing.

    ``single_slice_spacing_mm`` is the z spacing to use when there is only one slice (SpacingBetweenSlices or
    SliceThickness of that file); 1 mm is assumed when it is None.
    """
    _check_same(headers, where)
    first = headers[0]
    direction = _direction(first.orientation, where)
    pixel_y_mm, pixel_x_mm = first.pixel_spacing_mm
    extra: dict[str, Any] = {}
    if len(headers) == 1:
        spacing_z = single_slice_spacing_mm or 1.0
        if single_slice_spacing_mm is None:
            extra["note"] = "single slice without SliceThickness or SpacingBetweenSlices: 1 mm z spacing assumed"
        if first.position_mm is None:
            extra["position_missing"] = "ImagePositionPatient missing: origin set to (0, 0, 0)"
        positions = None if first.position_mm is None else first.position_mm[None]
        return SeriesLayout([0], positions, direction, (spacing_z, pixel_y_mm, pixel_x_mm), extra)
    missing = [h.label for h in headers if h.position_mm is None]
    if missing:
        raise ScanReadError(f"ImagePositionPatient (0020,0032) is missing in {len(missing)} slice(s) (e.g. "
                            f"{missing[0]}); without it the slices cannot be ordered", where)
    positions = np.array([h.position_mm for h in headers])
    along_normal = positions @ direction[:, 2]
    order = [int(i) for i in np.argsort(along_normal, kind="stable")]
    sorted_positions = positions[order]
    gaps = np.diff(along_normal[order])
    duplicate = int(np.argmin(gaps))
    if gaps[duplicate] < DUPLICATE_POSITION_TOLERANCE_MM:
        a, b = headers[order[duplicate]], headers[order[duplicate + 1]]
        raise SeriesError(f"two slices share one position ({np.round(a.position_mm, 3).tolist()} mm): {a.label} and "
                          f"{b.label}; the series holds repeated scans (e.g. cardiac phases) under one "
                          "SeriesInstanceUID. Split them into separate folders or series", where)
    spacing_z = float(np.median(gaps))
    deviation = float(np.abs(gaps - spacing_z).max())
    if deviation > max(IRREGULAR_GAP_TOLERANCE_MM, IRREGULAR_GAP_FRACTION * spacing_z):
        extra["irregular_slice_spacing"] = {
            "median_gap_mm": spacing_z, "min_gap_mm": float(gaps.min()), "max_gap_mm": float(gaps.max()),
            "irregular_gaps": int((np.abs(gaps - spacing_z) > IRREGULAR_GAP_TOLERANCE_MM).sum()),
        }
    offsets = sorted_positions - sorted_positions[0]
    off_normal = offsets - np.outer(offsets @ direction[:, 2], direction[:, 2])
    off_normal_mm = float(np.linalg.norm(off_normal, axis=1).max())
    if off_normal_mm > OFF_NORMAL_TOLERANCE_MM:
        extra["slices_off_normal_mm"] = off_normal_mm  # gantry tilt: positions are kept per slice
    return SeriesLayout(order, sorted_positions, direction, (spacing_z, pixel_y_mm, pixel_x_mm), extra)
