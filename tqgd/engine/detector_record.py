"""What a detector needs of its weights besides the network, kept in the export cache beside their exports.

With it, ``tqgd detect --backend onnx`` runs weights whose export is cached without unpickling them, and so without
importing torch (``tqgd.engine.onnx_predictor``). Written when weights are exported (``tqgd.engine.backends``) to
``<export cache>/<weights sha256, 16 hex>/detector.json``: the full sha256, the preprocessing recorded in the weights
(window, 2.5D context, crop, heart crop), the image size, class names, training-data label and operating confidences.
``load_record`` returns it only for the sha256 it was written for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tqgd.engine.export_cache import cache_root
from tqgd.io import write_json

RECORD_NAME = "detector.json"
#: Keys every record holds.
FIELDS = ("weights_sha256", "preprocess", "imgsz", "names", "training_data", "operating_conf",
          "operating_conf_roi")


def record_path(weights_sha256: str) -> Path:
    """Where the record of the weights with this sha256 is kept."""
    return cache_root() / weights_sha256[:16] / RECORD_NAME


def save_record(weights_sha256: str, preprocess: dict[str, Any], imgsz: int, names: dict[int, str],
                training_data: str | None, operating_conf: float | None, operating_conf_roi: float | None
                ) -> Path:
    """Write the record atomically (an earlier one of the same weights is replaced by an equal one).

    Raises:
        OutputError: the cache folder cannot be written.
    """
    return write_json(record_path(weights_sha256), {
        "weights_sha256": weights_sha256, "preprocess": preprocess, "imgsz": int(imgsz),
        "names": {str(k): v for k, v in names.items()}, "training_data": training_data,
        "operating_conf": operating_conf, "operating_conf_roi": operating_conf_roi})


def load_record(weights_sha256: str) -> dict[str, Any] | None:
    """The record of these weights, or None when there is none, it is unreadable, or it is another file's."""
    try:
        record = json.loads(record_path(weights_sha256).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or any(key not in record for key in FIELDS):
        return None
    if record["weights_sha256"] != weights_sha256:
        return None
    record["names"] = {int(k): str(v) for k, v in record["names"].items()}
    return record
