"""Writes a dataset's per-image files (image, YOLO label, VOC XML) and collects its COCO entries and manifest.

Shared by the OrCaScore converter and the generic mask converter so both produce the same layout:
``OUT/images/<stem>.png``, ``OUT/labels/<stem>.txt``, ``OUT/voc/<stem>.xml`` and, when asked, the image's label
mask ``OUT/masks/<stem>.png`` (same pixels as the image). Every file is written atomically; ``written`` lists them
so the caller can clear leftovers of earlier runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from tqgd.data.boxes import Box
from tqgd.data.convert.manifest import ManifestRow
from tqgd.data.formats.coco import CocoDataset
from tqgd.data.formats.voc import voc_xml
from tqgd.data.formats.yolo import format_yolo_labels
from tqgd.io import write_bytes, write_text

FORMATS = ("yolo", "coco", "voc")
#: Folder (relative to OUT) of the per-image label masks written by ``add_mask``.
MASKS_DIR = "masks"
#: PNG zlib settings, explicit so the bytes do not follow OpenCV's defaults. Level 1 with run-length matching was
#: the fastest small choice on windowed 512 x 512 phantom slices (4.3 ms, 83 KiB; default strategy 4.7 ms, 105 KiB).
PNG_PARAMS = (cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W) grey or (H, W, 3) RGB image."""
    if pixels.ndim == 3:
        pixels = np.ascontiguousarray(pixels[..., ::-1])  # OpenCV writes BGR
    ok, encoded = cv2.imencode(".png", pixels, list(PNG_PARAMS))
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {pixels.shape} as PNG")
    return encoded.tobytes()


class DatasetWriter:
    """Per-image output for one dataset folder; ``seconds`` accumulates time spent encoding and writing."""

    def __init__(self, out: Path, names: Mapping[int, str], formats: Sequence[str] = FORMATS,
                 description: str = "tqgd dataset"):
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown output formats {unknown}; expected some of {FORMATS}")
        self.out = Path(out)
        self.names = dict(names)
        self.formats = tuple(f for f in FORMATS if f in formats)
        self.coco = CocoDataset(self.names, description=description)
        self.rows: list[ManifestRow] = []
        self.written: set[Path] = set()
        self.seconds = {"encode": 0.0, "write": 0.0}

    def _write(self, relative: str, data: bytes | str) -> None:
        target = self.out / relative
        if isinstance(data, str):
            write_text(target, data)
        else:
            write_bytes(target, data)
        self.written.add(target)

    def add_pixels(self, stem: str, pixels: np.ndarray, boxes: Sequence[Box], **where) -> ManifestRow:
        """Encode ``pixels`` (uint8 (H, W) or (H, W, 3)) as PNG and add it like ``add_image``."""
        start = time.perf_counter()
        data = encode_png(pixels)
        self.seconds["encode"] += time.perf_counter() - start
        height, width = pixels.shape[:2]
        depth = 1 if pixels.ndim == 2 else pixels.shape[2]
        return self.add_image(stem, ".png", data, width, height, depth, boxes, **where)

    def add_mask(self, stem: str, mask: np.ndarray) -> str:
        """Write ``mask`` (H, W) label values 0..255 as ``masks/<stem>.png``; returns its path relative to OUT."""
        mask = np.asarray(mask)
        if mask.ndim != 2 or (mask.size and (mask.min() < 0 or mask.max() > np.iinfo(np.uint8).max)):
            raise ValueError(f"a label mask must be 2D with values 0..255, got shape {mask.shape}")
        start = time.perf_counter()
        data = encode_png(np.ascontiguousarray(mask, dtype=np.uint8))
        self.seconds["encode"] += time.perf_counter() - start
        relative = f"{MASKS_DIR}/{stem}.png"
        self._write(relative, data)
        return relative

    def add_image(self, stem: str, suffix: str, data: bytes, width: int, height: int, depth: int,
                  boxes: Sequence[Box], *, patient: str, slice_index: int = 0, crop_xy: tuple[int, int] = (0, 0),
                  source: str = "", mask: str = "") -> ManifestRow:
        """Write the image bytes and its annotations; boxes are in this image's pixel coordinates."""
        start = time.perf_counter()
        image = f"images/{stem}{suffix}"
        self._write(image, data)
        label = voc = ""
        if "yolo" in self.formats:
            label = f"labels/{stem}.txt"
            self._write(label, format_yolo_labels(boxes, width, height))
        if "voc" in self.formats:
            voc = f"voc/{stem}.xml"
            self._write(voc, voc_xml(f"{stem}{suffix}", width, height, depth, boxes, self.names))
        image_id = len(self.rows) + 1
        self.coco.add_image(image_id, image, width, height, boxes, patient=patient, slice_index=slice_index)
        row = ManifestRow(image=image, label=label, voc=voc, patient=patient, slice_index=slice_index,
                          crop_x0=crop_xy[0], crop_y0=crop_xy[1], width=width, height=height, n_boxes=len(boxes),
                          coco_image_id=image_id, val_fold=None, source=source, mask=mask)
        self.rows.append(row)
        self.seconds["write"] += time.perf_counter() - start
        return row
