"""``load_weights``: the right model class for tqgd and stock ultralytics checkpoints, each file unpickled once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ultralytics import YOLO
from ultralytics.nn import tasks as ul_tasks
from ultralytics.nn.tasks import DetectionModel

from tests.reliability.checkpoints import save_tqgd_checkpoint
from tqgd.engine.model import TQGD
from tqgd.engine.weights import load_weights
from tqgd.nn.tasks import TQGDDetectionModel


@pytest.fixture()
def counted_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file ultralytics unpickles while the test runs."""
    loads: list[str] = []
    stock_load = ul_tasks.torch_load

    def recording_load(file, *args, **kwargs):
        loads.append(str(file))
        return stock_load(file, *args, **kwargs)

    monkeypatch.setattr(ul_tasks, "torch_load", recording_load)
    return loads


def test_a_stock_checkpoint_becomes_yolo_after_one_read(tmp_path: Path, counted_loads: list[str]) -> None:
    weights = tmp_path / "stock.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    counted_loads.clear()
    loaded = load_weights(weights)
    assert counted_loads == [str(weights)]
    assert type(loaded) is YOLO and type(loaded.model) is DetectionModel and loaded.task == "detect"
    assert "TQGDTrainer" not in str(loaded.task_map["detect"]["trainer"])  # training a stock model stays stock
    reference = YOLO(str(weights))  # the way it was loaded before: the same weights and overrides
    assert loaded.overrides == reference.overrides and loaded.ckpt_path == reference.ckpt_path
    ours, theirs = loaded.model.state_dict(), reference.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_tqgd_checkpoint_stays_tqgd_after_one_read(tmp_path: Path, counted_loads: list[str]) -> None:
    weights = save_tqgd_checkpoint(tmp_path / "tqgd.pt")
    counted_loads.clear()
    loaded = load_weights(weights)
    assert counted_loads == [str(weights)]
    assert type(loaded) is TQGD and type(loaded.model) is TQGDDetectionModel
