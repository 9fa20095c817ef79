"""What the label-parser fuzz cases run in the worker, and the independent rules each accepted file must meet.

The independent YOLO rule is ultralytics' reading made strict: five numbers per line as numpy parses them (Python's
``float``, so "0.1_5" and other-script digits count), finite, an integer class id in range, centre and size inside
0..1 with positive size, the box inside the image. The detections rule is the ``detections.json`` schema written out: finite geometry, positive spacing, slice
indices inside the scan, boxes ordered and finite, confidences in 0..1.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

EDGE_TOLERANCE = 1e-5


def parse_yolo_file(path: str, num_classes: int) -> list[tuple[int, float, float, float, float, int]]:
    """Worker side: tqgd's YOLO reader, as plain tuples."""
    from tqgd.data.formats.yolo import read_yolo_labels

    return [(r.class_id, r.cx, r.cy, r.w, r.h, r.line) for r in read_yolo_labels(path, num_classes)]


def first_bad_yolo_line(text: str, num_classes: int) -> int | None:
    """1-based number of the first line the strict rule refuses, None when every line passes; 0 for non-text."""
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            return number
        try:
            class_value, cx, cy, w, h = (float(f) for f in fields)
        except ValueError:
            return number
        if not all(math.isfinite(v) for v in (class_value, cx, cy, w, h)):
            return number
        if class_value != int(class_value) or not 0 <= class_value < num_classes:
            return number
        if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1 and 0 < h <= 1):
            return number
        if cx - w / 2 < -EDGE_TOLERANCE or cy - h / 2 < -EDGE_TOLERANCE or cx + w / 2 > 1 + EDGE_TOLERANCE or \
                cy + h / 2 > 1 + EDGE_TOLERANCE:
            return number
    return None


def load_detections_file(path: str) -> dict[str, Any]:
    """Worker side: tqgd's detections reader, back to a dict."""
    from tqgd.detections import load_detections

    return load_detections(path).to_dict()


def _finite_numbers(value: Any, count: int) -> bool:
    try:
        return isinstance(value, (list, tuple)) and len(value) == count and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    except OverflowError:  # an integer too large for a float
        return False


def _whole_number(value: Any) -> bool:
    """A JSON number with no fraction (3 or 3.0; JSON does not tell them apart), not true/false."""
    return _finite_numbers([value], 1) and float(value).is_integer()


def detections_problem(data: Any) -> str | None:
    """Why ``data`` breaks the detections.json schema, or None when it is valid."""
    if not isinstance(data, dict):
        return "top level is not an object"
    if data.get("source") is not None and not isinstance(data["source"], str):
        return "source"
    if data.get("heart_roi_xyxy") is not None and not _finite_numbers(data["heart_roi_xyxy"], 4):
        return "heart_roi_xyxy"
    shape = data.get("shape_zyx")
    if not _finite_numbers(shape, 3) or not all(float(v).is_integer() and v > 0 for v in shape):
        return "shape_zyx"
    if not _finite_numbers(data.get("spacing_mm"), 3) or min(data["spacing_mm"]) <= 0:
        return "spacing_mm"
    if not _finite_numbers(data.get("origin_mm"), 3) or not _finite_numbers(data.get("direction"), 9):
        return "origin_mm or direction"
    slices = data.get("slices")
    if not isinstance(slices, list):
        return "slices"
    for item in slices:
        if not isinstance(item, dict) or not isinstance(item.get("detections"), list):
            return "slice entry"
        index = item.get("slice_index")
        if not _whole_number(index) or not 0 <= index < shape[0]:
            return "slice_index"
        for det in item["detections"]:
            if not isinstance(det, dict) or not _finite_numbers(det.get("box_xyxy"), 4):
                return "box_xyxy"
            x0, y0, x1, y1 = det["box_xyxy"]
            if x1 < x0 or y1 < y0:
                return "box order"
            confidence = det.get("confidence")
            if not _finite_numbers([confidence], 1) or not 0 <= confidence <= 1:
                return "confidence"
            class_id = det.get("class_id", 0)
            if not _whole_number(class_id) or class_id < 0:
                return "class_id"
    return None


def read_voc_file(path: str, names: dict[int, str]) -> tuple[tuple[int, int], list[tuple[int, int, int, int, int]]]:
    """Worker side: tqgd's VOC reader, as plain tuples."""
    from tqgd.data.formats.voc import read_voc

    size, boxes = read_voc(path, names)
    return size, [(b.x0, b.y0, b.x1, b.y1, b.class_id) for b in boxes]


def read_manifest_file(path: str) -> int:
    """Worker side: tqgd's manifest reader; the number of rows."""
    from tqgd.data.convert.manifest import read_manifest

    return len(read_manifest(Path(path)))
