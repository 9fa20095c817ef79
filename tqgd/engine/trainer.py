"""TQGDTrainer: ultralytics' DetectionTrainer, building its model as a ``TQGDDetectionModel``.

Loss, data pipeline, validation, checkpointing (last.pt / best.pt) and DDP launch are ultralytics' own. The class is
importable by name, so the DDP launcher's cloudpickled copy is rebuilt in each worker, which then builds the model
from the config name again with tqgd's layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import RANK

from tqgd.nn.tasks import TQGDDetectionModel


class TQGDTrainer(DetectionTrainer):
    """DetectionTrainer whose ``get_model`` understands tqgd config names (``tqgdnet-n``) and tqgd layers."""

    def get_model(self, cfg: str | Path | dict[str, Any] | None = None, weights: nn.Module | None = None,
                  verbose: bool = True) -> TQGDDetectionModel:
        """Build the model from ``cfg`` (name, YAML path or model dict) and load ``weights`` into it when given."""
        model = TQGDDetectionModel(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=verbose and RANK == -1)
        model = self.set_model_names_for_load(model)
        if weights:
            model.load(weights)
        return model
