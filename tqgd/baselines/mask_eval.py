"""Score segmentation output as detections: masks / probability maps -> boxes -> ``evaluate_boxes``.

Each connected component of a predicted mask (4-connected by default, as the converter cuts lesions into per-slice
boxes) becomes one box, scored by the mean (or max) probability over its pixels, or 1.0 for a binary mask
(``tqgd.data.boxes.mask_to_boxes``). Probability maps are binarised at ``threshold`` (probability >= 0.5, IarCAC's
segmentation threshold). The boxes are scored with ``tqgd.engine.coco_eval.evaluate_boxes`` against the split's YOLO
labels, exactly as ``tqgd val`` scores a detector, so rows for detectors and segmenters share one table. Detector
output (``predictions.json``) goes through the same path with ``evaluate_box_predictions``.

With reference masks in the dataset (``tqgd convert orcascore --masks``) the segmentation metrics of
``instance_metrics`` are added; the optional geometric prior (``postprocess``) is applied before any scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.baselines.dataset import DatasetSplit, SplitImage, load_split
from tqgd.baselines.instance_metrics import DEFAULT_TOLERANCE_MM, MaskMetricsAccumulator
from tqgd.engine.coco_eval import BoxMetrics, evaluate_boxes
from tqgd.errors import ConfigError

#: Probability at or above which a pixel is predicted calcium.
DEFAULT_PROBABILITY_THRESHOLD = 0.5
#: Called as progress(images_done, images_total).
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class MaskToBoxOptions:
    """How predicted maps become boxes; ``connectivity`` 4 or 8, ``confidence`` "mean" or "max"."""

    threshold: float = DEFAULT_PROBABILITY_THRESHOLD
    confidence: str = "mean"
    connectivity: int = 4
    min_area_px: int = 1
    tolerance_mm: float = DEFAULT_TOLERANCE_MM

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"probability threshold must lie in (0, 1], got {self.threshold}")
        if self.confidence not in ("mean", "max"):
            raise ConfigError(f"confidence must be mean or max, got {self.confidence!r}")
        if self.connectivity not in (4, 8):
            raise ConfigError(f"connectivity of 2D masks must be 4 or 8, got {self.connectivity}")
        if self.min_area_px < 1 or self.tolerance_mm < 0:
            raise ConfigError(f"min area must be >= 1 px and tolerance >= 0 mm, got {self.min_area_px}, "
                              f"{self.tolerance_mm}")


@dataclass
class BaselineResult:
    """Box metrics (and mask metrics when reference masks exist) of one method on one split."""

    method: str
    boxes: BoxMetrics
    masks: dict[str, Any] | None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {"method": self.method, "boxes": self.boxes.to_dict(), "masks": self.masks, "settings": self.settings}


def mask_boxes(mask: np.ndarray, scores: np.ndarray | None, options: MaskToBoxOptions) -> np.ndarray:
    """(M, 6) ``x0 y0 x1 y1 score class`` of the components of a boolean (H, W) ``mask``; ``scores``: per pixel."""
    from tqgd.data.boxes import mask_to_boxes

    boxes = mask_to_boxes(mask.astype(np.uint8), options.connectivity, options.min_area_px, prob=scores,
                          confidence=options.confidence)
    return np.array([[*b.xyxy, b.score, 0] for b in boxes], dtype=np.float64).reshape(-1, 6)


#: Source scans whose header gives the pixel size in mm (2D PNG sources have none).
SPACING_SUFFIXES = (".mhd", ".mha", ".nii", ".nii.gz")


def _spacing_yx(split: DatasetSplit, image: SplitImage,
                cache: dict[Path, tuple[float, float] | None]) -> tuple[float, float] | None:
    """In-plane pixel spacing (row, column) in mm of the image's MetaImage / NIfTI source; None when unknown."""
    if image.row is None or not image.row.source:
        return None
    path = split.source_root() / image.row.source
    if path not in cache:
        cache[path] = None
        if path.name.lower().endswith(SPACING_SUFFIXES) and path.is_file():
            import SimpleITK as sitk

            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            try:
                reader.ReadImageInformation()
                spacing = reader.GetSpacing()
                cache[path] = (float(spacing[1]), float(spacing[0]))
            except RuntimeError:
                pass  # unreadable header: surface Dice is skipped for this image, the rest is scored
    return cache[path]


