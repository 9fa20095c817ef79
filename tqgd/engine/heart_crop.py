"""Volume-aware heart cropping: one stable region of interest per scan from per-slice heart boxes.

The TQGDNet paper (sections 2.1.4 and 3.1) crops every slice to the heart with a YOLO detector before calcium
detection. Cropping each slice separately would make the crop jump from slice to slice; tqgd instead finds one ROI
per scan and cuts every slice to it. Rule (``combine_heart_boxes``):

1. The heart detector runs on every ``slice_step``-th slice (default every 3rd; the heart spans many slices).
2. On each slice the most confident box with confidence >= ``conf`` is kept; slices without one are simply missing.
3. The heart must be found on at least ``min_found_slices`` slices (fewer when the scan is shorter) and on at least
   ``min_found_fraction`` of the slices run; otherwise ``HeartNotFoundError``, rather than detecting calcium in the
   wrong region.
4. Outliers are dropped against the median box (element-wise median of the kept boxes): a box whose centre lies
   outside the median box, or which is more than ``max_size_ratio`` times as wide or as tall, is not the heart.
5. The ROI is the union of the remaining boxes, grown by ``margin_mm`` on every side (converted with the in-plane
   pixel spacing), rounded outwards to whole pixels and clipped to the slice.

The ROI is given as pixel edges ``(x0, y0, x1, y1)``; ``(x0, y0)`` is the crop offset that maps crop pixels back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.volume import CTVolume
from tqgd.errors import ConfigError, HeartNotFoundError

#: A heart box as pixel edges (x0, y0, x1, y1) and its confidence.
ScoredBox = tuple[tuple[float, float, float, float], float]
#: Called as progress(slices_done, slices_total) while the heart detector runs.
HeartProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class HeartCropSettings:
    """How per-slice heart boxes become one ROI (see the module docstring for the rule)."""

    slice_step: int = 3
    conf: float = 0.25
    margin_mm: float = 10.0
    min_found_slices: int = 3
    min_found_fraction: float = 0.2
    max_size_ratio: float = 2.0
    batch: int = 16

    def __post_init__(self) -> None:
        if self.slice_step < 1 or self.batch < 1 or self.min_found_slices < 1:
            raise ConfigError(f"heart crop slice_step, batch and min_found_slices must be >= 1, got {self}")
        if not 0.0 < self.conf < 1.0 or not 0.0 <= self.min_found_fraction <= 1.0:
            raise ConfigError(f"heart crop conf must lie in (0, 1) and min_found_fraction in [0, 1], got {self}")
        if self.margin_mm < 0 or self.max_size_ratio < 1.0:
            raise ConfigError(f"heart crop margin_mm must be >= 0 and max_size_ratio >= 1, got {self}")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready settings (recorded in convert.json and detections.json)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeartCropSettings:
        """Rebuild recorded settings; unknown keys are refused."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown heart crop settings {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**data)


