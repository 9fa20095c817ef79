"""YOLO detection labels: one ``class cx cy w h`` line per box, coordinates normalised to 0..1 by image size.

The writer turns ``Box`` pixel edges into that form; the reader validates every line (column count, numbers,
range, class id) and raises ``LabelError`` naming the file and line, so a broken label never reaches training
as a silently dropped box.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqgd.data.boxes import Box
from tqgd.errors import LabelError

#: Decimals written per coordinate (1e-6 of 512 px is far below a pixel).
COORD_DECIMALS = 6
#: Slack allowed when checking that a box lies inside the image (covers rounding to COORD_DECIMALS).
EDGE_TOLERANCE = 1e-5
COLUMNS = 5


@dataclass(frozen=True)
class YoloLabel:
    """One parsed label line: class id and normalised centre/size; ``line`` is 1-based in its file."""

    class_id: int
    cx: float
    cy: float
    w: float
    h: float
    line: int = 0

    def to_xyxy(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Pixel-edge box ``(x0, y0, x1, y1)`` for an image of ``width`` x ``height`` pixels."""
        return ((self.cx - self.w / 2) * width, (self.cy - self.h / 2) * height,
                (self.cx + self.w / 2) * width, (self.cy + self.h / 2) * height)


def yolo_line(box: Box, width: int, height: int) -> str:
    """The label line for ``box`` on a ``width`` x ``height`` image."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width} x {height}")
    cx, cy = (box.x0 + box.x1) / 2 / width, (box.y0 + box.y1) / 2 / height
    w, h = box.width / width, box.height / height
    return " ".join([str(box.class_id), *(f"{v:.{COORD_DECIMALS}f}" for v in (cx, cy, w, h))])


def format_yolo_labels(boxes: Iterable[Box], width: int, height: int) -> str:
    """A whole label file: one line per box, newline-terminated; empty for a background image."""
    return "".join(yolo_line(box, width, height) + "\n" for box in boxes)


def _parse_line(text: str, line_no: int, num_classes: int, source: str | Path | None) -> YoloLabel:
    fields = text.split()
    where = f"line {line_no}"
    if len(fields) != COLUMNS:
        raise LabelError(f"{where}: expected {COLUMNS} columns 'class cx cy w h', found {len(fields)} "
                         f"({text.strip()!r}); fix or remove the line", source)
    try:
        values = [float(v) for v in fields]
    except ValueError:
        raise LabelError(f"{where}: expected numbers, found {text.strip()!r}; fix or remove the line", source) from None
    if not all(math.isfinite(v) for v in values):
        raise LabelError(f"{where}: values must be finite, found {text.strip()!r}", source)
    class_value, cx, cy, w, h = values
    if class_value != int(class_value) or not 0 <= class_value < num_classes:
        raise LabelError(f"{where}: class id {fields[0]} is not one of 0..{num_classes - 1} (the dataset has "
                         f"{num_classes} class names); fix the id or the names", source)
    if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
        raise LabelError(f"{where}: cx, cy, w, h must be normalised to 0..1 with w, h > 0, found "
                         f"{fields[1:]}; were pixel coordinates written instead of fractions?", source)
    if cx - w / 2 < -EDGE_TOLERANCE or cy - h / 2 < -EDGE_TOLERANCE or cx + w / 2 > 1 + EDGE_TOLERANCE \
            or cy + h / 2 > 1 + EDGE_TOLERANCE:
        raise LabelError(f"{where}: box ({cx}, {cy}, {w}, {h}) extends past the image edge", source)
    return YoloLabel(int(class_value), cx, cy, w, h, line_no)


def parse_yolo_labels(text: str, num_classes: int, source: str | Path | None = None) -> list[YoloLabel]:
    """Parse label text (blank lines allowed); ``source`` names the file in errors."""
    return [_parse_line(line, i, num_classes, source)
            for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_yolo_labels(path: str | Path, num_classes: int) -> list[YoloLabel]:
    """Read and validate a YOLO label file for a dataset with ``num_classes`` names."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelError(f"cannot read label file ({exc.strerror})", path) from exc
    except UnicodeDecodeError as exc:
        raise LabelError("label file is not text (UTF-8); expected lines 'class cx cy w h'", path) from exc
    return parse_yolo_labels(text, num_classes, path)
