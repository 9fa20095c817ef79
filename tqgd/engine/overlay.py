"""Overlay pictures of detections: the windowed full slice with the heart ROI and each calcium box drawn on it.

One PNG per slice with detections (``slice_<index>.png``), in full-slice pixels so a box is drawn exactly where
``detections.json`` puts it. Boxes are outlined one pixel outside their edges so the calcium itself stays visible.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tqgd.data.convert.writer import encode_png
from tqgd.data.volume import CTVolume
from tqgd.data.windowing import Windowing
from tqgd.detections import DetectionResult, SliceDetections
from tqgd.io import write_bytes

#: Colours (RGB): calcium boxes, their labels, the heart ROI.
BOX_RGB = (255, 40, 40)
LABEL_RGB = (255, 230, 0)
ROI_RGB = (0, 200, 255)
#: Slices narrower than this are enlarged (nearest neighbour) before drawing, so labels stay legible.
MIN_OVERLAY_WIDTH_PX = 512
OVERLAY_DIR = "overlays"


def overlay_name(slice_index: int, num_slices: int) -> str:
    """File name of a slice's overlay, e.g. ``slice_012.png`` (at least 3 digits)."""
    digits = max(3, len(str(max(num_slices - 1, 0))))
    return f"slice_{slice_index:0{digits}d}.png"


def draw_slice(volume: CTVolume, windowing: Windowing, item: SliceDetections,
               roi_xyxy: tuple[int, int, int, int] | None) -> np.ndarray:
    """RGB uint8 (H', W', 3) picture of one slice with its ROI and boxes (H', W' enlarged for small slices)."""
    from tqgd.engine.detect_model import window_pixels

    pixels = window_pixels(volume.hu[item.slice_index], windowing, volume.meta.has_hu, volume.meta.source)
    rgb = np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels
    scale = max(1, int(np.ceil(MIN_OVERLAY_WIDTH_PX / rgb.shape[1])))
    if scale > 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    canvas = np.ascontiguousarray(rgb)

    def corner(x: float, y: float) -> tuple[int, int]:
        return int(round(x * scale)), int(round(y * scale))

    if roi_xyxy is not None:
        x0, y0, x1, y1 = roi_xyxy
        cv2.rectangle(canvas, corner(x0, y0), corner(x1 - 1 / scale, y1 - 1 / scale), ROI_RGB, 1)
    for detection in item.detections:
        x0, y0, x1, y1 = detection.box_xyxy
        top_left, bottom_right = corner(x0 - 1 / scale, y0 - 1 / scale), corner(x1, y1)
        cv2.rectangle(canvas, top_left, bottom_right, BOX_RGB, 1)
        cv2.putText(canvas, f"{detection.class_name} {detection.confidence:.2f}",
                    (top_left[0], max(10, top_left[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, LABEL_RGB, 1,
                    cv2.LINE_AA)
    return canvas


def write_overlays(volume: CTVolume, windowing: Windowing, result: DetectionResult, folder: Path) -> list[Path]:
    """Write one overlay PNG per slice with detections into ``folder``; returns the paths."""
    written = []
    for item in result.slices:
        if not item.detections:
            continue
        picture = draw_slice(volume, windowing, item, result.heart_roi_xyxy)
        written.append(write_bytes(folder / overlay_name(item.slice_index, volume.shape[0]), encode_png(picture)))
    return written
