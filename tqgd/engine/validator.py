"""TQGDValidator: ultralytics' DetectionValidator, building its dataset under tqgd's dataset lock.

Validation of one fold may start while another process trains a different fold of the same dataset; both write the
dataset's single labels.cache (see ``tqgd.engine.dataset_lock``). Everything else is ultralytics' own.
"""

from __future__ import annotations

from torch.utils.data import Dataset
from ultralytics.models.yolo.detect import DetectionValidator

from tqgd.engine.dataset_lock import dataset_build_lock


class TQGDValidator(DetectionValidator):
    """DetectionValidator whose ``build_dataset`` holds the dataset's cross-process lock."""

    def build_dataset(self, img_path: str, mode: str = "val", batch: int | None = None) -> Dataset:
        """ultralytics' dataset for ``img_path``, built (labels.cache read or written) under the lock."""
        with dataset_build_lock(self.data["path"]):
            return super().build_dataset(img_path, mode, batch)
