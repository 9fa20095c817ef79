"""U-Net baseline: offline model build, loss going down, a short real training run, checkpoints and prediction maps."""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from tqgd.baselines.dataset import load_split
from tqgd.baselines.mask_eval import evaluate_mask_predictions
from tqgd.baselines.unet import BATCH_NORM_MOMENTUM, UNetConfig, build_unet, load_checkpoint, predict_unet
from tqgd.baselines.unet_train import dice_bce_loss, train_step, train_unet
from tqgd.errors import CheckpointError, ConfigError, DatasetError

TINY = UNetConfig(epochs=2, imgsz=64, batch=4, seed=0)


def test_model_builds_and_runs_without_the_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the U-Net tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    model = build_unet("efficientnet-b0", in_channels=1)
    assert model(torch.rand(1, 1, 64, 96)).shape == (1, 1, 64, 96)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) > 50 and {m.momentum for m in norms} == {BATCH_NORM_MOMENTUM}  # smp's encoder default: 0.01
    with pytest.raises(ConfigError, match="unknown encoder"):
        build_unet("no-such-encoder")


def test_loss_decreases_over_a_few_steps() -> None:
    torch.manual_seed(0)
    images = torch.rand(2, 1, 64, 64) * 0.3
    targets = torch.zeros(2, 1, 64, 64)
    targets[0, 0, 20:26, 30:35] = targets[1, 0, 40:44, 10:16] = 1.0
    images[targets > 0] = 0.9
    model = build_unet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = [train_step(model, optimizer, dice_bce_loss(), images, targets) for _ in range(8)]
    assert losses[-1] < 0.9 * losses[0]


@pytest.fixture(scope="module")
def trained(phantom_sets, tmp_path_factory):
    return train_unet(phantom_sets["cropped"], TINY, project=tmp_path_factory.mktemp("unet"), name="tiny")


def test_training_writes_checkpoints_with_their_config(trained, phantom_sets) -> None:
    assert trained.best.is_file() and trained.last.is_file()
    assert [h["epoch"] for h in trained.history] == [1, 2]
    assert json.loads((trained.save_dir / "history.json").read_text()) == trained.history
    model, checkpoint = load_checkpoint(trained.last)
    assert checkpoint["config"]["imgsz"] == 64 and checkpoint["in_channels"] == 1 and checkpoint["epoch"] == 2
    assert checkpoint["window"]["name"] == "paper" and not model.training
    config = json.loads((trained.save_dir / "config.json").read_text())
    assert config["data_dir"] == str(phantom_sets["cropped"]) and config["train_images"] > 0


def test_same_seed_same_run(trained, phantom_sets, tmp_path) -> None:
    again = train_unet(phantom_sets["cropped"], TINY, project=trained.save_dir.parent, name="tiny")
    assert again.save_dir.name == "tiny2"
    assert again.history == trained.history


def test_predict_writes_probability_maps_of_each_image_size(trained, phantom_sets, tmp_path) -> None:
    split = load_split(phantom_sets["cropped"] / "fold0.yaml", "val")
    written = predict_unet(trained.best, [image.path for image in split.images], tmp_path / "pred")
    assert [p.name for p in written] == [f"{image.stem}.mha" for image in split.images]
    for image, path in zip(split.images, written, strict=True):
        probability = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        assert probability.shape == (image.height, image.width) and probability.dtype == np.float32
        assert 0.0 <= probability.min() and probability.max() <= 1.0
    result = evaluate_mask_predictions(tmp_path / "pred", phantom_sets["cropped"] / "fold0.yaml", "val")
    assert result.boxes.n_gt > 0 and result.masks is not None


def test_bad_checkpoints_and_datasets_are_refused(phantom_sets, tmp_path) -> None:
    with pytest.raises(CheckpointError, match="U-Net weights not found"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"model": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a tqgd U-Net checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load this file"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(ConfigError, match="multiple of 32"):
        UNetConfig(imgsz=100)
    copy = tmp_path / "nomasks"
    shutil.copytree(phantom_sets["cropped"], copy)
    shutil.rmtree(copy / "masks")
    (copy / "fold0.yaml").write_text((copy / "fold0.yaml").read_text().replace(str(phantom_sets["cropped"]), str(copy)))
    with pytest.raises(DatasetError, match="convert the dataset with 'tqgd convert orcascore ... --masks'"):
        train_unet(copy, TINY, project=tmp_path / "runs")
    with pytest.raises(DatasetError, match="no fold7.yaml"):
        train_unet(copy, UNetConfig(fold=7), project=tmp_path / "runs")
