"""Validate weights on a dataset split: ultralytics' numbers, the same recomputed with pycocotools, per-size buckets.

``validate(weights, data)`` runs ultralytics' DetectionValidator (``save_json``, ``plots``; tqgd's subclass only
locks dataset building), then scores its ``predictions.json`` with ``evaluate_boxes`` against ground truth read here
from the split's YOLO label files, at ultralytics' operating confidence (the one maximising its smoothed mean F1),
and writes ``metrics.json`` next to the PR/F1 plots. Expected gaps: both match greedily by score at each IoU
threshold, but ultralytics integrates a linearly interpolated precision envelope (trapezoid over 101 points) while
COCO samples it as a step at 101 recall points, and ultralytics reads P and R off 1000-point confidence curves;
predictions.json rounds boxes to 1e-3 px and scores to 1e-5. On boxes inside the image these differ by <= 0.01
(tests/engine/test_val_coco_eval.py). One gap can be large: ultralytics matches the raw boxes of the letterboxed
image, while predictions.json holds them clipped to the original image, so boxes reaching past the border score
higher with pycocotools (measured: large boxes touching the border, mAP50-95 0.905 vs 0.939, of which 0.029 came
from clipping and 0.005 from interpolation; an untrained model's image-sized boxes: mAP50 0 vs 0.50).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.engine.coco_eval import BoxMetrics, evaluate_boxes
from tqgd.engine.dataset_check import check_data_yaml
from tqgd.engine.train import Callbacks, add_callbacks
from tqgd.errors import DatasetError
from tqgd.io import check_writable, write_json

METRICS_JSON = "metrics.json"
PREDICTIONS_JSON = "predictions.json"
DEFAULT_PROJECT = Path("runs") / "val"
DEFAULT_RUN_NAME = "exp"
#: GT corners are rounded to this many decimals: 6-decimal YOLO labels carry ~1e-3 px at 1000 px, so integer and
#: half-pixel boxes come back exact and land in the right size bucket.
GT_CORNER_DECIMALS = 2
#: Flags of ``tqgd val`` (refused as pass-through ``key=value`` words).
VAL_NAMED_KEYS = {"model": "--weights", "data": "--data", "imgsz": "--imgsz", "batch": "--batch",
                  "device": "--device", "split": "--split", "project": "--project", "name": "--name",
                  "save_json": "(always on)", "plots": "(always on)"}
METRIC_KEYS = ("precision", "recall", "f1", "map50", "map50_95")


@dataclass
class ValResult:
    """A finished validation: its folder and the content of its metrics.json."""

    save_dir: Path
    metrics: dict[str, Any]


def image_key(path: str | Path) -> int | str:
    """The image id ultralytics writes into predictions.json: int(stem) for numeric stems, else the stem."""
    stem = Path(path).stem
    return int(stem) if stem.isnumeric() else stem


def ground_truth(image_files: list[str], num_classes: int) -> dict[int | str, np.ndarray]:
    """Image key -> (N, 5) ``x0 y0 x1 y1 class`` in original pixels, from each image's YOLO label file."""
    from PIL import Image
    from ultralytics.data.utils import exif_size, img2label_paths

    from tqgd.data.formats.yolo import read_yolo_labels

    gt: dict[int | str, np.ndarray] = {}
    for image, label in zip(image_files, img2label_paths(image_files), strict=True):
        key = image_key(image)
        if key in gt:
            raise DatasetError(f"two images of the split share the id {key!r} (file stem); predictions.json cannot "
                               "tell them apart. Rename so stems are unique", image)
        with Image.open(image) as opened:
            width, height = exif_size(opened)
        rows = read_yolo_labels(label, num_classes) if Path(label).is_file() else []
        boxes = np.array([[(r.cx - r.w / 2) * width, (r.cy - r.h / 2) * height, (r.cx + r.w / 2) * width,
                           (r.cy + r.h / 2) * height, r.class_id] for r in rows], dtype=np.float64).reshape(-1, 5)
        boxes[:, :4] = np.round(boxes[:, :4], GT_CORNER_DECIMALS)
        gt[key] = boxes
    return gt


def read_predictions(path: Path) -> dict[int | str, np.ndarray]:
    """predictions.json (COCO results, category_id = class + 1) -> image key -> (M, 6) ``x0 y0 x1 y1 score class``."""
    if not path.is_file():  # ultralytics writes it only when there was at least one detection
        return {}
    rows: dict[int | str, list[list[float]]] = {}
    for item in json.loads(path.read_text(encoding="utf-8")):
        x, y, w, h = item["bbox"]
        rows.setdefault(item["image_id"], []).append([x, y, x + w, y + h, item["score"], item["category_id"] - 1])
    return {key: np.asarray(value, dtype=np.float64) for key, value in rows.items()}


