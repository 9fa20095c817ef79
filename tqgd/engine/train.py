"""Train a detector with the paper's recipe: ``train(data, model="tqgdnet-n", ...)`` and resuming an interrupted run.

Models: tqgd config names and YAML paths (``tqgdnet-n``, ``cfg/models/ablation/yolov5b-gd.yaml``) and tqgd weights
train through ``TQGDRunTrainer`` (tqgd's layers, also in DDP workers and on resume); ultralytics' own model YAMLs
(``yolov8n.yaml``, ``yolov5n.yaml``) and their weights train through ultralytics' DetectionTrainer, for baselines. Both
write the run record and embed the dataset's preprocessing (``tqgd.engine.run_record``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqgd.engine.dataset_check import check_data_yaml
from tqgd.engine.recipe import PAPER_RECIPE, check_options, recipe_table
from tqgd.engine.weights import checkpoint_loading
from tqgd.errors import CheckpointError, ConfigError, DatasetError
from tqgd.io import check_writable

#: Where runs go when no project folder is given (relative to the current folder, made absolute).
DEFAULT_PROJECT = Path("runs") / "train"
DEFAULT_RUN_NAME = "exp"
#: Options ultralytics lets a resumed run change (everything else comes from the checkpoint).
RESUME_CHANGEABLE = frozenset({"imgsz", "batch", "device", "workers", "cache", "patience", "time", "val", "plots",
                               "save_period", "close_mosaic"})

#: ultralytics callbacks by event name, e.g. ``{"on_fit_epoch_end": [fn]}``.
Callbacks = Mapping[str, "list[Callable[[Any], None]] | tuple[Callable[[Any], None], ...]"]


@dataclass
class TrainResult:
    """A finished run: its folder, checkpoints, final validation metrics and the arguments it trained with."""

    save_dir: Path
    best: Path
    last: Path
    metrics: dict[str, float] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


def is_multi_gpu(device: str | int | None) -> bool:
    """True for a device list such as ``0,1`` (ultralytics then launches DDP workers)."""
    return device is not None and len([d for d in str(device).split(",") if d.strip()]) > 1


def load_model(model: str | Path, trust: bool | None = None):
    """An ultralytics ``Model`` for ``model`` and the trainer class that can rebuild it.

    Weights load through ``tqgd.engine.weights`` (restricted unless ``trust``).

    Raises:
        ConfigError: unknown name. CheckpointError: missing, unreadable or refused ``.pt``.
    """
    from ultralytics import YOLO

    from tqgd.engine.model import TQGD
    from tqgd.engine.run_record import TQGDRunTrainer, UltralyticsRunTrainer
    from tqgd.engine.weights import load_weights
    from tqgd.nn.model_cfg import resolve_model_cfg
    from tqgd.nn.tasks import TQGDDetectionModel

    text = str(model).strip()
    if text.endswith(".pt"):
        loaded = load_weights(text, trust)
        return loaded, TQGDRunTrainer if isinstance(loaded.model, TQGDDetectionModel) else UltralyticsRunTrainer
    try:
        resolve_model_cfg(text)
    except ConfigError as not_tqgd:
        from ultralytics.nn.tasks import yaml_model_load

        if not text.endswith((".yaml", ".yml")):
            raise not_tqgd
        try:
            yaml_model_load(text)
        except (FileNotFoundError, OSError):
            raise ConfigError(f"{not_tqgd.detail}; ultralytics has no model config {text!r} either") from not_tqgd
        return YOLO(text), UltralyticsRunTrainer
    return TQGD(text), TQGDRunTrainer


def find_resume_checkpoint(resume: bool | str | Path, project: str | Path | None, name: str | None) -> Path:
    """``last.pt`` to resume: a given .pt or run folder, else ``project/name``, else the newest run in ``project``."""
    if isinstance(resume, (str, Path)) and not isinstance(resume, bool):
        target = Path(resume).expanduser().resolve()
        candidates = [target] if target.suffix == ".pt" else [target / "weights" / "last.pt"]
    else:
        root = Path(project or DEFAULT_PROJECT).expanduser().resolve()
        if name:
            candidates = [root / name / "weights" / "last.pt"]
        else:
            candidates = sorted(root.glob("*/weights/last.pt"), key=lambda p: p.stat().st_mtime, reverse=True)[:1]
            if not candidates:
                raise CheckpointError("no run with weights/last.pt here to resume; pass --project/--name of the "
                                      "interrupted run", root)
    last = candidates[0]
    if not last.is_file():
        raise CheckpointError("no last.pt to resume from; pass --project and --name of the interrupted run", last)
    return last


def _check_resumable(last: Path, options: Mapping[str, Any], trust: bool | None) -> str | None:
    """Refuse finished runs and options a resumed run cannot change; return the data YAML the run trained on."""
    from tqgd.engine.weights import load_checkpoint

    checkpoint = load_checkpoint(last, trust)
    if checkpoint.get("epoch", -1) < 0 or checkpoint.get("optimizer") is None:
        raise CheckpointError("this run already finished (no optimizer state left); nothing to resume. To train "
                              "further, start a new run with --model pointing at its best.pt", last)
    fixed = sorted(set(options) - RESUME_CHANGEABLE)
    if fixed:
        raise ConfigError(f"a resumed run keeps its own {', '.join(fixed)}; only {', '.join(sorted(RESUME_CHANGEABLE))}"
                          " may change. Start a new run to change the others")
    return (checkpoint.get("train_args") or {}).get("data")


def add_callbacks(model: Any, callbacks: Callbacks | None) -> None:
    """Register ultralytics callbacks (event -> functions) on an ultralytics Model."""
    for event, functions in (callbacks or {}).items():
        for function in functions:
            model.add_callback(event, function)


def _finish(model: Any) -> TrainResult:
    trainer = model.trainer
    metrics = getattr(trainer, "metrics", None) or {}
    return TrainResult(save_dir=Path(trainer.save_dir), best=Path(trainer.best), last=Path(trainer.last),
                       metrics={k: float(v) for k, v in metrics.items()}, args=dict(vars(trainer.args)))


def dataset_crop_size(data_yaml: str | Path) -> int | None:
    """The fixed native-pixel crop a tqgd dataset was cut to (its convert.json), the image size to train it at."""
    from tqgd.engine.run_record import dataset_preprocess

    record = dataset_preprocess(data_yaml) or {}
    crop = (record.get("input") or {}).get("crop_size") if isinstance(record.get("input"), dict) else None
    return int(crop) if crop else None


def training_args(data: Path, model: str | Path, epochs: int | None = None, imgsz: int | None = None,
                  batch: int | None = None, device: str | None = None, project: str | Path | None = None,
                  name: str | None = None, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full ultralytics argument set of a new run: paper recipe, then pass-through options, then named options."""
    named = {"epochs": epochs, "imgsz": imgsz, "batch": batch, "device": device}
    args = {**PAPER_RECIPE, **check_options(options or {}), **{k: v for k, v in named.items() if v is not None}}
    if str(model).endswith(".pt") and "pretrained" not in (options or {}):
        args["pretrained"] = True  # fine-tuning: keep the given weights (the paper's from-scratch rule is for configs)
    args.update(data=str(data), project=str(Path(project or DEFAULT_PROJECT).expanduser().resolve()),
                name=name or DEFAULT_RUN_NAME)
    return args


