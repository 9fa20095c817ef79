"""What a training run keeps for later stages: the recipe it used and the preprocessing detection must repeat.

Each run folder gets ``tqgd_run.json`` (recipe table, versions, model, data, resume history) and, when the dataset
folder holds the converter's ``convert.json`` (window, classes, crop), a copy of it. The same ``convert.json`` content
also travels inside the weights: the trainers below set it as the model attribute ``tqgd_preprocess`` (a plain dict,
so restricted loading accepts it), and ultralytics' checkpoints pickle the model with its attributes. Read it back
with ``preprocess_info(weights)``; a copied ``best.pt`` keeps it, and the run folder's ``convert.json`` is the fallback
for weights written without it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from torch import nn
from ultralytics.cfg import DEFAULT_CFG
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import RANK, callbacks

from tqgd.data.convert.dataset_yaml import CONVERT_JSON
from tqgd.engine.trainer import TQGDTrainer
from tqgd.errors import DatasetError
from tqgd.io import write_json

#: Model attribute holding the dataset's convert.json inside the weights.
PREPROCESS_ATTRIBUTE = "tqgd_preprocess"
#: The run record written into every run folder.
RUN_RECORD = "tqgd_run.json"


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the converter's record ({exc}); re-run the conversion", path) from exc


def find_convert_json(data_yaml: str | Path | None) -> Path | None:
    """The ``convert.json`` of the dataset a data YAML describes (its ``path:`` folder, then the YAML's folder)."""
    if not data_yaml or not Path(data_yaml).is_file():
        return None
    data_yaml = Path(data_yaml)
    try:
        root = (yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}).get("path")
    except (OSError, yaml.YAMLError, AttributeError):
        root = None
    for folder in ([Path(root)] if root and Path(root).is_absolute() else []) + [data_yaml.parent]:
        if (folder / CONVERT_JSON).is_file():
            return folder / CONVERT_JSON
    return None


def dataset_preprocess(data_yaml: str | Path | None) -> dict[str, Any] | None:
    """Contents of the dataset's ``convert.json``, or None when the dataset was not made by tqgd's converter."""
    found = find_convert_json(data_yaml)
    return _read_json(found) if found else None


def preprocess_info(weights: str | Path, trust: bool | None = None) -> dict[str, Any]:
    """The preprocessing record (the converter's ``convert.json``: window, classes, crop) a model was trained with.

    Read from the weights (``tqgd_preprocess``), else from ``convert.json`` in the run folder of ``.../weights/X.pt``;
    an empty dict when the training data carried none (a plain YOLO dataset). Loading is restricted unless ``trust``.

    Raises:
        CheckpointError: the weights file is missing, cannot be loaded, or is refused by restricted loading.
    """
    from tqgd.engine.weights import load_checkpoint

    weights = Path(weights)
    checkpoint = load_checkpoint(weights, trust)
    model = checkpoint.get("ema") or checkpoint.get("model")
    info = getattr(model, PREPROCESS_ATTRIBUTE, None)
    if isinstance(info, Mapping):
        return dict(info)
    sidecar = weights.parent.parent / CONVERT_JSON
    if weights.parent.name == "weights" and sidecar.is_file():
        return _read_json(sidecar)
    return {}


def write_run_record(trainer: DetectionTrainer) -> None:
    """Callback (``on_train_start``): write ``tqgd_run.json`` and the dataset's ``convert.json`` into the run folder."""
    import torch
    import ultralytics

    import tqgd
    from tqgd.engine.recipe import recipe_table

    if RANK not in {-1, 0}:
        return
    save_dir = Path(trainer.save_dir)
    record_path = save_dir / RUN_RECORD
    previous = _read_json(record_path) if record_path.is_file() else {}
    args = vars(trainer.args)
    preprocess = dataset_preprocess(args.get("data"))
    now = datetime.datetime.now().isoformat(timespec="seconds")
    history = previous.get("sessions", [])
    history.append({"started": now, "start_epoch": trainer.start_epoch + 1, "epochs": trainer.epochs,
                    "resumed_from": str(args["resume"]) if args.get("resume") else None})
    write_json(record_path, {
        "tqgd_version": tqgd.__version__, "ultralytics_version": ultralytics.__version__,
        "torch_version": torch.__version__, "model": str(args.get("model")), "data": str(args.get("data")),
        "device": str(args.get("device")), "recipe": [{"key": k, "value": v, "source": s} for k, v, s in
                                                      recipe_table(args)],
        "preprocess": preprocess, "preprocess_source": str(find_convert_json(args.get("data")) or "") or None,
        "sessions": history,
    })
    if preprocess is not None:
        write_json(save_dir / CONVERT_JSON, preprocess)


class RunRecordMixin:
    """Trainer mix-in: registers ``write_run_record`` and puts the dataset's convert.json into the model it builds."""

    def __init__(self, cfg: Any = DEFAULT_CFG, overrides: dict[str, Any] | None = None,
                 _callbacks: dict[str, list] | None = None):
        """Same arguments as ultralytics' trainers; the run-record callback is added once (DDP workers re-enter)."""
        chosen = {event: list(fns) for event, fns in (_callbacks or callbacks.get_default_callbacks()).items()}
        if write_run_record not in chosen.setdefault("on_train_start", []):
            chosen["on_train_start"].append(write_run_record)
        super().__init__(cfg, overrides, chosen)

    def get_model(self, cfg: Any = None, weights: nn.Module | None = None, verbose: bool = True) -> nn.Module:
        """The parent's model, carrying the dataset's preprocessing record as ``tqgd_preprocess``."""
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        info = dataset_preprocess(self.args.data)
        if info is not None:
            setattr(model, PREPROCESS_ATTRIBUTE, info)
        return model


class TQGDRunTrainer(RunRecordMixin, TQGDTrainer):
    """TQGDTrainer (tqgd layers) that records its run and embeds the preprocessing record."""


class UltralyticsRunTrainer(RunRecordMixin, DetectionTrainer):
    """ultralytics' DetectionTrainer for stock baselines (yolov8n.yaml, yolov5n.yaml) with the same records."""
