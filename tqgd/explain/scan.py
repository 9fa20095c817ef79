"""Maps for what ``tqgd detect`` reports: a scan's detections (or a dataset image's) with one map each.

A scan goes through ``detect_volume`` unchanged (the weights' window, 2.5D context and native-pixel crop, physics
filter, box snapping), so the explained detections are exactly those of ``tqgd detect``. Each slice with detections is
then rebuilt as the same model image and passed to the ``Explainer``, which finds the model's own boxes and their
anchors; every reported detection is matched to the model box it came from (``match``): same class, the same confidence
(to ``CONF_TOLERANCE``; snapping and merging keep the confidence) and, among those, the model box that
``detect_volume``'s own clipping and snapping turn into exactly the reported box. The map is computed for that anchor;
the energy share is measured in the model's box, the region the model itself claimed.

A dataset image (a PNG a converter wrote) is already a model image: it is explained as it is, without physics filter
or snapping (it has no HU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.volume import CTVolume
from tqgd.detections import Detection, DetectionResult
from tqgd.engine.detect import DetectOptions, detect_volume
from tqgd.engine.detect_model import SliceDetector
from tqgd.engine.heart_crop import HeartROI
from tqgd.explain.cam import Explained, Explainer
from tqgd.explain.measures import area_fraction, energy_share

#: Largest confidence difference between a reported detection and its model box (detections.json keeps 5 decimals;
#: batch size and fused layers move scores by ~1e-6).
CONF_TOLERANCE = 2e-3


@dataclass
class SliceMaps:
    """One slice (or dataset image) and its explained detections.

    ``image``: the model image (BGR uint8, (h, w, 3)); ``offset_xy``: where it sits in the full slice (0, 0 for a
    dataset image); ``items``: the model's detections with maps, in model-image pixels; ``reported``: for each item the
    detection ``tqgd detect`` reported for it (full-slice pixels), or None for a dataset image.
    """

    slice_index: int
    image: np.ndarray
    offset_xy: tuple[int, int]
    items: list[Explained] = field(default_factory=list)
    reported: list[Detection | None] = field(default_factory=list)

    def summed(self) -> np.ndarray:
        """Sum of the detections' maps, normalised to 0..1 (zeros when there are none)."""
        total = np.zeros(self.image.shape[:2], dtype=np.float32)
        for item in self.items:
            if item.cam is not None:
                total += item.cam
        peak = float(total.max())
        return total / peak if peak > 0 else total

    def rows(self) -> list[dict[str, Any]]:
        """JSON-ready rows, one per detection: boxes (model and reported, full-slice pixels), confidence, shares."""
        out = []
        dx, dy = self.offset_xy
        for k, (item, reported) in enumerate(zip(self.items, self.reported, strict=True)):
            x0, y0, x1, y1 = item.box_xyxy
            out.append({"slice_index": self.slice_index, "detection": k, "class_id": item.class_id,
                        "confidence": round(item.confidence, 5), "anchor": item.anchor,
                        "model_box_xyxy": [round(v, 3) for v in (x0 + dx, y0 + dy, x1 + dx, y1 + dy)],
                        "reported_box_xyxy": list(reported.box_xyxy) if reported is not None else None,
                        "energy_share": round(energy_share(item.cam, item.box_xyxy), 5) if item.cam is not None
                        else None,
                        "area_fraction": round(area_fraction(item.box_xyxy, self.image.shape[:2]), 5)})
        return out


def _overlap(inner: tuple[float, ...], outer: tuple[float, ...]) -> float:
    """Share of ``inner``'s area inside ``outer`` (1 when inner lies wholly inside)."""
    w = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    h = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = max((inner[2] - inner[0]) * (inner[3] - inner[1]), 1e-9)
    return w * h / area


def reported_box(item: Explained, offset_xy: tuple[int, int], shape_hw: tuple[int, int], hu_slice: np.ndarray | None,
                 options: DetectOptions) -> tuple[float, ...]:
    """The box ``tqgd detect`` reports for a model box: shifted to the full slice, clipped, snapped (as
    ``detect_volume`` does; ``hu_slice`` None: no snapping), rounded as ``Detection`` rounds it."""
    from tqgd.engine.detect import crop_to_full, snap_to_calcium

    row = crop_to_full(np.array([[*item.box_xyxy, item.confidence, item.class_id]]), offset_xy)
    row[:, [0, 2]] = row[:, [0, 2]].clip(0, shape_hw[1])
    row[:, [1, 3]] = row[:, [1, 3]].clip(0, shape_hw[0])
    if hu_slice is not None and options.snap_boxes:
        row = snap_to_calcium(hu_slice, row, options.physics_threshold_hu)
    return tuple(round(float(v), 3) for v in row[0, :4])


