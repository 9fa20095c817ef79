"""TQGD (the ultralytics Model subclass) builds tqgd configs by name and routes training through TQGDTrainer."""

from __future__ import annotations

import pytest

import tqgd  # noqa: F401  - before ultralytics, which reads tqgd's offline/safe-load switches at import

# isort: split
from ultralytics.models.yolo.detect import DetectionPredictor

from tqgd.engine.model import TQGD
from tqgd.engine.trainer import TQGDTrainer
from tqgd.engine.validator import TQGDValidator
from tqgd.errors import ConfigError
from tqgd.nn import TQGDDetectionModel


@pytest.mark.parametrize("name", ["tqgdnet-n", "tqgdnet-n.yaml"])
def test_builds_a_config_by_name(name: str) -> None:
    model = TQGD(name)
    assert isinstance(model.model, TQGDDetectionModel)
    assert model.model.yaml["yaml_file"] == "tqgdnet-n.yaml" and model.model.yaml["scale"] == "n"
    assert model.task == "detect" and model.overrides["model"] == "tqgdnet-n.yaml"
    assert model.model.args["model"] == "tqgdnet-n.yaml"  # export and val read their arguments from here


def test_task_map_uses_tqgd_model_and_trainer() -> None:
    assert TQGD("yolov5b-fpn-n").task_map == {"detect": {
        "model": TQGDDetectionModel, "trainer": TQGDTrainer,
        "validator": TQGDValidator, "predictor": DetectionPredictor}}


def test_unknown_config_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown model config 'tqgdnett-n.yaml'; known: "):
        TQGD("tqgdnett-n")
    with pytest.raises(ConfigError, match="tqgdnet-q.yaml: unknown scale 'q'; choose one of tqgdnet-n"):
        TQGD("tqgdnet-q")
