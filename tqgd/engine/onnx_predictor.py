"""Prediction with a cached ONNX export on ONNX Runtime and numpy alone: no torch, no ultralytics imported.

``tqgd detect --backend onnx`` runs through this once the weights' export and their detector record are cached
(``tqgd.engine.detector_record``); importing torch and ultralytics' predictor was the largest fixed cost of a one-scan
run on two cores (``benchmarks/pipeline_speed.py``). Each step does what ultralytics 8.4's ``DetectionPredictor``
does with a dynamic-shape export, so the boxes are the same (tests/engine/test_onnx_predictor.py compares them):

1. letterbox: scale ``min(imgsz / h, imgsz / w)`` (up or down; the image size rounded up to the stride), bilinear
   resize (OpenCV), padding with grey 114 to the next multiple of the stride, split evenly between the two sides;
2. BGR -> RGB, (B, 3, H, W) float32 in 0..1, one ONNX Runtime call per batch;
3. per image: candidates whose best class score exceeds ``conf``, centre boxes -> corner boxes, the 30000 most
   confident, greedy class-wise NMS at IoU 0.7 (boxes offset by class x 7680 px), at most 300 boxes;
4. boxes back to the input image: padding removed, divided by the scale, clipped to the image.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: ultralytics' predictor settings these steps reproduce (its defaults for ``predict``).
IOU = 0.7
MAX_DET = 300
MAX_NMS = 30000
MAX_WH = 7680
PAD_VALUE = 114


class OnnxSliceModel:
    """An ultralytics ONNX detection export (dynamic batch, height, width) on ONNX Runtime's CPU provider.

    Raises ``ValueError`` at construction for an export whose output is not ``(B, 4 + classes, anchors)``: end-to-end
    heads (YOLO26) and other tasks go through ultralytics' own backend instead.
    """

    def __init__(self, path: str | Path):
        import onnxruntime

        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.stride = int(meta.get("stride", 32))
        self.names = {int(k): str(v) for k, v in ast.literal_eval(meta.get("names", "{0: 'object'}")).items()}
        self.input_name = self.session.get_inputs()[0].name
        output = self.session.get_outputs()[0].shape
        channels = output[1] if len(output) == 3 else None
        if meta.get("task", "detect") != "detect" or meta.get("end2end") == "True" or channels is None or \
                (isinstance(channels, int) and channels != 4 + len(self.names)):
            raise ValueError(f"{self.path}: output {output} is not (batch, 4 + {len(self.names)} classes, anchors)")

    def predict_rows(self, images: Sequence[np.ndarray], imgsz: int, conf: float) -> list[np.ndarray]:
        """Images (H, W, 3) BGR uint8, all of one shape -> per image (N, 6) ``x0 y0 x1 y1 confidence class_id``."""
        if not images:
            return []
        size = max(math.ceil(imgsz / self.stride) * self.stride, self.stride)
        boxed = [letterbox(image, size, self.stride) for image in images]
        batch = np.stack(boxed)[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        raw = self.session.run(None, {self.input_name: np.ascontiguousarray(batch)})[0]
        if raw.shape[1] != 4 + len(self.names):
            raise ValueError(f"{self.path}: output {raw.shape} is not (batch, 4 + {len(self.names)} classes, anchors)")
        return [scale_to_image(nms(prediction, conf), batch.shape[2:], image.shape[:2])
                for prediction, image in zip(raw, images, strict=True)]


def letterbox(image: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(H, W, 3) -> the model image: scaled to fit ``size`` x ``size``, padded to a stride multiple (step 1)."""
    import cv2

    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = max(round(width * scale), 1), max(round(height * scale), 1)
    pad_w, pad_h = (size - new_w) % stride / 2, (size - new_h) % stride / 2
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom, left, right = round(pad_h - 0.1), round(pad_h + 0.1), round(pad_w - 0.1), round(pad_w + 0.1)
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)


def nms(prediction: np.ndarray, conf: float) -> np.ndarray:
    """One image's raw output (4 + classes, anchors) -> (N, 6) kept rows in model-image pixels (step 3)."""
    scores = prediction[4:].T
    best = scores.argmax(axis=1)
    confidence = scores[np.arange(len(scores)), best]
    keep = confidence > conf
    cx, cy, w, h = prediction[:4, keep]
    rows = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, confidence[keep], best[keep].astype(np.float32)],
                    axis=1)  # float32 throughout, as ultralytics' tensors
    rows = rows[np.argsort(-rows[:, 4], kind="stable")][:MAX_NMS]
    kept = greedy_nms(rows[:, :4] + rows[:, 5:6] * MAX_WH, IOU)[:MAX_DET]
    return rows[kept]


def greedy_nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Indices of ``boxes`` (N, 4) corners, sorted by falling score, that greedy NMS keeps (IoU > ``iou`` drops)."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0) * (y1 - y0)
    order, kept = np.arange(len(boxes)), []
    while order.size:
        i, rest = order[0], order[1:]
        kept.append(i)
        inter = (np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
                 * np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(overlap > iou)]  # an undefined overlap (two empty boxes) suppresses nothing, as torchvision
    return np.array(kept, dtype=np.int64)


def scale_to_image(rows: np.ndarray, model_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """Rows in model-image pixels -> rows in input-image pixels, clipped to the image (step 4)."""
    gain = min(model_hw[0] / image_hw[0], model_hw[1] / image_hw[1])
    new_h, new_w = (max(round(side * gain), 1) for side in image_hw)
    pad_x, pad_y = round((model_hw[1] - new_w) / 2 - 0.1), round((model_hw[0] - new_h) / 2 - 0.1)
    rows = rows.copy()
    rows[:, [0, 2]] = ((rows[:, [0, 2]] - pad_x) / (new_w / image_hw[1])).clip(0, image_hw[1])
    rows[:, [1, 3]] = ((rows[:, [1, 3]] - pad_y) / (new_h / image_hw[0])).clip(0, image_hw[0])
    return rows
