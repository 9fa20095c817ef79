"""The preprocessing record: found next to a data YAML, put into the model by the trainers, read back from weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from tests.engine.trainval_data import write_big_box_dataset
from tqgd.engine.run_record import PREPROCESS_ATTRIBUTE, TQGDRunTrainer, find_convert_json, preprocess_info
from tqgd.errors import CheckpointError
from tqgd.nn import TQGDDetectionModel

RECORD = {"window": {"name": "paper", "channels_hu": [[-1200.0, 1800.0]]}, "classes": "single", "crop": None}


def _checkpoint(path: Path, record: dict | None) -> Path:
    model = TQGDDetectionModel("tqgdnet-n", nc=1, verbose=False)
    if record is not None:
        setattr(model, PREPROCESS_ATTRIBUTE, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "train_args": {}}, path)
    return path


def test_convert_json_found_from_path_key_or_yaml_folder(tmp_path: Path) -> None:
    dataset, elsewhere = tmp_path / "ds", tmp_path / "yamls"
    dataset.mkdir(), elsewhere.mkdir()
    (dataset / "convert.json").write_text("{}")
    (elsewhere / "d.yaml").write_text(yaml.safe_dump({"path": str(dataset), "train": "x", "val": "x"}))
    (dataset / "d.yaml").write_text(yaml.safe_dump({"train": "x", "val": "x"}))
    assert find_convert_json(elsewhere / "d.yaml") == dataset / "convert.json"
    assert find_convert_json(dataset / "d.yaml") == dataset / "convert.json"
    (elsewhere / "plain.yaml").write_text(yaml.safe_dump({"path": str(elsewhere), "train": "x", "val": "x"}))
    assert find_convert_json(elsewhere / "plain.yaml") is None


def test_record_travels_inside_the_weights(tmp_path: Path) -> None:
    weights = _checkpoint(tmp_path / "run" / "weights" / "best.pt", RECORD)
    copied = shutil.copy(weights, tmp_path / "moved.pt")  # no run folder around it any more
    assert preprocess_info(copied) == RECORD


def test_run_folder_copy_is_the_fallback(tmp_path: Path) -> None:
    weights = _checkpoint(tmp_path / "run" / "weights" / "best.pt", None)
    assert preprocess_info(weights) == {}  # a plain YOLO dataset carries no record
    (tmp_path / "run" / "convert.json").write_text(json.dumps(RECORD))
    assert preprocess_info(weights) == RECORD


def test_missing_or_corrupt_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"absent.pt: weights file not found"):
        preprocess_info(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk.pt: not a PyTorch checkpoint"):
        preprocess_info(tmp_path / "junk.pt")


def test_trainer_puts_the_dataset_record_into_its_model(tmp_path: Path) -> None:
    dataset = write_big_box_dataset(tmp_path / "ds")
    trainer = TQGDRunTrainer(overrides={"model": "tqgdnet-n.yaml", "data": str(dataset / "orcascore.yaml"),
                                        "imgsz": 64, "device": "cpu", "project": str(tmp_path / "runs"),
                                        "name": "r", "plots": False})
    model = trainer.get_model(cfg="tqgdnet-n", verbose=False)
    assert getattr(model, PREPROCESS_ATTRIBUTE) == json.loads((dataset / "convert.json").read_text())
    assert isinstance(model, TQGDDetectionModel)
