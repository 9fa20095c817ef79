"""``--model``: tqgd configs and weights train through tqgd's trainer, ultralytics YAMLs through the stock one."""

from __future__ import annotations

from pathlib import Path

import pytest
from ultralytics.nn.tasks import DetectionModel

from tests.engine.trainval_data import write_big_box_dataset
from tqgd.engine.run_record import TQGDRunTrainer, UltralyticsRunTrainer, preprocess_info
from tqgd.engine.train import load_model, train
from tqgd.errors import CheckpointError, ConfigError
from tqgd.nn import TQGDDetectionModel


@pytest.mark.parametrize(("name", "trainer", "model_class"), [
    ("tqgdnet-n", TQGDRunTrainer, TQGDDetectionModel),
    ("yolov5b-gd-n", TQGDRunTrainer, TQGDDetectionModel),
    ("yolov8n.yaml", UltralyticsRunTrainer, DetectionModel),
    ("yolov5n.yaml", UltralyticsRunTrainer, DetectionModel),
])
def test_names_pick_the_trainer_that_can_rebuild_them(name: str, trainer: type, model_class: type) -> None:
    model, trainer_class = load_model(name)
    assert trainer_class is trainer and type(model.model) is model_class


def test_unknown_names_and_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown model config 'nosuch'; known: tqgdnet-"):
        load_model("nosuch")
    with pytest.raises(CheckpointError, match=r"absent.pt: weights file not found; .* never downloads"):
        load_model(tmp_path / "absent.pt")


@pytest.mark.slow
def test_ultralytics_baseline_trains_with_the_same_records(tmp_path: Path) -> None:
    data = write_big_box_dataset(tmp_path / "ds", patients=2, images_per_patient=2) / "orcascore.yaml"
    run = train(data, "yolov8n.yaml", epochs=1, imgsz=64, device="cpu", project=tmp_path, name="b",
                options={"workers": 0, "plots": False})
    assert (run.save_dir / "tqgd_run.json").is_file() and preprocess_info(run.best)["classes"] == "single"
    model, trainer_class = load_model(run.best)  # a stock checkpoint: plain ultralytics can load and train it
    assert trainer_class is UltralyticsRunTrainer and type(model.model) is DetectionModel
    tuned = train(data, run.best, epochs=1, imgsz=64, device="cpu", project=tmp_path, name="ft",
                  options={"workers": 0, "plots": False})
    assert tuned.args["pretrained"] is True  # fine-tuning starts from the given weights


class _Foreign(dict):
    """A class no allow-list knows: restricted loading must refuse a checkpoint that names it."""


def test_weights_load_restricted_unless_trusted(tmp_path: Path) -> None:
    import torch

    from tqgd.engine.run_record import preprocess_info

    foreign = tmp_path / "foreign.pt"
    torch.save({"model": _Foreign(), "train_args": {}}, foreign)
    for load in (load_model, preprocess_info):
        with pytest.raises(CheckpointError, match=r"foreign.pt: refused to load: the checkpoint references "
                                                  r"tests.engine.test_train_models._Foreign"):
            load(foreign)
    assert preprocess_info(foreign, trust=True) == {}  # trusted: full pickle, and no record inside
