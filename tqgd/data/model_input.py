"""HU volume -> the images a calcium model sees: one function for the converter and for ``tqgd detect``.

An ``InputSpec`` holds everything that turns slices into model pixels, so training and detection cannot drift apart:

- ``windowing``: the HU window(s) (``tqgd.data.windowing``);
- ``context``: 1 = the slice alone; 3 = 2.5D, slices z-1, z, z+1 as the three channels (one window; at the first and
  last slice the missing neighbour repeats the slice). Coronary calcium continues across neighbouring slices, noise
  spikes do not;
- ``context_step``: the slice gap of 2.5D neighbours (z-k, z, z+k; default 1). A wider gap shows how far a bright
  structure runs along z: most coronary deposits span at most three slices, a stent or a long bone edge runs on;
- ``crop_size``: a square of that many pixels at the scan's own pixel size, centred on the heart ROI and shifted to
  lie inside the slice (``crop_box``), so the model never sees a shrunken crop and 1-3 px deposits stay 1-3 px.
  Where a slice is smaller than the square, or the ROI larger, see ``crop_box``. ``None`` keeps the ROI as it is.

Images come out as uint8 (B, H, W) for one channel or (B, H, W, 3) in RGB channel order; pixels the slice does not
cover (right and bottom padding) are air (-1024 HU) before windowing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tqgd.data.windowing import Windowing, apply_window, parse_window
from tqgd.errors import ConfigError

#: Channel layouts: slices per image.
CONTEXTS = (1, 3)
#: Largest gap (slices) between the 2.5D neighbours and the centre slice.
MAX_CONTEXT_STEP = 8
#: Side of a fixed crop is a multiple of this (the detectors' largest stride).
CROP_MULTIPLE = 32
#: HU of pixels outside the slice (padding).
PAD_HU = -1024.0


@dataclass(frozen=True)
class InputSpec:
    """How slices become model images: window(s), neighbouring slices as channels, fixed native-pixel crop."""

    windowing: Windowing
    context: int = 1
    crop_size: int | None = None
    context_step: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.context_step <= MAX_CONTEXT_STEP:
            raise ConfigError(f"context step must be 1 to {MAX_CONTEXT_STEP} slices, got {self.context_step!r}")
        if self.context_step != 1 and self.context != 3:
            raise ConfigError(f"a context step ({self.context_step}) spaces the neighbours of 2.5D input; it needs "
                              f"context 3, got context {self.context}")
        if self.context not in CONTEXTS:
            raise ConfigError(f"context must be 1 (one slice) or 3 (2.5D: slices z-1, z, z+1), got {self.context!r}")
        if self.context == 3 and self.windowing.num_channels != 1:
            raise ConfigError(f"2.5D input (context 3) puts three slices in the three channels, so it needs one window,"
                              f" but window {self.windowing.name!r} has {self.windowing.num_channels}; use e.g. "
                              "--window calcium with --context 3")
        if self.crop_size is not None and (self.crop_size < CROP_MULTIPLE or self.crop_size % CROP_MULTIPLE):
            raise ConfigError(f"crop size must be a multiple of {CROP_MULTIPLE} px (the model's stride), at least "
                              f"{CROP_MULTIPLE}, got {self.crop_size}")

    @property
    def channels(self) -> int:
        """Channels of one image: 3 for 2.5D or three windows, else 1."""
        return 3 if self.context == 3 else self.windowing.num_channels

    def to_json(self) -> dict[str, Any]:
        """JSON form recorded in convert.json (``input``) and so inside trained weights; ``context_step`` only when it
        is not 1, so records of adjacent-slice input stay as they were."""
        record = {"window": self.windowing.to_json(), "context": self.context, "crop_size": self.crop_size}
        return record if self.context_step == 1 else {**record, "context_step": self.context_step}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> InputSpec:
        """The spec a convert.json describes: its ``input`` entry, or for older records the ``window`` alone."""
        data = record.get("input") if isinstance(record.get("input"), Mapping) else None
        window = (data or {}).get("window") or record.get("window")
        windowing = Windowing.from_json(window) if window else parse_window(None)
        if data is None:
            return cls(windowing)
        crop = data.get("crop_size")
        return cls(windowing, context=int(data.get("context", 1)), crop_size=int(crop) if crop else None,
                   context_step=int(data.get("context_step", 1)))


def round_up(size: float, multiple: int = CROP_MULTIPLE) -> int:
    """``size`` rounded up to a multiple of ``multiple``."""
    return int(math.ceil(size / multiple) * multiple)


def auto_crop_size(rois: Sequence[tuple[int, int, int, int]]) -> int:
    """The fixed crop that holds every ROI: the largest side, rounded up to a multiple of 32."""
    if not rois:
        raise ConfigError("no heart ROI to size the crop from; give the crop size in pixels")
    return round_up(max(max(x1 - x0, y1 - y0) for x0, y0, x1, y1 in rois))


def crop_box(roi: tuple[int, int, int, int], slice_hw: tuple[int, int], crop_size: int | None
             ) -> tuple[int, int, int, int]:
    """The square region (x0, y0, x1, y1) cut for ``roi`` on a slice of ``slice_hw`` (H, W) pixels.

    Side: ``crop_size``, or the ROI's larger side rounded up to 32 when the ROI is larger (nothing of the heart is cut
    off; the model is fully convolutional). Centred on the ROI, then shifted to start inside the slice; where the slice
    is narrower than the side, the box starts at 0 and reaches past the slice (padded by ``slice_images``).
    ``None`` returns the ROI unchanged.
    """
    if crop_size is None:
        return roi
    x0, y0, x1, y1 = roi
    side = max(crop_size, round_up(max(x1 - x0, y1 - y0)))
    sx, sy = _centred_start(x0, x1, slice_hw[1], side), _centred_start(y0, y1, slice_hw[0], side)
    return sx, sy, sx + side, sy + side


def roi_box(roi: tuple[int, int, int, int], slice_hw: tuple[int, int], stride: int = 32
            ) -> tuple[int, int, int, int]:
    """The region (x0, y0, x1, y1) of the ROI itself, each side rounded up to ``stride`` so the model needs no padding
    and no resizing: centred on the ROI, shifted to start inside the slice (a side longer than the slice starts at 0
    and reaches past it, padded by ``slice_images``)."""
    x0, y0, x1, y1 = roi
    side_x, side_y = (max(stride, round_up(extent, stride)) for extent in (x1 - x0, y1 - y0))
    sx, sy = _centred_start(x0, x1, slice_hw[1], side_x), _centred_start(y0, y1, slice_hw[0], side_y)
    return sx, sy, sx + side_x, sy + side_y


def _centred_start(low: int, high: int, extent: int, side: int) -> int:
    """First pixel of a ``side``-long span centred on [low, high), shifted inside [0, extent); 0 when it cannot fit."""
    first = int(math.floor((low + high) / 2 - side / 2))
    return max(0, min(first, extent - side)) if extent >= side else 0


def context_indices(z: int, depth: int, context: int, step: int = 1) -> list[int]:
    """Slice indices stacked for slice ``z``: [z] or [z-step, z, z+step], clamped to the volume."""
    if context == 1:
        return [z]
    return [max(z - step, 0), z, min(z + step, depth - 1)]


def cut(hu: np.ndarray, indices: Sequence[int], box: tuple[int, int, int, int], pad: float = PAD_HU) -> np.ndarray:
    """Values of slices ``indices`` inside ``box`` (K, H, W); box parts past the slice edge are ``pad``."""
    x0, y0, x1, y1 = box
    _, height, width = hu.shape
    region = hu[list(indices), y0:min(y1, height), x0:min(x1, width)]
    if region.shape[1:] == (y1 - y0, x1 - x0):
        return region
    padded = np.full((len(indices), y1 - y0, x1 - x0), pad, dtype=np.float32)
    padded[:, :region.shape[1], :region.shape[2]] = region
    return padded


def slice_images(hu: np.ndarray, z_indices: Sequence[int], box: tuple[int, int, int, int], spec: InputSpec
                 ) -> np.ndarray:
    """Model images of slices ``z_indices`` of ``hu`` (Z, H, W) inside ``box``: uint8 (B, h, w) or (B, h, w, 3) RGB."""
    if spec.context == 1:
        return apply_window(cut(hu, z_indices, box), spec.windowing)
    depth, step = hu.shape[0], spec.context_step
    stacks = [apply_window(cut(hu, context_indices(z, depth, spec.context, step), box), spec.windowing)
              for z in z_indices]
    return np.stack([np.moveaxis(s, 0, -1) for s in stacks]) if stacks else np.zeros((0, 1, 1, 3), dtype=np.uint8)