def score_maps(split: DatasetSplit, maps: Iterable[tuple[SplitImage, np.ndarray, np.ndarray | None]],
               options: MaskToBoxOptions, method: str, arteries: Any = None,
               settings: dict[str, Any] | None = None) -> BaselineResult:
    """Score per-image ``(image, mask (H, W) bool, scores (H, W) or None)`` on ``split`` (see the module docstring).

    ``arteries`` (an ``ArteryMasks``) applies the geometric prior to each mask before boxes are drawn.
    """
    import cv2

    from tqgd.baselines.postprocess import drop_components_off_mask

    preds: dict[int | str, np.ndarray] = {}
    accumulator = MaskMetricsAccumulator(connectivity=options.connectivity, tolerance_mm=options.tolerance_mm)
    with_references, spacings, removed = True, {}, 0
    for image, mask, scores in maps:
        if arteries is not None:
            kept = drop_components_off_mask(mask, arteries.for_image(image), options.connectivity)
            removed += int(mask.sum() - kept.sum())
            mask = kept
        preds[image.key] = mask_boxes(mask, scores, options)
        reference = split.reference_mask_path(image)
        with_references &= reference is not None
        if with_references:
            ref = cv2.imread(str(reference), cv2.IMREAD_UNCHANGED)
            accumulator.add(mask, ref > 0, _spacing_yx(split, image, spacings))
    metrics = evaluate_boxes(split.gt, preds)
    record = {"threshold": options.threshold, "confidence": options.confidence, "connectivity": options.connectivity,
              "min_area_px": options.min_area_px, "data": str(split.yaml_path), "split": split.split,
              "geometric_prior": None if arteries is None else {"arteries": arteries.description,
                                                                 "radius_mm": arteries.radius_mm,
                                                                 "removed_pixels": removed},
              **(settings or {})}
    return BaselineResult(method, metrics, accumulator.result.summary() if with_references else None, record)


def predicted_maps(split: DatasetSplit, folder: Any, options: MaskToBoxOptions,
                   progress: ProgressFn | None = None) -> Iterable[tuple[SplitImage, np.ndarray, np.ndarray | None]]:
    """``(image, mask, scores)`` for each image of ``split`` from a ``PredictionFolder`` (images sorted by patient)."""
    images = sorted(split.images, key=lambda i: (i.row.patient if i.row else "", i.stem))
    for done, image in enumerate(images, start=1):
        prediction = folder.for_image(image)
        if prediction.is_probability:
            yield image, prediction.values >= options.threshold, prediction.values
        else:
            yield image, prediction.values != 0, None
        if progress:
            progress(done, len(images))


def evaluate_mask_predictions(pred_dir: str | Path, data: str | Path, split: str = "val",
                              options: MaskToBoxOptions = MaskToBoxOptions(), probability_scale: float | None = None,
                              arteries: str | Path | None = None, artery_radius_mm: float | None = None,
                              method: str | None = None, progress: ProgressFn | None = None) -> BaselineResult:
    """Score the masks / probability maps in ``pred_dir`` on ``split`` of the data YAML ``data``.

    Raises:
        LabelError: a missing, unreadable or mis-sized prediction. DatasetError / ConfigError: bad data or options.
    """
    from tqgd.baselines.prediction_files import PredictionFolder

    loaded = load_split(data, split)
    folder = PredictionFolder(pred_dir, probability_scale)
    artery_masks = _artery_masks(loaded, arteries, artery_radius_mm)
    return score_maps(loaded, predicted_maps(loaded, folder, options, progress), options, method or Path(pred_dir).name,
                      artery_masks, {"predictions": str(Path(pred_dir).resolve()),
                                     "probability_scale": probability_scale})


def evaluate_box_predictions(predictions: str | Path, data: str | Path, split: str = "val",
                             arteries: str | Path | None = None, artery_radius_mm: float | None = None,
                             method: str | None = None) -> BaselineResult:
    """Score a detector's COCO-style ``predictions.json`` (as ``tqgd val`` writes it) with the same code.

    The geometric prior, when given, drops boxes holding no artery pixel. Mask metrics are not available for boxes.
    """
    from tqgd.baselines.postprocess import drop_boxes_off_mask
    from tqgd.engine.val import read_predictions
    from tqgd.errors import LabelError

    loaded = load_split(data, split)
    path = Path(predictions)
    if not path.is_file():
        raise LabelError("predictions file not found; pass the predictions.json written by 'tqgd val'", path)
    preds = read_predictions(path)
    unknown = sorted(str(k) for k in set(preds) - set(loaded.gt))
    if unknown:
        raise LabelError(f"predictions for images outside the '{split}' split: {unknown[:5]}; validate on the same "
                         "split", path)
    artery_masks = _artery_masks(loaded, arteries, artery_radius_mm)
    removed = 0
    if artery_masks is not None:
        for image in loaded.images:
            if image.key in preds:
                kept = drop_boxes_off_mask(preds[image.key], artery_masks.for_image(image))
                removed += len(preds[image.key]) - len(kept)
                preds[image.key] = kept
    settings = {"data": str(loaded.yaml_path), "split": split, "predictions": str(path.resolve()),
                "geometric_prior": None if artery_masks is None else {"arteries": artery_masks.description,
                                                                      "radius_mm": artery_masks.radius_mm,
                                                                      "removed_boxes": removed}}
    return BaselineResult(method or path.parent.name, evaluate_boxes(loaded.gt, preds), None, settings)


def _artery_masks(split: DatasetSplit, source: str | Path | None, radius_mm: float | None):
    from tqgd.baselines.arteries import DEFAULT_ARTERY_RADIUS_MM, ArteryMasks

    if source is None:
        return None
    radius = DEFAULT_ARTERY_RADIUS_MM if radius_mm is None else float(radius_mm)
    if not radius > 0:
        raise ConfigError(f"artery radius must be > 0 mm, got {radius_mm}")
    return ArteryMasks(split, source, radius)
