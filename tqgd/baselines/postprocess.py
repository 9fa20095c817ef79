"""The geometric prior of CAC-Net (``001``): calcium lies in a coronary artery, so drop findings off the artery mask.

CAC-Net uses the prior as a loss during training and, in its evaluation, as post-processing with coronary artery
masks (predicted calcium outside the arteries is removed). tqgd applies the post-processing form to any model:

- ``drop_boxes_off_mask``: a box is kept when at least one artery pixel lies inside it (works for detectors);
- ``drop_components_off_mask``: a connected component of a predicted mask is kept when at least one of its own
  pixels is an artery pixel (the stricter, pixel-level form for segmenters).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _checked(mask: np.ndarray, artery: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask, artery = np.asarray(mask) != 0, np.asarray(artery) != 0
    if mask.shape != artery.shape:
        raise ValueError(f"artery mask shape {artery.shape} differs from the prediction's {mask.shape}")
    return mask, artery


def drop_components_off_mask(mask: np.ndarray, artery: np.ndarray, connectivity: int = 4) -> np.ndarray:
    """``mask`` (H, W) without the components (4- or 8-connected) that touch no pixel of ``artery``."""
    mask, artery = _checked(mask, artery)
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    labels, _ = ndimage.label(mask, structure=structure)
    keep = np.unique(labels[mask & artery])
    return np.isin(labels, keep[keep > 0])


def box_touches_mask(box: np.ndarray, artery: np.ndarray) -> bool:
    """Whether any artery pixel lies inside the pixel-edge box ``x0 y0 x1 y1`` (rounded outwards, clipped)."""
    height, width = artery.shape
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    return x1 > x0 and y1 > y0 and bool(artery[y0:y1, x0:x1].any())


def drop_boxes_off_mask(boxes: np.ndarray, artery: np.ndarray) -> np.ndarray:
    """Rows of ``boxes`` (M, >=4; ``x0 y0 x1 y1 ...``) whose box holds at least one pixel of ``artery`` (H, W)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, np.asarray(boxes).shape[-1] if np.size(boxes) else 6)
    artery = np.asarray(artery) != 0
    keep = [box_touches_mask(row, artery) for row in boxes]
    return boxes[np.asarray(keep, dtype=bool)] if len(keep) else boxes
