"""evaluate_boxes: pycocotools AP on a hand-computed case, P/R/F1 at an operating confidence, size buckets, and
agreement with ultralytics' own matching and AP code on the same boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ultralytics.models.yolo.detect import DetectionValidator
from ultralytics.utils.metrics import DetMetrics, box_iou

from tqgd.engine.coco_eval import evaluate_boxes
from tqgd.engine.val import ultralytics_summary
from tqgd.errors import LabelError

# Two images, three ground-truth boxes (x0, y0, x1, y1) with areas on the bucket boundaries:
#   A = 2 x 5 = 10 px^2 (bucket 0-10), B = 10 x 20 = 200 px^2 (100-200), C = 10 x 10 = 100 px^2 (10-100).
GT = {"a": np.array([[0, 0, 2, 5], [20, 20, 30, 40]], dtype=float), "b": np.array([[0, 0, 10, 10]], dtype=float)}
# Predictions (x0, y0, x1, y1, score), by descending score:
#   p1 0.9 = A exactly (IoU 1)          -> TP at every IoU threshold
#   p2 0.8 far from everything (50 px^2) -> FP
#   p3 0.7 on C with IoU 62/100 = 0.62    -> TP at thresholds 0.50, 0.55, 0.60; FP at 0.65 ... 0.95
#   p4 0.6 = A again (duplicate)         -> FP (A is already taken by p1)
PREDS = {"a": np.array([[0, 0, 2, 5, 0.9], [50, 50, 55, 60, 0.8], [0, 0, 2, 5, 0.6]]),
         "b": np.array([[0, 0, 10, 6.2, 0.7]])}


def test_hand_computed_coco_ap() -> None:
    metrics = evaluate_boxes(GT, PREDS)
    # IoU 0.50-0.60: TP FP TP FP -> recall 1/3 1/3 2/3 2/3, precision 1 1/2 2/3 1/2; envelope 1 2/3 2/3 1/2.
    # COCO samples the envelope at recall r = 0, 0.01, ..., 1 taking the first point with recall >= r:
    # r <= 1/3 (34 points: 0.00 ... 0.33) -> 1;  1/3 < r <= 2/3 (33 points: 0.34 ... 0.66) -> 2/3;  r > 2/3 -> 0.
    ap_low = (34 * 1 + 33 * (2 / 3)) / 101  # = 56/101
    # IoU 0.65-0.95: only p1 is a TP -> recall stays 1/3: 34 points at precision 1.
    ap_high = 34 / 101
    assert metrics.map50 == pytest.approx(ap_low, abs=1e-12)
    assert metrics.map50_95 == pytest.approx((3 * ap_low + 7 * ap_high) / 10, abs=1e-12)  # = 406/1010
    assert (metrics.n_images, metrics.n_gt, metrics.n_pred) == (2, 3, 4)


def test_operating_point_maximises_f1_or_uses_the_given_confidence() -> None:
    best = evaluate_boxes(GT, PREDS)
    # thresholds: 0.9 -> P 1, R 1/3, F1 1/2; 0.8 -> P 1/2, R 1/3, F1 2/5; 0.7 -> P 2/3, R 2/3, F1 2/3; 0.6 -> F1 4/7
    assert best.conf == 0.7
    assert (best.precision, best.recall, best.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    given = evaluate_boxes(GT, PREDS, conf=0.75)  # p1 (TP) and p2 (FP) only
    assert (given.precision, given.recall, given.f1) == pytest.approx((1 / 2, 1 / 3, 2 / 5))
    assert given.conf == 0.75


def test_size_buckets_by_gt_area_with_coco_area_ranges() -> None:
    buckets = {b.name: b for b in evaluate_boxes(GT, PREDS, conf=0.75).buckets}
    assert {name: b.n_gt for name, b in buckets.items()} == {"0-10": 1, "10-100": 1, "100-200": 1, ">200": 0}
    # recall at conf 0.75, IoU 0.5: A found by p1; C only by p3 (0.7 < 0.75); B never.
    assert {name: b.recall for name, b in buckets.items()} == {"0-10": 1.0, "10-100": 0.0, "100-200": 0.0,
                                                               ">200": None}
    # 0-10: only A counts; p1 TP then p4 FP (a duplicate of area 10 is in range) -> envelope 1 at recall 1 -> AP 1.
    assert buckets["0-10"].ap50 == pytest.approx(1.0) and buckets["0-10"].ap50_95 == pytest.approx(1.0)
    # 10-100: C, with p2 (area 50, FP) ranked before p3 (area 62, TP at IoU <= 0.60): precision 0 then 1/2, the
    # envelope is 1/2 everywhere -> AP50 0.5; at the 7 stricter thresholds p3 is a miss -> AP 0; mean = 3 * 0.5 / 10.
    assert buckets["10-100"].ap50 == pytest.approx(0.5) and buckets["10-100"].ap50_95 == pytest.approx(0.15)
    # 100-200: B is never detected; >200: no ground truth, so no AP (None, not 0).
    assert buckets["100-200"].ap50 == 0.0 and buckets[">200"].ap50 is None


def test_classes_are_matched_separately() -> None:
    gt = {0: np.array([[0, 0, 10, 10, 0], [20, 20, 30, 30, 1]], dtype=float)}
    swapped = {0: np.array([[0, 0, 10, 10, 0.9, 1], [20, 20, 30, 30, 0.9, 0]])}  # right places, wrong classes
    right = {0: np.array([[0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.9, 1]])}
    assert evaluate_boxes(gt, swapped).map50 == 0.0
    assert evaluate_boxes(gt, right).map50 == pytest.approx(1.0)


def test_no_predictions_scores_zero() -> None:
    metrics = evaluate_boxes(GT, {})
    assert (metrics.map50, metrics.precision, metrics.recall, metrics.conf) == (0.0, 0.0, 0.0, None)
    assert [b.recall for b in metrics.buckets] == [0.0, 0.0, 0.0, None]


def test_max_dets_keeps_the_highest_scores_per_image() -> None:
    gt = {0: np.array([[0, 0, 10, 10]], dtype=float)}
    preds = {0: np.array([[50, 50, 60, 60, 0.9], [0, 0, 10, 10, 0.5]])}
    assert evaluate_boxes(gt, preds, max_dets=1).map50 == 0.0  # the TP is the second-best box, dropped
    assert evaluate_boxes(gt, preds, max_dets=2).map50 == pytest.approx(0.5)


@pytest.mark.parametrize(("gt", "preds", "message"), [
    ({0: np.zeros((1, 3))}, {}, r"ground truth of image 0: expected finite rows of 4 or 5 numbers"),
    ({0: np.array([[5, 0, 1, 4]])}, {}, r"ground truth of image 0: boxes need x1 >= x0"),
    ({0: np.zeros((0, 4))}, {0: np.array([[0, 0, 1, 1]])}, r"predictions of image 0: expected finite rows of 5 or 6"),
    ({0: np.zeros((0, 4))}, {1: np.array([[0, 0, 1, 1, 0.5]])}, r"predictions for images without a ground-truth "
                                                                r"entry: \[1\]"),
])
def test_bad_inputs_are_label_errors(gt, preds, message) -> None:
    with pytest.raises(LabelError, match=message):
        evaluate_boxes(gt, preds)


def _random_case(seed: int, n_images: int = 40, size_px: float = 128.0) -> tuple[dict, dict]:
    """GT boxes inside the image; jittered copies of most of them and some stray boxes as predictions."""
    rng = np.random.default_rng(seed)
    gt, preds = {}, {}
    for image in range(n_images):
        boxes, found = [], []
        for _ in range(rng.integers(0, 4)):
            w, h = rng.uniform(3, 30, 2)
            x, y = rng.uniform(0, size_px - w), rng.uniform(0, size_px - h)
            boxes.append([x, y, x + w, y + h, 0])
            if rng.random() < 0.8:
                jitter = rng.normal(0, 0.12, 4) * [w, h, w, h]
                found.append([*np.clip(np.array([x, y, x + w, y + h]) + jitter, 0, size_px), rng.uniform(0.2, 1), 0])
        for _ in range(rng.integers(0, 3)):
            w, h = rng.uniform(3, 30, 2)
            x, y = rng.uniform(0, size_px - w), rng.uniform(0, size_px - h)
            found.append([x, y, x + w, y + h, rng.uniform(0.001, 0.7), 0])
        gt[image], preds[image] = np.array(boxes).reshape(-1, 5), np.array(found).reshape(-1, 6)
    return gt, preds


def _ultralytics_metrics(gt: dict, preds: dict) -> DetMetrics:
    """ultralytics' validator matching (match_predictions) and DetMetrics on the same boxes, image by image."""
    validator, metrics = DetectionValidator(args={"task": "detect"}), DetMetrics(names={0: "calcium"})
    for image, boxes in gt.items():
        found = preds[image][np.argsort(-preds[image][:, 4], kind="stable")]  # NMS output order
        tp = np.zeros((len(found), 10), dtype=bool)
        if len(boxes) and len(found):
            iou = box_iou(torch.tensor(boxes[:, :4]), torch.tensor(found[:, :4]))
            tp = validator.match_predictions(torch.tensor(found[:, 5]), torch.tensor(boxes[:, 4]), iou).numpy()
        metrics.update_stats({"tp": tp, "conf": found[:, 4], "pred_cls": found[:, 5], "target_cls": boxes[:, 4],
                              "target_img": np.unique(boxes[:, 4]), "im_name": str(image)})
    metrics.process()
    return metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_ultralytics_on_boxes_inside_the_image(seed: int) -> None:
    """Same matching rule; only the AP interpolation and the P/R read-out differ: measured gaps were <= 0.01."""
    gt, preds = _random_case(seed)
    ultra, conf = ultralytics_summary(_ultralytics_metrics(gt, preds))
    coco = evaluate_boxes(gt, preds, conf=conf)
    assert 0.3 < ultra["map50"] < 0.9  # a non-trivial case
    for key in ("precision", "recall", "f1", "map50", "map50_95"):
        assert getattr(coco, key) == pytest.approx(ultra[key], abs=0.02), key
