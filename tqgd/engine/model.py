"""TQGD: ultralytics' ``Model`` with a task map that trains, validates and predicts with tqgd's model and trainer.

``TQGD("tqgdnet-n")`` builds a new model from a tqgd config name or YAML path; ``TQGD("best.pt")`` loads a
checkpoint (ultralytics' loader, restricted loading included). Training goes through ``TQGDTrainer``, so fine-tuning
and resuming rebuild the model with tqgd's layers; validation (``TQGDValidator``: ultralytics' with a dataset lock),
prediction and export are ultralytics' own.
"""

from __future__ import annotations

from pathlib import Path

from ultralytics.engine.model import Model
from ultralytics.models.yolo.detect import DetectionPredictor
from ultralytics.utils import DEFAULT_CFG_DICT, RANK

from tqgd.engine.trainer import TQGDTrainer
from tqgd.engine.validator import TQGDValidator
from tqgd.nn.model_cfg import YAML_SUFFIXES, resolve_model_cfg
from tqgd.nn.tasks import TQGDDetectionModel


class TQGD(Model):
    """A TQGDNet-family detector: ``TQGD("tqgdnet-n").train(data=...)``, ``TQGD("best.pt").predict(...)``."""

    def __init__(self, model: str | Path = "tqgdnet-n", verbose: bool = False):
        """``model``: a config name (``tqgdnet-n``), a model YAML path, or weights (``.pt``, or an exported model)."""
        source = str(model).strip()
        if not Path(source).suffix:  # a bare config name, the way ultralytics reads "yolov8n.yaml"
            source += YAML_SUFFIXES[0]
        super().__init__(model=source, task="detect", verbose=verbose)

    def _new(self, cfg: str, task: str | None = None, verbose: bool = False) -> None:
        """Build a new model from a tqgd config name or YAML path (ultralytics only searches its own cfg folder)."""
        cfg_dict = resolve_model_cfg(cfg)
        self.cfg = cfg
        self.task = task or "detect"
        self.model = TQGDDetectionModel(cfg_dict, verbose=verbose and RANK == -1)
        self.overrides["model"] = self.cfg
        self.overrides["task"] = self.task
        self.model.args = {**DEFAULT_CFG_DICT, **self.overrides}  # export and val read args from the model
        self.model.task = self.task
        self.model_name = cfg

    @property
    def task_map(self) -> dict:
        """Detection only: tqgd's model, trainer and validator (ultralytics' + dataset lock), ultralytics' predictor."""
        return {
            "detect": {
                "model": TQGDDetectionModel,
                "trainer": TQGDTrainer,
                "validator": TQGDValidator,
                "predictor": DetectionPredictor,
            }
        }
