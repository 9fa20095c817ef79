"""Pictures of saliency maps: a map over the slice in the model's own window, and the paper's Fig. 9 panel.

The background is the model image itself (the pixels the model saw): for 2.5D input its middle channel (slice z), for
one window the grey slice, for three windows their RGB composite. Maps are drawn with ``grad-cam``'s
``show_cam_on_image`` (JET colour map, half image, half map); boxes are outlined one pixel outside their edges. Small
crops are enlarged (nearest neighbour) so a 2 px deposit stays visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Colours (RGB) of a detection box and of text.
BOX_RGB = (255, 255, 255)
TEXT_RGB = (255, 255, 255)
#: Pictures narrower than this are enlarged by a whole factor.
MIN_WIDTH_PX = 384
#: Share of the background image in a map overlay (the rest is the colour map).
IMAGE_WEIGHT = 0.5
#: Fig. 9 panel: side of one cell, height of the title strip.
CELL_PX = 256
TITLE_PX = 22


def background_rgb(image_bgr: np.ndarray, context: int) -> np.ndarray:
    """The model image as an RGB picture of the slice: the middle channel (slice z) for 2.5D input, else as it is."""
    if context == 3:
        middle = image_bgr[..., 1]
        return np.repeat(middle[..., None], 3, axis=2)
    return np.ascontiguousarray(image_bgr[..., ::-1])


def overlay(image_bgr: np.ndarray, cam: np.ndarray | None, boxes: Sequence[tuple[float, float, float, float]],
            context: int, label: str | None = None, scale: int | None = None) -> np.ndarray:
    """RGB uint8 picture: the slice in the model's window, the map over it (none: the slice alone), boxes outlined."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    rgb = background_rgb(image_bgr, context)
    if cam is not None:
        rgb = show_cam_on_image(rgb.astype(np.float32) / 255.0, np.clip(cam, 0, 1).astype(np.float32), use_rgb=True,
                                image_weight=IMAGE_WEIGHT)
    factor = scale or max(1, int(np.ceil(MIN_WIDTH_PX / rgb.shape[1])))
    if factor > 1:
        rgb = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    canvas = np.ascontiguousarray(rgb)
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(canvas, (int(round((x0 - 1) * factor)), int(round((y0 - 1) * factor))),
                      (int(round(x1 * factor)), int(round(y1 * factor))), BOX_RGB, 1)
    if label:
        cv2.putText(canvas, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, TEXT_RGB, 1, cv2.LINE_AA)
    return canvas


@dataclass
class PanelCell:
    """One cell of the Fig. 9 panel: a picture (RGB uint8, any size) and a caption under the column title."""

    picture: np.ndarray
    caption: str = ""


def _fit(picture: np.ndarray, side: int) -> np.ndarray:
    """Resize to a ``side`` square (nearest when enlarging, area when shrinking)."""
    interpolation = cv2.INTER_NEAREST if picture.shape[0] < side else cv2.INTER_AREA
    return cv2.resize(picture, (side, side), interpolation=interpolation)


def panel(titles: Sequence[str], rows: Sequence[Sequence[PanelCell]], row_labels: Sequence[str],
          cell_px: int = CELL_PX) -> np.ndarray:
    """The paper's Fig. 9 layout: one column per model (``titles``), one row per slice; RGB uint8."""
    label_w = 120
    height = TITLE_PX + len(rows) * cell_px
    width = label_w + len(titles) * cell_px
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for c, title in enumerate(titles):
        cv2.putText(canvas, title[:34], (label_w + c * cell_px + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for r, (cells, row_label) in enumerate(zip(rows, row_labels, strict=True)):
        top = TITLE_PX + r * cell_px
        for line, text in enumerate(row_label.split("\n")):
            cv2.putText(canvas, text[:18], (4, top + 18 + 16 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                        cv2.LINE_AA)
        for c, cell in enumerate(cells):
            left = label_w + c * cell_px
            tile = _fit(cell.picture, cell_px - 4)
            canvas[top + 2:top + cell_px - 2, left + 2:left + cell_px - 2] = tile
            if cell.caption:
                cv2.putText(canvas, cell.caption[:40], (left + 6, top + cell_px - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                            (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
