"""Rich progress for training and validation, fed by ultralytics callbacks: epochs (with the last mAP50), batches.

Shared by ``tqgd train`` and ``tqgd cv``. ultralytics itself stays quiet (``YOLO_VERBOSE=0``); with several GPUs the
workers print ultralytics' own bars instead, since callbacks holding a live display cannot be sent to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainingProgress:
    """Two bars (epochs, batches of the current epoch); use as a context manager around ``train(...)``."""

    def __init__(self, console: Console | None = None, label: str = "epochs"):
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TimeRemainingColumn(), console=console)
        self.label = label
        self.epochs = self.bars.add_task(label, total=None, visible=False)
        self.batches = self.bars.add_task("  batches", total=None, visible=False)
        self.folds: TaskID | None = None

    def fold(self, index: int, total: int, stage: str) -> None:
        """Fold-level progress (``cross_validate``'s ``progress``): a third bar over folds."""
        if self.folds is None:
            self.folds = self.bars.add_task("folds", total=total)
        self.bars.update(self.folds, completed=index + (stage == "done"), description=f"fold {index} ({stage})")

    def __enter__(self) -> TrainingProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bars.stop()

    def callbacks(self) -> dict[str, list[Callable[[Any], None]]]:
        """ultralytics callbacks by event, for ``train(..., callbacks=...)``."""
        return {"on_train_start": [self._start], "on_train_epoch_start": [self._epoch_start],
                "on_train_batch_end": [self._batch_end], "on_fit_epoch_end": [self._epoch_end]}

    def val_callbacks(self) -> dict[str, list[Callable[[Any], None]]]:
        """ultralytics callbacks for a stand-alone validation (``validate(..., callbacks=...)``): one bar of batches."""
        return {"on_val_start": [self._val_start], "on_val_batch_end": [self._batch_end]}

    def _val_start(self, validator: Any) -> None:
        self.bars.reset(self.batches, total=len(validator.dataloader), completed=0, visible=True,
                        description="validation batches")

    def _start(self, trainer: Any) -> None:
        self.bars.reset(self.epochs, total=trainer.epochs, completed=trainer.start_epoch, visible=True,
                        description=self.label)

    def _epoch_start(self, trainer: Any) -> None:
        self.bars.reset(self.batches, total=len(trainer.train_loader), completed=0, visible=True)

    def _batch_end(self, trainer: Any) -> None:
        self.bars.advance(self.batches)

    def _epoch_end(self, trainer: Any) -> None:
        metrics = trainer.metrics or {}
        map50 = metrics.get("metrics/mAP50(B)")
        suffix = f" (mAP50 {map50:.3f})" if map50 is not None else ""
        self.bars.update(self.epochs, completed=min(trainer.epoch + 1, trainer.epochs),
                         description=f"{self.label}{suffix}")
