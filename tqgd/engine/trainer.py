"""TQGDTrainer: ultralytics' DetectionTrainer, building its model as a ``TQGDDetectionModel``.

Loss, data pipeline, validation, checkpointing (last.pt / best.pt) and DDP launch are ultralytics' own. The class is
importable by name, so the DDP launcher's cloudpickled copy is rebuilt in each worker, which then builds the model
from the config name again with tqgd's layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import RANK

from tqgd.engine.dataset_lock import dataset_build_lock
from tqgd.nn.tasks import TQGDDetectionModel


class TQGDTrainer(DetectionTrainer):
    """DetectionTrainer whose ``get_model`` understands tqgd config names (``tqgdnet-n``) and tqgd layers, and whose
    datasets are built under the dataset's cross-process lock (fold lists share one labels.cache)."""

    def get_model(self, cfg: str | Path | dict[str, Any] | None = None, weights: nn.Module | None = None,
                  verbose: bool = True) -> TQGDDetectionModel:
        """Build the model from ``cfg`` (name, YAML path or model dict) and load ``weights`` into it when given."""
        model = TQGDDetectionModel(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=verbose and RANK == -1)
        model = self.set_model_names_for_load(model)
        if weights:
            model.load(weights)
        return model

    def build_dataset(self, img_path: str, mode: str = "train", batch: int | None = None) -> Dataset:
        """ultralytics' dataset for ``img_path``, built (labels.cache read or written) under the dataset lock."""
        with dataset_build_lock(self.data["path"]):
            return super().build_dataset(img_path, mode, batch)
