"""``detections.json``: what ``tqgd detect`` writes and ``tqgd score`` / ``tqgd evaluate`` read.

Boxes are in full-slice pixel coordinates of the source scan, ``(x0, y0, x1, y1)`` with pixel *edges* as
in ultralytics: a box that covers exactly column 10 has ``x0 = 10, x1 = 11``. ``box_patient_mm`` gives the
same box in patient (LPS) millimetres: the outer corners and the centre, computed with
``CTVolume.index_to_patient`` (voxel centre ``i`` is at continuous index ``i``, so the edge ``x0`` is at
``x0 - 0.5``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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


@dataclass
class SliceDetections:
    """All detections on slice ``slice_index`` (z index in the source volume)."""

    slice_index: int
    detections: list[Detection] = field(default_factory=list)


@dataclass
class DetectionResult:
    """Detections for one scan plus the geometry needed to map them back to voxels and millimetres."""

    source: str
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
            shape = tuple(int(v) for v in data["shape_zyx"])
            slices = []
            for s in data["slices"]:
                dets = []
                for d in s["detections"]:
                    box = tuple(float(v) for v in d["box_xyxy"])
                    if len(box) != 4 or not np.isfinite(box).all() or box[2] < box[0] or box[3] < box[1]:
                        raise ValueError(f"box_xyxy must be 4 finite numbers with x0<=x1, y0<=y1, got {d['box_xyxy']}")
                    dets.append(Detection(box_xyxy=box, confidence=float(d["confidence"]),
                                          class_id=int(d.get("class_id", 0)),
                                          class_name=str(d.get("class_name", d.get("class", "calcium"))),
                                          box_patient_mm=d.get("box_patient_mm", {})))
                index = int(s["slice_index"])
                if not 0 <= index < shape[0]:
                    raise ValueError(f"slice_index {index} outside the scan's {shape[0]} slices")
                slices.append(SliceDetections(slice_index=index, detections=dets))
            roi = data.get("heart_roi_xyxy")
            return cls(source=str(data["source"]), shape_zyx=shape,  # type: ignore[arg-type]
                       spacing_mm=tuple(float(v) for v in data["spacing_mm"]),  # type: ignore[arg-type]
                       origin_mm=tuple(float(v) for v in data["origin_mm"]),  # type: ignore[arg-type]
                       direction=[float(v) for v in data["direction"]], slices=slices,
                       series_uid=data.get("series_uid"), study_uid=data.get("study_uid"),
                       scan_id=data.get("scan_id"), heart_roi_xyxy=tuple(roi) if roi else None,
                       model=data.get("model", {}), schema_version=int(data.get("schema_version", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            missing = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise LabelError(f"not a valid tqgd detections file: {missing}", path) from exc


def load_detections(path: str | Path) -> DetectionResult:
    """Read and validate a ``detections.json``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise LabelError(f"cannot read detections file ({exc.strerror})", path) from exc
    except json.JSONDecodeError as exc:
        raise LabelError(f"not JSON ({exc.msg} at line {exc.lineno})", path) from exc
    if not isinstance(data, dict):
        raise LabelError("not a valid tqgd detections file: top level must be an object", path)
    return DetectionResult.from_dict(data, path)


def save_detections(result: DetectionResult, path: str | Path) -> Path:
    """Write ``result`` atomically as JSON."""
    from tqgd.io import write_json

    return write_json(path, result.to_dict())