def train(data: str | Path | None = None, model: str | Path = "tqgdnet-n", *, epochs: int | None = None,
          imgsz: int | None = None, batch: int | None = None, device: str | None = None,
          project: str | Path | None = None, name: str | None = None, resume: bool | str | Path = False,
          options: Mapping[str, Any] | None = None, callbacks: Callbacks | None = None,
          trust: bool | None = None) -> TrainResult:
    """Train ``model`` on the data YAML ``data`` with the paper's recipe; ``options`` are extra ultralytics arguments.

    ``resume``: True continues ``project/name`` (or the newest run under ``project``) from its last.pt; a path names
    the last.pt or run folder. ``callbacks`` are ultralytics callbacks (e.g. progress); they are not used with several
    GPUs, whose workers get a pickled copy of the trainer. Every checkpoint load (``--model X.pt``, resume) is
    restricted unless ``trust`` (``tqgd.engine.weights``).

    Raises:
        DatasetError, ConfigError, CheckpointError: bad data YAML, options, model or checkpoint (before training).
    """
    options = dict(options or {})
    if is_multi_gpu(device):
        os.environ["YOLO_VERBOSE"] = "1"  # DDP workers (which inherit the environment) print ultralytics' progress
        callbacks = None
    if resume:
        last = find_resume_checkpoint(resume, project, name)
        check_writable(last.parent.parent)  # a read-only or full run folder fails now, not after an epoch
        named = {k: v for k, v in (("imgsz", imgsz), ("batch", batch), ("device", device)) if v is not None}
        changes = {**options, **named, **({"epochs": epochs} if epochs is not None else {})}
        trained_on = _check_resumable(last, changes, trust)
        loaded, trainer_class = load_model(last, trust)
        resume_args: dict[str, Any] = {"resume": True, **check_options(options), **named}
        if not (data or trained_on):
            raise DatasetError("this checkpoint names no data YAML; pass --data", last)
        resume_args["data"] = str(check_data_yaml(data or trained_on).yaml_path)  # moved dataset: pass --data
        add_callbacks(loaded, callbacks)
        with checkpoint_loading(trust):  # ultralytics reloads last.pt inside the trainer
            loaded.train(trainer=trainer_class, **resume_args)
        return _finish(loaded)
    if data is None:
        raise ConfigError("no data YAML given; pass --data OUT/orcascore.yaml (or resume an earlier run)")
    spec = check_data_yaml(data)
    check_writable(Path(project or DEFAULT_PROJECT))  # ultralytics would stop with a bare OSError
    loaded, trainer_class = load_model(model, trust)
    imgsz = imgsz or dataset_crop_size(spec.yaml_path)
    args = training_args(spec.yaml_path, model, epochs, imgsz, batch, device, project, name, options)
    add_callbacks(loaded, callbacks)
    with checkpoint_loading(trust):  # ultralytics' own loads (pretrained weights, best.pt at the end)
        loaded.train(trainer=trainer_class, **args)
    return _finish(loaded)


def describe_recipe(data: str | Path, model: str | Path, **named: Any) -> list[tuple[str, Any, str]]:
    """The recipe table (key, value, source) a new run with these arguments would use, for printing before it starts."""
    options = named.pop("options", None)
    return recipe_table(training_args(Path(data), model, options=options, **named))
