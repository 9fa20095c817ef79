"""Checkpoints for the safety tests: a real tqgd model saved by ultralytics, and copies carrying extra pickled objects.

``MarkerPayload`` is the attack: unpickling it calls ``exec`` (or ``os.system``) to write a marker file, so a test can
tell whether any code from the file ran. ``ForeignObject`` stands in for a class an older or another library pickled.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import torch


class MarkerPayload:
    """Unpickles by calling ``exec`` (or ``os.system``) with code that writes ``marker``."""

    def __init__(self, marker: Path, via: str = "exec"):
        self.marker = Path(marker)
        self.via = via

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        if self.via == "os.system":
            return os.system, (f"echo ran > '{self.marker}'",)
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def save_tqgd_checkpoint(path: Path) -> Path:
    """A TQGDNet-n checkpoint as ultralytics saves it (``Model.save``), untrained."""
    from tqgd.engine.model import TQGD

    TQGD("tqgdnet-n").save(str(path))
    return path


def with_extra(base: Path, target: Path, **extra: Any) -> Path:
    """Copy of the checkpoint ``base`` with ``extra`` keys added to its dict (written with torch.save)."""
    checkpoint = torch.load(base, map_location="cpu", weights_only=False)  # our own file, written just now
    checkpoint.update(extra)
    torch.save(checkpoint, target)
    return target


def foreign_object() -> datetime.date:
    """A harmless object restricted loading does not allow (as an old or foreign checkpoint may hold)."""
    return datetime.date(2020, 1, 1)
