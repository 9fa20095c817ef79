"""Box metrics with pycocotools from plain inputs: ``evaluate_boxes(gt_by_image, preds_by_image) -> BoxMetrics``.

Used by ``tqgd val`` to recompute ultralytics' numbers from its saved predictions, and meant for any other box source
(e.g. boxes derived from a segmentation baseline) so every method is scored by the same code. AP is COCOeval's:
greedy matching by score per image and class, precision envelope sampled at 101 recall points (step, not linear
interpolation), mean over classes with ground truth; ``max_dets`` detections per image (ultralytics keeps 300).
Precision, recall and F1 are pooled over classes at IoU 0.5 for detections scoring at least the operating confidence
(given, or the one maximising F1). Per-size buckets (``size_buckets``): AP through ``areaRng``, recall of the bucket's
ground truth at the operating confidence from the all-sizes matching.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from tqgd.engine.size_buckets import bucket_of, coco_area_ranges, size_buckets
from tqgd.errors import LabelError

#: IoU threshold for precision, recall, F1 and bucket recall.
MATCH_IOU = 0.5
#: Detections per image ultralytics' validator keeps (its ``max_det``).
DEFAULT_MAX_DETS = 300


@dataclass(frozen=True)
class BucketMetrics:
    """Metrics for one size bucket; None where the bucket has no ground truth."""

    name: str
    n_gt: int
    recall: float | None
    ap50: float | None
    ap50_95: float | None


@dataclass(frozen=True)
class BoxMetrics:
    """Pooled P/R/F1 at ``conf`` (None: no predictions), COCO mAP50 and mAP50-95, counts, and per-size buckets."""

    precision: float
    recall: float
    f1: float
    map50: float
    map50_95: float
    conf: float | None
    n_images: int
    n_gt: int
    n_pred: int
    buckets: tuple[BucketMetrics, ...]

    def to_dict(self) -> dict:
        """JSON-ready dict (buckets as a list of dicts)."""
        return asdict(self)


def _rows(boxes: object, columns: tuple[int, ...], image: Hashable, what: str) -> np.ndarray:
    array = np.asarray(boxes if boxes is not None else [], dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, max(columns)))
    if array.ndim != 2 or array.shape[1] not in columns or not np.isfinite(array).all():
        raise LabelError(f"{what} of image {image!r}: expected finite rows of {' or '.join(map(str, columns))} numbers "
                         f"(x0, y0, x1, y1{', score' if what == 'predictions' else ''}[, class]), got shape "
                         f"{array.shape}")
    if (array[:, 2] < array[:, 0]).any() or (array[:, 3] < array[:, 1]).any():
        raise LabelError(f"{what} of image {image!r}: boxes need x1 >= x0 and y1 >= y0 (pixel corners)")
    return array


def _annotation(box: np.ndarray, ann_id: int, image_id: int, category: int, score: float | None = None) -> dict:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    ann = {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": [x0, y0, x1 - x0, y1 - y0],
           "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
    if score is not None:
        ann["score"] = score
    return ann


def _coco(images: list[dict], categories: set[int], annotations: list[dict]):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {"images": images, "categories": [{"id": c, "name": str(c)} for c in sorted(categories)],
                    "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    return coco


def _build(gt_by_image: Mapping, preds_by_image: Mapping) -> tuple:
    unknown = [k for k in preds_by_image if k not in gt_by_image]
    if unknown:
        raise LabelError(f"predictions for images without a ground-truth entry: {unknown[:5]}; list every evaluated "
                         "image in gt_by_image (an empty array for images without boxes)")
    images, gts, dts, categories = [], [], [], set()
    for image_id, (key, boxes) in enumerate(gt_by_image.items(), start=1):
        images.append({"id": image_id})
        for row in _rows(boxes, (4, 5), key, "ground truth"):
            category = int(row[4]) + 1 if len(row) == 5 else 1
            gts.append(_annotation(row, len(gts) + 1, image_id, category))
            categories.add(category)
        for row in _rows(preds_by_image.get(key), (5, 6), key, "predictions"):
            category = int(row[5]) + 1 if len(row) == 6 else 1
            dts.append(_annotation(row, len(dts) + 1, image_id, category, float(row[4])))
            categories.add(category)
    return images, gts, dts, categories or {1}


def _mean_valid(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


def _operating_point(scores: np.ndarray, matched: np.ndarray, n_gt: int, conf: float | None) -> tuple:
    """(conf, precision, recall, f1) at ``conf``, or at the score maximising F1 (highest score on ties)."""
    if scores.size == 0:
        return conf, 0.0, 0.0, 0.0
    order = np.argsort(-scores, kind="stable")
    scores, matched = scores[order], matched[order]
    tp, fp = np.cumsum(matched), np.cumsum(~matched)
    if conf is None:
        last = np.r_[scores[1:] != scores[:-1], True]  # a threshold keeps every detection of equal score
        precision, recall = tp / (tp + fp), tp / max(n_gt, 1)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-16), 0.0)
        candidates = np.flatnonzero(last)
        conf = float(scores[candidates[int(np.argmax(f1[candidates]))]])
    kept = int((scores >= conf).sum())
    if kept == 0:
        return conf, 0.0, 0.0, 0.0
    precision, recall = tp[kept - 1] / kept, tp[kept - 1] / max(n_gt, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return conf, float(precision), float(recall), float(f1)


def evaluate_boxes(gt_by_image: Mapping[Hashable, object], preds_by_image: Mapping[Hashable, object], *,
                   conf: float | None = None, max_dets: int = DEFAULT_MAX_DETS) -> BoxMetrics:
    """Score predicted boxes against ground truth with pycocotools (see the module docstring).

    Args:
        gt_by_image: image key -> (N, 4) ``x0 y0 x1 y1`` or (N, 5) with a 0-based class, in original-image pixels;
            every evaluated image appears, with an empty array when it has no boxes.
        preds_by_image: image key -> (M, 5) ``x0 y0 x1 y1 score`` or (M, 6) with a class; missing keys: no predictions.
        conf: operating confidence for P/R/F1 and bucket recall; None picks the score that maximises F1.
        max_dets: detections kept per image (highest scores first).
    """
    from pycocotools.cocoeval import COCOeval

    images, gts, dts, categories = _build(gt_by_image, preds_by_image)
    gt_coco, dt_coco = _coco(images, categories, gts), _coco(images, categories, dts)
    evaluator = COCOeval(gt_coco, dt_coco, iouType="bbox")
    labels, ranges = zip(*coco_area_ranges(), strict=True)
    evaluator.params.areaRng, evaluator.params.areaRngLbl = [list(r) for r in ranges], list(labels)
    evaluator.params.maxDets = [int(max_dets)]  # one limit: COCOeval sorts this list and evaluates at its largest
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"]  # (iou thresholds, recall points, classes, areas, max dets)
    area_all = list(ranges[0])
    matched_gt: dict[int, int] = {}
    det_scores, det_matched = [], []
    for result in evaluator.evalImgs:
        if result is None or result["aRng"] != area_all or result["maxDet"] != int(max_dets):
            continue
        for det_id, score, gt_id, ignored in zip(result["dtIds"], result["dtScores"], result["dtMatches"][0],
                                                 result["dtIgnore"][0], strict=True):
            if not ignored:
                det_scores.append(score)
                det_matched.append(gt_id > 0)
            if gt_id > 0:
                matched_gt[int(gt_id)] = det_id
    scores, matched = np.asarray(det_scores, dtype=np.float64), np.asarray(det_matched, dtype=bool)
    conf, p, r, f1 = _operating_point(scores, matched, len(gts), conf)
    score_of = {d["id"]: d["score"] for d in dts}
    found = {g: conf is not None and score_of[d] >= conf for g, d in matched_gt.items()}
    buckets = []
    for index, bucket in enumerate(size_buckets(), start=1):
        members = [g["id"] for g in gts if bucket_of(g["area"]) == bucket.name]
        recall = sum(found.get(g, False) for g in members) / len(members) if members else None
        buckets.append(BucketMetrics(bucket.name, len(members), recall, _mean_valid(precision[0, :, :, index, -1]),
                                     _mean_valid(precision[:, :, :, index, -1])))
    return BoxMetrics(precision=p, recall=r, f1=f1, map50=_mean_valid(precision[0, :, :, 0, -1]) or 0.0,
                      map50_95=_mean_valid(precision[:, :, :, 0, -1]) or 0.0, conf=conf, n_images=len(images),
                      n_gt=len(gts), n_pred=len(dts), buckets=tuple(buckets))