def ultralytics_summary(metrics: Any) -> tuple[dict[str, float], float | None]:
    """(P, R, F1, mAP50, mAP50-95) from a DetMetrics, and its operating confidence (max smoothed mean F1)."""
    from ultralytics.utils.metrics import smooth

    box = metrics.box
    f1_curve = np.asarray(box.f1_curve) if len(box.f1_curve) else np.zeros((0, 0))
    conf = float(np.asarray(box.px)[smooth(f1_curve.mean(0), 0.1).argmax()]) if f1_curve.size else None
    f1 = float(np.mean(box.f1)) if len(box.f1) else 0.0
    values = (float(box.mp), float(box.mr), f1, float(box.map50), float(box.map))
    return dict(zip(METRIC_KEYS, values, strict=True)), conf


def metrics_record(weights: Path, data: Path, split: str, validator: Any, ultra: dict[str, float],
                   conf: float | None, coco: BoxMetrics) -> dict[str, Any]:
    """The metrics.json content: both metric sets, their differences, size buckets, counts and settings."""
    pycoco = {key: getattr(coco, key) for key in METRIC_KEYS}
    save_dir = Path(validator.save_dir)
    return {
        "weights": str(weights), "data": str(data), "split": split, "save_dir": str(save_dir),
        "operating_conf": conf,
        "ultralytics": ultra, "pycocotools": pycoco,
        "difference": {key: pycoco[key] - ultra[key] for key in METRIC_KEYS},
        "size_buckets": [{**bucket.__dict__} for bucket in coco.buckets],
        "counts": {"images": coco.n_images, "gt_boxes": coco.n_gt, "predictions": coco.n_pred},
        "settings": {"conf": validator.args.conf, "iou_nms": validator.args.iou, "max_det": validator.args.max_det,
                     "imgsz": validator.args.imgsz, "match_iou": 0.5},
        "predictions": PREDICTIONS_JSON if (save_dir / PREDICTIONS_JSON).is_file() else None,
        "plots": sorted(p.name for p in save_dir.glob("*.png")),
    }


def validate(weights: str | Path, data: str | Path | None = None, *, imgsz: int | None = None,
             batch: int | None = None, device: str | None = None, split: str = "val",
             project: str | Path | None = None, name: str | None = None,
             options: Mapping[str, Any] | None = None, callbacks: Callbacks | None = None,
             trust: bool | None = None) -> ValResult:
    """Validate ``weights`` on ``split`` of the data YAML ``data`` (default: the one it was trained on).

    Writes predictions.json, the PR/F1/P/R curve plots and metrics.json into ``project/name``. ``callbacks``:
    ultralytics validator callbacks by event (e.g. progress). Weights load restricted unless ``trust``.

    Raises:
        CheckpointError, DatasetError, ConfigError: bad weights, data YAML or options (before validating).
    """
    from tqgd.engine.recipe import check_options
    from tqgd.engine.weights import checkpoint_loading, load_weights

    weights = Path(weights).expanduser().resolve()
    check_writable(Path(project or DEFAULT_PROJECT))  # ultralytics would stop with a bare OSError
    model = load_weights(weights, trust)
    data = data or model.overrides.get("data")
    if not data:
        raise DatasetError("these weights do not name their training data; pass --data", weights)
    spec = check_data_yaml(data, splits=(split,))
    if split not in spec.splits:
        raise DatasetError(f"the data YAML has no '{split}' split; choose --split from {sorted(spec.splits)}",
                           spec.yaml_path)
    args = {**check_options(options or {}, VAL_NAMED_KEYS), "data": str(spec.yaml_path), "split": split,
            "save_json": True, "plots": True, "project": str(Path(project or DEFAULT_PROJECT).expanduser().resolve()),
            "name": name or DEFAULT_RUN_NAME}
    args.update({k: v for k, v in (("imgsz", imgsz), ("batch", batch), ("device", device)) if v is not None})
    validators: list[Any] = []
    model.add_callback("on_val_end", validators.append)
    add_callbacks(model, callbacks)
    with checkpoint_loading(trust):
        metrics = model.val(**args)
    validator = validators[-1]
    ultra, conf = ultralytics_summary(metrics)
    gt = ground_truth(list(validator.dataloader.dataset.im_files), len(spec.names))
    coco = evaluate_boxes(gt, read_predictions(Path(validator.save_dir) / PREDICTIONS_JSON), conf=conf,
                          max_dets=int(validator.args.max_det))
    record = metrics_record(weights, spec.yaml_path, split, validator, ultra, conf, coco)
    write_json(Path(validator.save_dir) / METRICS_JSON, record)
    return ValResult(save_dir=Path(validator.save_dir), metrics=record)
