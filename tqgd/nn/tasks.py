"""TQGDDetectionModel: ultralytics' DetectionModel, built from a tqgd config with tqgd's registered layers.

Everything after construction (forward, loss, fuse, stride computation, checkpointing, export) is ultralytics'
unchanged; only the YAML rows are built through ``tqgd.nn.registry.build_layers`` while ``__init__`` runs, and each
forward pass runs inside ``tqgd.nn.resize.shared_resizes()`` so rows that resize the same tensor share the result. A
checkpoint stores this class by reference, so ``YOLO("best.pt")`` works in any process that can import tqgd (and
older checkpoints get the shared resizes too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ultralytics.nn.tasks import DetectionModel

from tqgd.errors import ConfigError
from tqgd.nn.model_cfg import resolve_model_cfg
from tqgd.nn.registry import tqgd_rows
from tqgd.nn.resize import shared_resizes


class TQGDDetectionModel(DetectionModel):
    """A YOLO detection model whose config may use tqgd layers (ThrConvs, QueenFusion, GDGather, GDInject)."""

    def __init__(self, cfg: str | Path | dict[str, Any] = "tqgdnet-n", ch: int = 3, nc: int | None = None,
                 verbose: bool = True):
        """``cfg``: a config name (``tqgdnet-n``), a YAML path, or a model dict (e.g. a checkpoint's ``model.yaml``)."""
        if cfg is None:
            raise ConfigError("no model config given; pass a name such as 'tqgdnet-n' or a YAML path")
        cfg = cfg if isinstance(cfg, dict) else resolve_model_cfg(cfg)
        with tqgd_rows():
            super().__init__(cfg, ch=ch, nc=nc, verbose=verbose)

    def _predict_once(self, *args: Any, **kwargs: Any) -> Any:
        """ultralytics' layer loop, with resizes of one tensor to one size computed once per pass."""
        with shared_resizes():
            return super()._predict_once(*args, **kwargs)
