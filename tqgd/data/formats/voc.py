"""Pascal VOC XML, one file per image, as LabelImg writes it (the paper exported these next to YOLO labels).

Coordinates follow the VOC devkit: 1-based, inclusive pixel indices, so a ``Box`` with pixel edges
``x0..x1`` is written ``xmin = x0 + 1``, ``xmax = x1`` (a 1-pixel box at column 10 is ``xmin = xmax = 11``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path

from tqgd.data.boxes import Box
from tqgd.errors import LabelError


def _sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def voc_xml(filename: str, width: int, height: int, depth: int, boxes: Iterable[Box], names: Mapping[int, str],
            folder: str = "images") -> str:
    """The VOC annotation text for one image (``depth`` 1 for grey, 3 for RGB)."""
    root = ET.Element("annotation")
    _sub(root, "folder", folder)
    _sub(root, "filename", filename)
    _sub(_sub(root, "source"), "database", "tqgd")
    size = _sub(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", depth)):
        _sub(size, tag, value)
    _sub(root, "segmented", 0)
    for box in boxes:
        obj = _sub(root, "object")
        _sub(obj, "name", names[box.class_id])
        _sub(obj, "pose", "Unspecified")
        _sub(obj, "truncated", 0)
        _sub(obj, "difficult", 0)
        bndbox = _sub(obj, "bndbox")
        for tag, value in (("xmin", box.x0 + 1), ("ymin", box.y0 + 1), ("xmax", box.x1), ("ymax", box.y1)):
            _sub(bndbox, tag, value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _whole(text: str) -> int:
    """A whole number written as ``12``, ``12.0`` or ``1.2e1``; anything else (``5.5``, ``inf``, text) is refused."""
    value = float(text)
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(value)


def read_voc(path: str | Path, names: Mapping[int, str]) -> tuple[tuple[int, int], list[Box]]:
    """Read a VOC file back: ``((width, height), boxes)`` with pixel-edge boxes; errors name the file."""
    path = Path(path)
    class_of = {name: cid for cid, name in names.items()}
    try:
        root = ET.parse(path).getroot()
        width, height = _whole(root.findtext("size/width", "")), _whole(root.findtext("size/height", ""))
        if width <= 0 or height <= 0:
            raise LabelError(f"image size {width} x {height} must be positive", path)
        boxes = []
        for number, obj in enumerate(root.iter("object"), start=1):
            name = obj.findtext("name", "")
            if name not in class_of:
                raise LabelError(f"object {number}: class {name!r} is not one of {sorted(class_of)}", path)
            corners = ("xmin", "ymin", "xmax", "ymax")
            xmin, ymin, xmax, ymax = (_whole(obj.findtext(f"bndbox/{t}", "")) for t in corners)
            if not (1 <= xmin <= xmax <= width and 1 <= ymin <= ymax <= height):
                raise LabelError(f"object {number}: box ({xmin}, {ymin}, {xmax}, {ymax}) is not inside the "
                                 f"{width} x {height} image (1-based, inclusive)", path)
            boxes.append(Box(x0=xmin - 1, y0=ymin - 1, x1=xmax, y1=ymax, class_id=class_of[name]))
    except ET.ParseError as exc:
        raise LabelError(f"not valid XML ({exc})", path) from exc
    except OSError as exc:
        raise LabelError(f"cannot read VOC file ({exc.strerror})", path) from exc
    except ValueError as exc:
        raise LabelError(f"VOC size or box value is not a whole number ({exc}); expected integer pixels", path) from exc
    return (width, height), boxes