@dataclass
class HeartROI:
    """One scan's heart ROI and how it was found; ``xyxy`` pixel edges, ``(xyxy[0], xyxy[1])`` the crop offset."""

    xyxy: tuple[int, int, int, int]
    slices_run: list[int]
    slices_found: list[int]
    slices_kept: list[int]
    median_box: tuple[float, float, float, float]
    margin_px: tuple[int, int]
    settings: HeartCropSettings = field(default_factory=HeartCropSettings)

    @property
    def offset_xy(self) -> tuple[int, int]:
        """Full-slice pixel position of the crop's top-left pixel."""
        return self.xyxy[0], self.xyxy[1]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready record: ROI, offset, which slices were run, found and kept, the settings."""
        return {"xyxy": list(self.xyxy), "offset_xy": list(self.offset_xy), "slices_run": len(self.slices_run),
                "slices_found": self.slices_found, "outlier_slices": sorted(set(self.slices_found) -
                                                                            set(self.slices_kept)),
                "median_box": [round(v, 2) for v in self.median_box], "margin_px": list(self.margin_px),
                "settings": self.settings.to_json()}


def slices_to_run(num_slices: int, step: int) -> list[int]:
    """Every ``step``-th slice index, centred so both ends of the scan are sampled alike."""
    start = ((num_slices - 1) % step) // 2
    return list(range(start, num_slices, step))


def required_slices(n_run: int, settings: HeartCropSettings) -> int:
    """How many of ``n_run`` slices must show the heart (rule 3)."""
    return max(1, min(settings.min_found_slices, n_run), math.ceil(settings.min_found_fraction * n_run))


def combine_heart_boxes(boxes: Mapping[int, ScoredBox | None], slice_shape_yx: tuple[int, int],
                        spacing_yx_mm: tuple[float, float], settings: HeartCropSettings = HeartCropSettings(),
                        source: str | Path = "scan") -> HeartROI:
    """One ROI from the best heart box of each slice run (None = no box); see the module docstring.

    Raises:
        HeartNotFoundError: the heart was found on too few slices.
    """
    run = sorted(boxes)
    found = {z: b for z, b in boxes.items() if b is not None and b[1] >= settings.conf}
    needed = required_slices(len(run), settings)
    if len(found) < needed:
        raise HeartNotFoundError(
            f"no heart found in {Path(source).name or source}: detected on {len(found)} of {len(run)} slices "
            f"run (one in every {settings.slice_step}; at least {needed} needed with confidence >= {settings.conf:g}). "
            "Check that this is a cardiac or chest CT and that the heart weights fit this kind of scan; tqgd does not "
            "detect calcium outside the heart", source)
    zs = sorted(found)
    xyxy = np.array([found[z][0] for z in zs], dtype=np.float64)
    median = np.median(xyxy, axis=0)
    med_w, med_h = median[2] - median[0], median[3] - median[1]
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    inside = (cx >= median[0]) & (cx <= median[2]) & (cy >= median[1]) & (cy <= median[3])
    sized = ((xyxy[:, 2] - xyxy[:, 0]) <= settings.max_size_ratio * med_w) & \
            ((xyxy[:, 3] - xyxy[:, 1]) <= settings.max_size_ratio * med_h)
    keep = inside & sized
    union = np.concatenate([xyxy[keep, :2].min(axis=0), xyxy[keep, 2:].max(axis=0)])
    margin_x = math.ceil(settings.margin_mm / spacing_yx_mm[1] - 1e-9)
    margin_y = math.ceil(settings.margin_mm / spacing_yx_mm[0] - 1e-9)
    height, width = slice_shape_yx
    roi = (max(0, math.floor(union[0]) - margin_x), max(0, math.floor(union[1]) - margin_y),
           min(width, math.ceil(union[2]) + margin_x), min(height, math.ceil(union[3]) + margin_y))
    if roi[2] <= roi[0] or roi[3] <= roi[1]:
        raise HeartNotFoundError(f"heart boxes lie outside the {width} x {height} slice: ROI {roi}", source)
    kept = [z for z, k in zip(zs, keep, strict=True) if k]
    return HeartROI(xyxy=roi, slices_run=run, slices_found=zs, slices_kept=kept,
                    median_box=tuple(float(v) for v in median), margin_px=(margin_x, margin_y), settings=settings)


class HeartCropper:
    """A trained heart detector plus ``HeartCropSettings``; ``roi(volume)`` finds the ROI, calling it gives the box.

    Calling the cropper makes it a crop hook for ``convert_orcascore``; ``to_json`` records what it was, so the
    calcium model's weights carry it and ``tqgd detect`` repeats the same crop.
    """

    def __init__(self, weights: str | Path, settings: HeartCropSettings = HeartCropSettings(),
                 device: str | None = None, trust: bool | None = None, backend: str = "torch"):
        from tqgd.engine.detect_model import load_slice_detector

        self.settings = settings
        self.detector = load_slice_detector(weights, device=device, trust=trust, backend=backend)
        self.last_roi: HeartROI | None = None

    def slice_boxes(self, volume: CTVolume, progress: HeartProgress | None = None) -> dict[int, ScoredBox | None]:
        """Best heart box (full-slice pixel edges, confidence) of each slice run, in batches; None where none."""
        from tqgd.engine.detect_model import model_pixels, predict

        run = slices_to_run(volume.shape[0], self.settings.slice_step)
        found: dict[int, ScoredBox | None] = {}
        for start in range(0, len(run), self.settings.batch):
            chunk = run[start:start + self.settings.batch]
            images = model_pixels(volume.hu[chunk], self.detector.windowing, volume.meta.has_hu, volume.meta.source)
            for z, rows in zip(chunk, predict(self.detector, images, self.settings.conf), strict=True):
                best = rows[np.argmax(rows[:, 4])] if len(rows) else None
                found[z] = None if best is None else (tuple(float(v) for v in best[:4]), float(best[4]))
            if progress is not None:
                progress(len(found), len(run))
        return found

    def roi(self, volume: CTVolume, progress: HeartProgress | None = None) -> HeartROI:
        """The scan's heart ROI (module docstring); raises ``HeartNotFoundError`` when too few slices show it."""
        boxes = self.slice_boxes(volume, progress)
        self.last_roi = combine_heart_boxes(boxes, volume.shape[1:], volume.spacing_mm[1:], self.settings,
                                            volume.meta.source)
        return self.last_roi

    def __call__(self, volume: CTVolume) -> tuple[int, int, int, int]:
        """Crop-hook form: the ROI as pixel edges."""
        return self.roi(volume).xyxy

    def to_json(self) -> dict[str, Any]:
        """What this crop was: heart weights, their window and image size, and the ROI settings."""
        return {"kind": "heart", "heart_weights": str(self.detector.weights), "heart_model": self.detector.describe(),
                "settings": self.settings.to_json()}
