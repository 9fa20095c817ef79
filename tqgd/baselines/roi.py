"""Heart regions of interest for the baselines: per-image ROI masks and a phantom heart-box crop for the converter.

``RoiSource`` gives the threshold baseline its heart ROI on each dataset image (in image pixels):

- ``auto``: the whole image when the dataset was cropped (the crop is the heart ROI, as in the TQGDNet paper), else the
  phantom sidecar's heart box of that slice (a slice without one has no ROI);
- ``none``: the whole image; ``x0,y0,x1,y1``: a fixed box in source-slice pixels (pixel edges), cut to the image.

``phantom_heart_crop`` is a converter crop hook (one ROI per scan): the union of the sidecar's per-slice heart boxes,
grown by ``margin_mm``. It uses the phantom's ground truth, i.e. an oracle heart detector.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tqgd.baselines.arteries import phantom_sidecar
from tqgd.baselines.dataset import DatasetSplit, SplitImage
from tqgd.data.volume import CTVolume
from tqgd.errors import ConfigError, DatasetError

ROI_CHOICES = ("auto", "none")
#: Margin around the union of heart boxes in the phantom crop (mm), as tqgd's heart crop uses by default.
DEFAULT_CROP_MARGIN_MM = 10.0


def parse_roi(spec: str) -> str | tuple[int, int, int, int]:
    """``auto``, ``none`` or a box ``x0,y0,x1,y1`` (pixel edges in the source slice, x0 < x1, y0 < y1)."""
    text = str(spec).strip().lower()
    if text in ROI_CHOICES:
        return text
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        x0 = y0 = x1 = y1 = -1
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise ConfigError(f"ROI must be auto, none or x0,y0,x1,y1 in pixels with x0 < x1 and y0 < y1, got {spec!r}")
    return x0, y0, x1, y1


def _box_mask(box: tuple[int, int, int, int] | None, image: SplitImage) -> np.ndarray:
    """The box (source-slice pixel edges) as a boolean (H, W) mask of ``image``."""
    mask = np.zeros((image.height, image.width), dtype=bool)
    if box is None:
        return mask
    x_off, y_off = (image.row.crop_x0, image.row.crop_y0) if image.row is not None else (0, 0)
    x0, y0 = max(box[0] - x_off, 0), max(box[1] - y_off, 0)
    x1, y1 = min(box[2] - x_off, image.width), min(box[3] - y_off, image.height)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = True
    return mask


class RoiSource:
    """Heart ROI masks for the images of a split (see the module docstring)."""

    def __init__(self, split: DatasetSplit, spec: str = "auto"):
        self.split, self.spec = split, parse_roi(spec)
        self._sidecars: dict[str, list] = {}
        self.cropped = split.convert.get("crop") is not None  # convert.json names the crop hook, or null

    def describe(self) -> str:
        """How ROIs are chosen, for reports."""
        if self.spec == "auto":
            return "dataset crop" if self.cropped else "phantom heart boxes"
        return "whole image" if self.spec == "none" else f"box {self.spec}"

    def for_image(self, image: SplitImage) -> np.ndarray:
        """Boolean (H, W) ROI of ``image``."""
        if self.spec == "none" or (self.spec == "auto" and self.cropped):
            return np.ones((image.height, image.width), dtype=bool)
        if isinstance(self.spec, tuple):
            return _box_mask(self.spec, image)
        if image.row is None:
            raise DatasetError(f"image {image.stem} has no manifest row; pass --roi none or a box", self.split.root)
        boxes = self._sidecars.get(image.row.patient)
        if boxes is None:
            boxes = phantom_sidecar(self.split.source_root(), image.row.patient)["heart_boxes_xyxy"]
            self._sidecars[image.row.patient] = boxes
        box = boxes[image.row.slice_index] if image.row.slice_index < len(boxes) else None
        return _box_mask(tuple(box) if box else None, image)


def phantom_heart_crop(margin_mm: float = DEFAULT_CROP_MARGIN_MM) -> Callable[[CTVolume], tuple[int, int, int, int]]:
    """A converter crop hook: union of the phantom sidecar heart boxes of the scan, grown by ``margin_mm``."""
    if margin_mm < 0:
        raise ConfigError(f"crop margin must be >= 0 mm, got {margin_mm}")

    def phantom_heart_box(volume: CTVolume) -> tuple[int, int, int, int]:
        source = Path(volume.meta.source)
        sidecar = phantom_sidecar(source.parent.parent, _case_of(source))  # ROOT/Images/<ID>CTI.mhd
        boxes = np.array([b for b in sidecar["heart_boxes_xyxy"] if b], dtype=float).reshape(-1, 4)
        if not len(boxes):
            raise DatasetError("the phantom sidecar has no heart box on any slice", source)
        _, height, width = volume.shape
        margin_x, margin_y = margin_mm / volume.spacing_mm[2], margin_mm / volume.spacing_mm[1]
        x0, y0 = max(math.floor(boxes[:, 0].min() - margin_x), 0), max(math.floor(boxes[:, 1].min() - margin_y), 0)
        x1 = min(math.ceil(boxes[:, 2].max() + margin_x), width)
        y1 = min(math.ceil(boxes[:, 3].max() + margin_y), height)
        return x0, y0, x1, y1

    return phantom_heart_box


def _case_of(image: Path) -> str:
    """Case ID from an OrCaScore image name (``TRV1P1CTI.mhd`` -> ``TRV1P1``)."""
    from tqgd.data.orcascore import IMAGE_SUFFIX

    name = image.name[: -len(image.suffix)] if image.suffix else image.name
    return name[: -len(IMAGE_SUFFIX)] if name.endswith(IMAGE_SUFFIX) else name
