"""Masks -> lesions -> per-slice boxes: how segmentation labels (or a segmentation model's output) become boxes.

Lesions are connected components of the mask, computed separately for each class (OrCaScore: 3D
6-connected components of each artery label; with one class every non-zero voxel counts). On each slice a
lesion's footprint gives one box per 2D-connected piece, using the in-plane part of the 3D connectivity
(6 -> 4, 26 -> 8). Because the in-plane neighbourhood is contained in the 3D one, every 2D piece lies in
exactly one lesion, so the boxes of a slice are the 2D components of that slice's class mask, each tagged
with the lesion it belongs to.

Boxes use pixel *edges* like ultralytics and ``detections.json``: a box covering only column 10 has
``x0 = 10, x1 = 11``, so a 1-pixel lesion gives a 1 x 1 px box.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from tqgd.errors import ConfigError, LabelError

#: Allowed connectivities per mask rank, and the in-plane connectivity each 3D choice implies.
CONNECTIVITY_BY_NDIM: dict[int, tuple[int, ...]] = {2: (4, 8), 3: (6, 26)}
IN_PLANE_CONNECTIVITY: dict[int, int] = {6: 4, 26: 8}
#: Defaults: face-connected, as OrCaScore defines a lesion (and scipy's own default).
DEFAULT_CONNECTIVITY: dict[int, int] = {2: 4, 3: 6}
CONFIDENCE_REDUCTIONS = ("mean", "max")


@dataclass(frozen=True)
class Box:
    """One box on one slice: pixel edges ``[x0, x1) x [y0, y1)``; ``lesion_id`` numbers lesions from 1.

    ``area_px`` is the number of mask pixels in the piece (not the box area); ``score`` is 1.0 for binary
    masks or the mean/max probability over the piece.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    class_id: int = 0
    slice_index: int = 0
    lesion_id: int = 0
    area_px: int = 0
    score: float = 1.0

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` in pixel edges."""
        return self.x0, self.y0, self.x1, self.y1

    def in_crop(self, x0: int, y0: int, x1: int, y1: int) -> Box | None:
        """This box clipped to the crop ``[x0, x1) x [y0, y1)`` in crop coordinates, or None if outside it."""
        cx0, cy0 = max(self.x0, x0), max(self.y0, y0)
        cx1, cy1 = min(self.x1, x1), min(self.y1, y1)
        if cx1 <= cx0 or cy1 <= cy0:
            return None
        return replace(self, x0=cx0 - x0, y0=cy0 - y0, x1=cx1 - x0, y1=cy1 - y0)


def structure_for(connectivity: int, ndim: int) -> np.ndarray:
    """scipy structuring element for 4/8 (2D) or 6/26 (3D) connectivity."""
    allowed = CONNECTIVITY_BY_NDIM.get(ndim)
    if allowed is None:
        raise LabelError(f"masks must be 2D or 3D, got {ndim}D")
    if connectivity not in allowed:
        raise ConfigError(f"connectivity {connectivity} is not defined for {ndim}D masks; use one of {allowed}")
    return ndimage.generate_binary_structure(ndim, 1 if connectivity == allowed[0] else ndim)


def class_masks(mask: np.ndarray, class_of_value: Mapping[int, int] | None = None,
                source: str | Path | None = None) -> dict[int, np.ndarray]:
    """Split a label mask into one boolean mask per class id.

    ``class_of_value`` maps label values to class ids (several values may share a class); None means a
    binary mask where every non-zero value is class 0. Non-zero values missing from the map are an error.
    """
    mask = np.asarray(mask)
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        if not np.all(np.isfinite(mask)) or not np.array_equal(mask, np.round(mask)):
            raise LabelError(f"mask values must be whole numbers (labels), got dtype {mask.dtype} with fractions; "
                             "threshold probability maps before converting", source)
    if class_of_value is None:
        return {0: mask != 0}
    if mask.dtype in (np.uint8, np.uint16, bool):  # bincount is much faster than unique on big volumes
        present = set(np.flatnonzero(np.bincount(mask.ravel())).tolist()) - {0}
    else:
        present = set(np.unique(mask).tolist()) - {0}
    unknown = sorted(present - set(class_of_value))
    if unknown:
        raise LabelError(f"mask holds label value(s) {unknown} but only {sorted(class_of_value)} are mapped to "
                         "classes; check the label file (an OrCaScore reference holds only 0-4), or for other masks "
                         "give a class name for every label value, or treat the mask as binary", source)
    classes: dict[int, list[int]] = {}
    for value, class_id in sorted(class_of_value.items()):
        classes.setdefault(int(class_id), []).append(int(value))
    return {cid: np.isin(mask, values) for cid, values in sorted(classes.items())}


def _piece_scores(prob: np.ndarray | None, piece_of_pixel: np.ndarray, foreground: np.ndarray, areas: np.ndarray,
                  confidence: str) -> np.ndarray:
    """Mean or max of ``prob`` over each piece (1.0 without ``prob``); works on foreground pixels only."""
    if prob is None:
        return np.ones(len(areas))
    values = prob[foreground]
    if confidence == "mean":
        return np.bincount(piece_of_pixel, weights=values, minlength=len(areas) + 1)[1:] / areas
    peaks = np.full(len(areas) + 1, -np.inf)
    np.maximum.at(peaks, piece_of_pixel, values)
    return peaks[1:]


def _slice_pieces(binary2d: np.ndarray, lesions2d: np.ndarray | None, structure2d: np.ndarray, class_id: int,
                  slice_index: int, min_area_px: int, prob2d: np.ndarray | None, confidence: str) -> list[Box]:
    rows, cols = np.flatnonzero(binary2d.any(axis=1)), np.flatnonzero(binary2d.any(axis=0))
    if rows.size == 0:
        return []
    y_off, x_off = int(rows[0]), int(cols[0])  # label only the window around the foreground (fast on 512 px)
    window = (slice(y_off, int(rows[-1]) + 1), slice(x_off, int(cols[-1]) + 1))
    pieces, count = ndimage.label(binary2d[window], structure=structure2d)
    foreground = pieces > 0
    piece_of_pixel = pieces[foreground]
    areas = np.bincount(piece_of_pixel, minlength=count + 1)[1:]
    if lesions2d is None:
        lesion_ids = np.arange(1, count + 1)
    else:  # every pixel of a piece lies in the same lesion
        lesion_ids = np.zeros(count + 1, dtype=np.int64)
        lesion_ids[piece_of_pixel] = lesions2d[window][foreground]
        lesion_ids = lesion_ids[1:]
    scores = _piece_scores(None if prob2d is None else prob2d[window], piece_of_pixel, foreground, areas, confidence)
    boxes = []
    for i, bounds in enumerate(ndimage.find_objects(pieces)):
        if areas[i] < min_area_px:
            continue
        ys, xs = bounds
        boxes.append(Box(x0=xs.start + x_off, y0=ys.start + y_off, x1=xs.stop + x_off, y1=ys.stop + y_off,
                         class_id=class_id, slice_index=slice_index, lesion_id=int(lesion_ids[i]),
                         area_px=int(areas[i]), score=float(scores[i])))
    return boxes


def _check_prob(prob: np.ndarray | None, shape: tuple[int, ...], confidence: str, source) -> np.ndarray | None:
    if confidence not in CONFIDENCE_REDUCTIONS:
        raise ConfigError(f"confidence must be one of {CONFIDENCE_REDUCTIONS}, got {confidence!r}")
    if prob is None:
        return None
    prob = np.asarray(prob, dtype=np.float64)
    if prob.shape != shape:
        raise LabelError(f"probability map shape {prob.shape} does not match mask shape {shape}", source)
    return prob


def mask_to_boxes(mask: np.ndarray, connectivity: int | None = None, min_area_px: int = 1,
               class_of_value: Mapping[int, int] | None = None, prob: np.ndarray | None = None,
               confidence: str = "mean", source: str | Path | None = None) -> list[Box]:
    """Boxes of a 2D (H, W) or 3D (Z, H, W) mask, sorted by slice, class, then position.

    ``connectivity``: 4/8 for 2D, 6/26 for 3D (default 4 / 6). ``min_area_px`` drops 2D pieces with fewer
    mask pixels. ``prob`` (same shape, 0..1) gives each box the ``confidence`` ("mean" or "max")
    probability over its pixels; without it every score is 1.0. For 2D masks ``slice_index`` is 0 and
    lesions are the 2D pieces themselves.
    """
    mask = np.asarray(mask)
    if mask.ndim not in CONNECTIVITY_BY_NDIM:
        raise LabelError(f"masks must be 2D (H, W) or 3D (Z, H, W), got shape {mask.shape}", source)
    connectivity = DEFAULT_CONNECTIVITY[mask.ndim] if connectivity is None else int(connectivity)
    structure = structure_for(connectivity, mask.ndim)
    if min_area_px < 1:
        raise ConfigError(f"minimum area must be at least 1 pixel, got {min_area_px}")
    prob = _check_prob(prob, mask.shape, confidence, source)
    boxes: list[Box] = []
    lesion_offset = 0
    for class_id, binary in class_masks(mask, class_of_value, source).items():
        if mask.ndim == 2:
            found = _slice_pieces(binary, None, structure, class_id, 0, 1, prob, confidence)
            lesion_offset_next = lesion_offset + len(found)
            boxes += [replace(b, lesion_id=b.lesion_id + lesion_offset) for b in found if b.area_px >= min_area_px]
            lesion_offset = lesion_offset_next
            continue
        lesions, count = ndimage.label(binary, structure=structure)
        plane = structure_for(IN_PLANE_CONNECTIVITY[connectivity], 2)
        for z in np.flatnonzero(binary.any(axis=(1, 2))):
            found = _slice_pieces(binary[z], lesions[z], plane, class_id, int(z), min_area_px,
                                  None if prob is None else prob[z], confidence)
            boxes += [replace(b, lesion_id=b.lesion_id + lesion_offset) for b in found]
        lesion_offset += count
    return sorted(boxes, key=lambda b: (b.slice_index, b.class_id, b.y0, b.x0, b.y1, b.x1))


def boxes_by_slice(boxes: list[Box]) -> dict[int, list[Box]]:
    """Group boxes by ``slice_index`` (keys sorted, order within a slice kept)."""
    grouped: dict[int, list[Box]] = {}
    for box in sorted(boxes, key=lambda b: b.slice_index):
        grouped.setdefault(box.slice_index, []).append(box)
    return grouped
