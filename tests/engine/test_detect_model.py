"""Loading a detector for detection: the window and image size it was trained with, the fallback, phantom marking."""

from __future__ import annotations

import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tests.helpers import write_tiny_yolo_dataset
from tqgd.data.windowing import NAMED_WINDOWS_HU
from tqgd.engine.demo import PHANTOM_TRAINING_DATA, mark_phantom_weights
from tqgd.engine.detect_model import load_slice_detector, predict
from tqgd.errors import CheckpointError


@pytest.fixture(scope="module")
def plain_weights(tmp_path_factory):
    """A stock yolov8n trained one epoch on a plain YOLO dataset (no convert.json, so no recorded window)."""
    from tqgd.engine.train import train

    root = tmp_path_factory.mktemp("plain")
    data = write_tiny_yolo_dataset(root / "data", n_train=4, n_val=2, size=64)
    run = train(data, "yolov8n.yaml", epochs=1, imgsz=64, batch=4, device="cpu", project=root / "runs", name="p",
                options={"workers": 0, "plots": False})
    return run.best


def test_weights_without_preprocessing_fall_back_to_the_converter_window_and_say_so(plain_weights) -> None:
    detector = load_slice_detector(plain_weights, device="cpu")
    assert detector.window_source == "default"
    assert detector.windowing.channels_hu == (NAMED_WINDOWS_HU["paper"],)
    assert any("records no preprocessing" in note and "'paper'" in note for note in detector.notes)
    assert detector.imgsz == 64 and detector.names == {0: "calcium"}
    assert detector.training_data is None and not detector.phantom_trained


def test_one_call_per_batch_returns_one_array_per_image(plain_weights, monkeypatch) -> None:
    import numpy as np

    detector = load_slice_detector(plain_weights, device="cpu")
    calls = []
    real_predict = detector.model.predict
    monkeypatch.setattr(detector.model, "predict", lambda images, **kw: calls.append(len(images)) or
                        real_predict(images, **kw))
    images = [np.full((48, 40, 3), v, np.uint8) for v in (0, 80, 160)]
    rows = predict(detector, images, conf=0.0001)
    assert calls == [3] and len(rows) == 3
    for r in rows:
        assert r.shape[1] == 6 and ((r[:, [0, 2]] >= 0) & (r[:, [0, 2]] <= 40)).all()
    assert predict(detector, [], conf=0.5) == []


def test_marked_phantom_weights_say_so_when_loaded(plain_weights, tmp_path) -> None:
    marked = mark_phantom_weights(plain_weights, tmp_path / "marked" / "calcium.pt")
    detector = load_slice_detector(marked)
    assert detector.phantom_trained and detector.training_data == PHANTOM_TRAINING_DATA
    assert detector.describe()["training_data"] == PHANTOM_TRAINING_DATA
    assert not load_slice_detector(plain_weights).phantom_trained  # the source file is left as it was


def test_missing_weights_are_a_checkpoint_error(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="weights file not found"):
        load_slice_detector(tmp_path / "none.pt")
