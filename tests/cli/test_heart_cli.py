"""``tqgd heart dataset`` and ``tqgd heart train`` through the console-script entry point."""

from __future__ import annotations

import pytest
import yaml

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tests.helpers import run_tqgd
from tqgd.data.phantom.layout import write_phantom_set


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("heart_cli")
    write_phantom_set(root / "phantom", 2, seed=4, image_size=64)
    return root / "phantom"


def test_dataset_then_train_gives_heart_weights_that_carry_the_window(phantom, monkeypatch, capsys, tmp_path) -> None:
    from tqgd.engine.run_record import preprocess_info

    code, out, err = run_tqgd(monkeypatch, capsys, "heart", "dataset", phantom, tmp_path / "heart", "--every", "4",
                              "--folds", "2", "--window=-1000,1000")
    assert code == 0, err
    assert "train with: tqgd heart train --data" in out
    data = yaml.safe_load((tmp_path / "heart" / "heart.yaml").read_text())
    assert data["names"] == {0: "heart"}
    code, out, err = run_tqgd(monkeypatch, capsys, "heart", "train", "--data", tmp_path / "heart" / "heart.yaml",
                              "--epochs", "1", "--imgsz", "64", "--batch", "4", "--device", "cpu", "--project",
                              tmp_path / "runs", "workers=0")
    assert code == 0, err
    best = tmp_path / "runs" / "heart" / "weights" / "best.pt"
    assert f"heart weights: {best}" in " ".join(out.split())
    info = preprocess_info(best)
    assert info["task"] == "heart" and info["window"]["channels_hu"] == [[-1000.0, 1000.0]]


def test_bad_source_and_bad_options_fail_clearly(monkeypatch, capsys, tmp_path, phantom) -> None:
    code, _, err = run_tqgd(monkeypatch, capsys, "heart", "dataset", tmp_path, tmp_path / "out")
    assert code == 1 and "not a heart-box source" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "heart", "dataset", phantom, tmp_path / "o2", "--window", "lung")
    assert code == 1 and "cannot read window 'lung'" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "heart", "train", "--data", tmp_path / "missing.yaml")
    assert code == 2  # typer: --data must exist


@pytest.mark.parametrize("command", ["dataset", "train"])
def test_help_has_an_example(monkeypatch, capsys, command) -> None:
    code, out, _ = run_tqgd(monkeypatch, capsys, "heart", command, "--help")
    assert code == 0 and f"Example: tqgd heart {command}" in out
