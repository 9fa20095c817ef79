"""From detection boxes to calcium voxels: the rule that lets box detectors be scored like segmentations.

Rule, per box on slice z:
1. The box covers the pixels whose centres lie inside it (pixel ``i`` spans edges ``i .. i+1``, centre ``i+0.5``);
   a box narrower than one pixel still covers the pixel holding its centre. Boxes are clipped to the image.
2. The box's brightest pixel is found (ties: the first in row-major order). If it is not calcium (below the
   threshold) the box holds no calcium and adds nothing (counted in the report's notes).
3. The lesion is the set of calcium pixels (at or above the threshold; strictly above when the threshold is
   exclusive) inside the box that are connected (2D connectivity option) to that brightest pixel. Other bright
   pixels in the box that are not connected to it are left out: a box marks one lesion.
Boxes are applied in decreasing confidence; where boxes overlap, a pixel keeps the artery of the first box that
claimed it. A box's class gives its artery when the class is named LAD, LCX, RCA or undetermined (OrCaScore's label
4, what ``--classes artery`` datasets call it) and every box names one; otherwise calcium is of unknown artery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from tqgd.data.orcascore import REFERENCE_LABELS
from tqgd.detections import Detection, DetectionResult

_ARTERY_VALUE_BY_NAME = {name.upper(): value for value, name in REFERENCE_LABELS.items()}

#: Mask value for calcium found from a box whose class names no artery.
BOX_CALCIUM_VALUE = 1


@dataclass
class BoxCalcium:
    """Calcium voxels found from boxes: a label volume (Z, Y, X) uint8 plus what the rule did."""

    labels: np.ndarray
    arteries: bool
    boxes_total: int = 0
    boxes_without_calcium: int = 0
    boxes_outside_image: int = 0
    notes: list[str] = field(default_factory=list)


def box_pixel_range(low_edge: float, high_edge: float, size: int) -> tuple[int, int]:
    """Half-open pixel index range ``[start, stop)`` of the pixels whose centres lie in ``[low_edge, high_edge)``."""
    start = math.ceil(low_edge - 0.5)
    stop = math.ceil(high_edge - 0.5)
    if stop <= start:  # narrower than a pixel: take the pixel holding the box centre
        start = math.floor((low_edge + high_edge) / 2)
        stop = start + 1
    return max(start, 0), min(stop, size)


def lesion_in_box(hu_slice: np.ndarray, box_xyxy: tuple[float, float, float, float], calcium_floor_hu: float,
                  connectivity_2d: int) -> tuple[np.ndarray, tuple[slice, slice]] | None:
    """Boolean lesion patch and its (rows, cols) slices inside ``box_xyxy``; None when the box holds no calcium.

    ``hu_slice`` is one (Y, X) slice in HU; see the module docstring for the rule.
    """
    x0, y0, x1, y1 = box_xyxy
    r0, r1 = box_pixel_range(y0, y1, hu_slice.shape[0])
    c0, c1 = box_pixel_range(x0, x1, hu_slice.shape[1])
    if r1 <= r0 or c1 <= c0:
        return None
    patch = hu_slice[r0:r1, c0:c1]
    brightest = np.unravel_index(int(np.argmax(patch)), patch.shape)
    if patch[brightest] < calcium_floor_hu:
        return None
    structure = ndimage.generate_binary_structure(2, 1 if connectivity_2d == 4 else 2)
    components, _ = ndimage.label(patch >= calcium_floor_hu, structure=structure)
    return components == components[brightest], (slice(r0, r1), slice(c0, c1))


def _artery_value(detection: Detection) -> int | None:
    """Label value named by the detection's class (LAD/LCX/RCA/undetermined), None for any other class."""
    return _ARTERY_VALUE_BY_NAME.get(detection.class_name.strip().upper())


def calcium_from_boxes(hu: np.ndarray, result: DetectionResult, *, calcium_floor_hu: float,
                       connectivity_2d: int) -> BoxCalcium:
    """Apply the box rule to every detection of ``result`` on ``hu`` (Z, Y, X); see the module docstring."""
    detections = sorted(result.all_detections(), key=lambda item: -item[1].confidence)
    arteries = bool(detections) and all(_artery_value(d) is not None for _, d in detections)
    labels = np.zeros(hu.shape, dtype=np.uint8)
    found = BoxCalcium(labels=labels, arteries=arteries, boxes_total=len(detections))
    for z, detection in detections:
        x0, y0, x1, y1 = detection.box_xyxy
        height, width = hu.shape[1:]
        if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            found.boxes_outside_image += 1
            continue
        lesion = lesion_in_box(hu[z], detection.box_xyxy, calcium_floor_hu, connectivity_2d)
        if lesion is None:
            found.boxes_without_calcium += 1
            continue
        patch_mask, (rows, cols) = lesion
        target = labels[z, rows, cols]
        value = _artery_value(detection) if arteries else BOX_CALCIUM_VALUE
        target[patch_mask & (target == 0)] = value
    if found.boxes_without_calcium:
        found.notes.append(f"{found.boxes_without_calcium} of {found.boxes_total} boxes hold no pixel above the "
                           "calcium threshold and add no calcium")
    if found.boxes_outside_image:
        found.notes.append(f"{found.boxes_outside_image} boxes lie outside the image and were ignored")
    return found
