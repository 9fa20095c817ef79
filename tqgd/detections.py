"""``detections.json``: what ``tqgd detect`` writes and ``tqgd score`` / ``tqgd evaluate`` read.

Boxes are in full-slice pixel coordinates of the source scan, ``(x0, y0, x1, y1)`` with pixel *edges* as
in ultralytics: a box that covers exactly column 10 has ``x0 = 10, x1 = 11``. ``box_patient_mm`` gives the
same box in patient (LPS) millimetres: the outer corners and the centre, computed with
``CTVolume.index_to_patient`` (voxel centre ``i`` is at continuous index ``i``, so the edge ``x0`` is at
``x0 - 0.5``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


from tqgd.errors import LabelError

SCHEMA_VERSION = 1


@dataclass
class Detection:
    """One detected calcium box on one slice."""

    box_xyxy: tuple[float, float, float, float]
    confidence: float
    class_id: int = 0
    class_name: str = "calcium"
    box_patient_mm: dict[str, list[float]] = field(default_factory=dict)
    # "model": the detector's box; "3d-completion": a found lesion's end slice, boxed or given its lesion's confidence
    # by ``tqgd.engine.lesion_tips`` (no model output of its own); "verifier": an unboxed component the lesion
    # verifier is sure of (``tqgd.verify.rescue``)
    origin: str = "model"


@dataclass
class SliceDetections:
    """All detections on slice ``slice_index`` (z index in the source volume)."""

    slice_index: int
    detections: list[Detection] = field(default_factory=list)


@dataclass
class DetectionResult:
    """Detections for one scan plus the geometry needed to map them back to voxels and millimetres."""

    source: str | None
    shape_zyx: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: list[float]
    slices: list[SliceDetections] = field(default_factory=list)
    series_uid: str | None = None
    study_uid: str | None = None
    scan_id: str | None = None
    heart_roi_xyxy: tuple[int, int, int, int] | None = None
    model: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the ``detections.json`` layout)."""
        return asdict(self)

    def all_detections(self) -> list[tuple[int, Detection]]:
        """Flat list of ``(slice_index, detection)``."""
        return [(s.slice_index, d) for s in self.slices for d in s.detections]

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | Path | None = None) -> DetectionResult:
        """Validate and build from a parsed ``detections.json``; errors name the file and the bad field."""
        try:
            shape = tuple(_whole(v, "shape_zyx", minimum=1) for v in _numbers(data, "shape_zyx", 3))
            slices = [_slice(item, shape[0]) for item in _list(data, "slices")]
            roi = data.get("heart_roi_xyxy")
            source = data.get("source")
            if source is not None and not isinstance(source, str):
                raise ValueError(f"source must be text or null, got {source!r}")
            if not isinstance(data.get("model", {}), dict):
                raise ValueError(f"model must be an object, got {data['model']!r}")
            return cls(source=source, shape_zyx=shape,  # type: ignore[arg-type]
                       spacing_mm=_numbers(data, "spacing_mm", 3, positive=True),  # type: ignore[arg-type]
                       origin_mm=_numbers(data, "origin_mm", 3),  # type: ignore[arg-type]
                       direction=list(_numbers(data, "direction", 9)), slices=slices,
                       series_uid=_text_or_none(data, "series_uid"), study_uid=_text_or_none(data, "study_uid"),
                       scan_id=_text_or_none(data, "scan_id"),
                       heart_roi_xyxy=tuple(_numbers(data, "heart_roi_xyxy", 4)) if roi is not None else None,
                       model=data.get("model", {}),
                       schema_version=_whole(data.get("schema_version", SCHEMA_VERSION), "schema_version", 1))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            missing = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise LabelError(f"not a valid tqgd detections file: {missing}", path) from exc


def _list(data: dict[str, Any], key: str) -> list[Any]:
    """``data[key]`` when it is a list (a missing key raises KeyError)."""
    value = data[key]
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list, got {value!r}")
    return value


def _numbers(data: dict[str, Any], key: str, count: int, positive: bool = False) -> tuple[float, ...]:
    """``count`` finite numbers (JSON numbers, not text or true/false) from ``data[key]``."""
    values = _list(data, key)
    if len(values) != count or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) \
            or not all(math.isfinite(v) for v in values) or (positive and min(values) <= 0):
        kind = "positive finite" if positive else "finite"
        raise ValueError(f"{key} must be {count} {kind} numbers, got {values!r}")
    return tuple(float(v) for v in values)


def _whole(value: Any, key: str, minimum: int) -> int:
    """A whole JSON number (3 or 3.0) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not float(value).is_integer() or value < minimum:
        raise ValueError(f"{key} must be whole numbers of at least {minimum}, got {value!r}")
    return int(value)


def _text_or_none(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be text or null, got {value!r}")
    return value


def _slice(item: Any, n_slices: int) -> SliceDetections:
    """One ``slices`` entry: a slice index inside the scan and its detections."""
    if not isinstance(item, dict):
        raise ValueError(f"each slices entry must be an object, got {item!r}")
    index = _whole(item.get("slice_index"), "slice_index", 0)
    if index >= n_slices:
        raise ValueError(f"slice_index {index} outside the scan's {n_slices} slices")
    detections = []
    for entry in _list(item, "detections"):
        if not isinstance(entry, dict):
            raise ValueError(f"each detection must be an object, got {entry!r}")
        box = _numbers(entry, "box_xyxy", 4)
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"box_xyxy must have x0 <= x1 and y0 <= y1, got {list(box)}")
        confidence = _numbers({"confidence": [entry.get("confidence")]}, "confidence", 1)[0]
        if not 0 <= confidence <= 1:
            raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
        detections.append(Detection(box_xyxy=box, confidence=confidence,  # type: ignore[arg-type]
                                    class_id=_whole(entry.get("class_id", 0), "class_id", 0),
                                    class_name=str(entry.get("class_name", entry.get("class", "calcium"))),
                                    box_patient_mm=entry.get("box_patient_mm") or {},
                                    origin=str(entry.get("origin", "model"))))
    return SliceDetections(slice_index=index, detections=detections)


def load_detections(path: str | Path) -> DetectionResult:
    """Read and validate a ``detections.json``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelError(f"cannot read detections file ({exc.strerror})", path) from exc
    except UnicodeDecodeError as exc:
        raise LabelError(f"not a text (UTF-8) JSON file (byte {exc.start} cannot be decoded)", path) from exc
    except json.JSONDecodeError as exc:
        raise LabelError(f"not JSON ({exc.msg} at line {exc.lineno})", path) from exc
    if not isinstance(data, dict):
        raise LabelError("not a valid tqgd detections file: top level must be an object", path)
    return DetectionResult.from_dict(data, path)


def save_detections(result: DetectionResult, path: str | Path) -> Path:
    """Write ``result`` atomically as JSON."""
    from tqgd.io import write_json

    return write_json(path, result.to_dict())