def match(reported: Sequence[Detection], candidates: Sequence[Explained], offset_xy: tuple[int, int],
          shape_hw: tuple[int, int], hu_slice: np.ndarray | None, options: DetectOptions
          ) -> list[tuple[Detection, Explained | None]]:
    """Each reported detection (full-slice pixels) with the model box it came from, or None (see the docstring).

    Among the model boxes of the same class and confidence (``CONF_TOLERANCE``), the one whose own reported box
    (``reported_box``) equals the detection's wins; failing that, the one that holds most of it.
    """
    dx, dy = offset_xy
    boxes = [reported_box(item, offset_xy, shape_hw, hu_slice, options) for item in candidates]
    out = []
    for detection in reported:
        best, best_key = None, None
        for item, box in zip(candidates, boxes, strict=True):
            if item.class_id != detection.class_id or abs(item.confidence - detection.confidence) > CONF_TOLERANCE:
                continue
            x0, y0, x1, y1 = item.box_xyxy
            exact = np.allclose(box, detection.box_xyxy, atol=0.01)
            key = (exact, _overlap(detection.box_xyxy, (x0 + dx, y0 + dy, x1 + dx, y1 + dy)),
                   -abs(item.confidence - detection.confidence))
            if best_key is None or key > best_key:
                best, best_key = item, key
        out.append((detection, best))
    return out


def model_image(volume: CTVolume, detector: SliceDetector, z: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """The model image (BGR uint8) of slice ``z`` cut to ``box``, built exactly as ``tqgd detect`` builds it."""
    from tqgd.engine.detect import _images

    return _images(volume, detector, range(z, z + 1), box)[0]


def explain_volume(volume: CTVolume, detector: SliceDetector, explainer: Explainer, roi: HeartROI | None,
                   options: DetectOptions, result: DetectionResult | None = None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[DetectionResult, list[SliceMaps]]:
    """``tqgd detect``'s result for ``volume`` (computed unless given) and the maps of its detections, per slice.

    A reported detection with no matching model box (should not happen) is left out of the maps and counted in
    ``result.model["explain_unmatched"]``; boxes of 3D completion (``Detection.origin``), not model outputs, have no
    map and are counted in ``result.model["explain_completion"]``.
    """
    if result is None:
        result = detect_volume(volume, detector, roi, options)
    x0, y0, x1, y1 = (int(v) for v in result.model["model_crop_xyxy"])
    slices, unmatched = [], 0
    completion = sum(d.origin != "model" for _, d in result.all_detections())
    todo = [s for s in result.slices if any(d.origin == "model" for d in s.detections)]
    for done, item in enumerate(todo, start=1):
        image = model_image(volume, detector, item.slice_index, (x0, y0, x1, y1))
        candidates = explainer.detect(image, max(float(result.model["conf"]) - CONF_TOLERANCE, 0.0))
        hu_slice = volume.hu[item.slice_index] if volume.meta.has_hu else None
        own = [d for d in item.detections if d.origin == "model"]
        pairs = [(d, c) for d, c in match(own, candidates, (x0, y0), volume.shape[1:], hu_slice, options)
                 if c is not None]
        unmatched += len(own) - len(pairs)
        chosen: list[Explained] = []
        reported: list[Detection | None] = []
        for detection, candidate in pairs:
            if any(candidate is c for c in chosen):  # two reported boxes from one model box: one map serves both
                candidate = Explained(candidate.box_xyxy, candidate.confidence, candidate.class_id, candidate.anchor)
            chosen.append(candidate)
            reported.append(detection)
        explainer.maps(image, chosen)
        slices.append(SliceMaps(item.slice_index, image, (x0, y0), chosen, reported))
        if progress is not None:
            progress(done, len(todo))
    result.model["explain_unmatched"] = unmatched
    result.model["explain_completion"] = completion
    return result, slices


def explain_image(image: np.ndarray, explainer: Explainer, conf: float, index: int = 0) -> SliceMaps:
    """A dataset image (BGR uint8, already a model image) with the maps of the model's detections on it."""
    items = explainer.explain(image, conf)
    return SliceMaps(index, image, (0, 0), items, [None] * len(items))


def read_model_image(path: Path) -> np.ndarray:
    """A dataset PNG as ultralytics reads it (BGR uint8, 3 channels; grey images repeated)."""
    import cv2

    from tqgd.errors import ScanReadError

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ScanReadError("not an image OpenCV can read (expected a dataset PNG/JPEG)", path)
    return image
