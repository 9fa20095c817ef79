"""The ResUNet-18 baseline: output shapes, repeatable training, scoring plumbing, and one fold end to end (CLI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tqgd.cli.xa import xa_app
from tqgd.errors import CheckpointError, ConfigError
from tqgd.xa.baseline_data import RunMasks, load_patch_set, patch_arrays
from tqgd.xa.baseline_model import ResUNet18
from tqgd.xa.baseline_train import (
    TrainOptions,
    load_baseline,
    predict,
    save_baseline,
    train_baseline,
)
from tqgd.xa.dataset import DatasetOptions, build_xa_dataset
from tqgd.xa.roi import RoiOptions, roi_target
from tqgd.xa.roi_metrics import hausdorff_mm
from tqgd.xa.table2 import PatchOutput, markdown_table, score_fold

#: Small-phantom ROI settings: 128 px frames are a quarter of the paper's 512 px.
SMALL_ROI = RoiOptions(iterations=4, step_px=2, min_roi_px=10, sigma_px=1.0)


@pytest.fixture(scope="module")
def patched(small_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("xa-baseline") / "data"
    build_xa_dataset(small_runs, out, DatasetOptions(frames_per_run=2, folds=2, patches=True, patch_size=64))
    return out


def test_model_outputs_a_logit_per_patch_and_a_full_size_roi_map() -> None:
    torch.manual_seed(0)
    model = ResUNet18().eval()
    with torch.no_grad():
        logit, roi = model(torch.rand(2, 3, 64, 96))
    assert logit.shape == (2,) and roi.shape == (2, 1, 64, 96)
    with pytest.raises(ValueError, match="multiple of 32"):
        model(torch.rand(1, 3, 50, 64))
    with pytest.raises(ValueError, match="multiple of 32"):
        model(torch.rand(1, 3, 64))


@pytest.mark.slow
def test_training_is_repeatable_for_a_seed_and_weights_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    labels = np.array([1, 0, 1, 0], np.float32)
    targets = rng.random((4, 32, 32)) > 0.8
    options = TrainOptions(epochs=1, batch=2, seed=3)
    first, history = train_baseline(images, labels, targets, options)
    second, _ = train_baseline(images, labels, targets, options)
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    cls, roi = predict(first, images)
    assert cls.shape == (4,) and roi.shape == (4, 32, 32) and 0 <= roi.min() <= roi.max() <= 1
    path = save_baseline(first, tmp_path / "b.pt", {"fold": 0})
    loaded, record = load_baseline(path)
    assert record == {"fold": 0}
    np.testing.assert_array_equal(predict(loaded, images)[0], cls)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_baseline(tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="schedule"):
        TrainOptions(schedule="alternating")


def test_sequential_schedule_leaves_the_classifier_fixed_while_the_decoder_trains(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    labels, targets = np.array([1, 0, 1, 0], np.float32), rng.random((4, 32, 32)) > 0.8
    seen: dict[str, dict] = {}
    holder: list = []

    def snapshot(stage, epoch, step, steps, loss) -> None:  # called after each optimiser step
        model = holder[0] if holder else None
        if model is not None and stage == "classifier" and step == steps:
            seen["after_classifier"] = {k: v.clone() for k, v in model.state_dict().items()}

    original = ResUNet18.__init__

    def keep(self) -> None:  # remember the model the training builds, to look at it between stages
        original(self)
        holder.append(self)

    monkeypatch.setattr(ResUNet18, "__init__", keep)
    model, history = train_baseline(images, labels, targets,
                                    TrainOptions(epochs=1, batch=2, seed=3, schedule="sequential"), snapshot)
    assert [h["stage"] for h in history] == ["classifier", "decoder"]
    final, before = model.state_dict(), seen["after_classifier"]
    encoder = [k for k in final if not k.startswith(("up", "roi."))]
    decoder = [k for k in final if k.startswith("roi.")]
    assert all(torch.equal(final[k], before[k]) for k in encoder)  # weights and batch-norm statistics alike
    assert not all(torch.equal(final[k], before[k]) for k in decoder)


def test_scoring_a_perfect_method_gives_full_marks(patched) -> None:
    patch_set = load_patch_set(patched)
    masks = RunMasks(patch_set.runs_dir)
    _, val = patch_set.split(0)
    outputs = []
    for p in val:
        roi = roi_target(masks.calcium(p.run, p.frame), SMALL_ROI)[p.y0:p.y0 + p.height, p.x0:p.x0 + p.width]
        labels = (p.label.read_text().split("\n") if p.label.read_text().strip() else [])
        boxes = [[(float(cx) - float(w) / 2) * p.width, (float(cy) - float(h) / 2) * p.height,
                  (float(cx) + float(w) / 2) * p.width, (float(cy) + float(h) / 2) * p.height, 1.0]
                 for _, cx, cy, w, h in (line.split() for line in labels if line.strip())]
        outputs.append(PatchOutput(positive=p.n_boxes > 0, roi=roi, boxes=np.asarray(boxes).reshape(-1, 5)))
    record = score_fold(val, outputs, masks)
    assert record["tp"] > 0 and (record["precision"], record["recall"], record["f1"]) == (1.0, 1.0, 1.0)
    assert record["iom"] == pytest.approx(1.0) and record["map50"] == pytest.approx(1.0)
    frames = sorted({(p.run, p.frame) for p in val if masks.calcium(p.run, p.frame).any()})
    expected = [hausdorff_mm(roi_target(masks.calcium(*f), SMALL_ROI), masks.calcium(*f), masks.spacing_mm(f[0]))
                for f in frames]
    assert record["hd_mm"] == pytest.approx(np.mean(expected))
    table = markdown_table({"perfect": [record, record]}, {"f1": "0.87 (0.77-0.94)"})
    assert "| Classification | F1-score | 1.00 (1.00-1.00) | 0.87 (0.77-0.94) |" in table


def test_patch_arrays_pair_images_with_dilated_targets(patched) -> None:
    patch_set = load_patch_set(patched)
    masks = RunMasks(patch_set.runs_dir)
    images, labels, targets = patch_arrays(list(patch_set.patches[:5]), masks, SMALL_ROI)
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.uint8
    assert labels.shape == (5,) and targets.shape == (5, 64, 64) and targets.dtype == bool
    for p, label, target in zip(patch_set.patches[:5], labels, targets, strict=True):
        calcium = masks.calcium(p.run, p.frame)[p.y0:p.y0 + p.height, p.x0:p.x0 + p.width]
        assert label == float(calcium.any()) and not (calcium & ~target).any()


@pytest.mark.slow
def test_one_fold_trains_and_scores_end_to_end_from_the_cli(patched, tmp_path) -> None:
    out, weights = tmp_path / "fold0.json", tmp_path / "fold0.pt"
    result = CliRunner().invoke(xa_app, ["baseline", str(patched), "--fold", "0", "--epochs", "1", "--batch", "8",
                                         "--dilation-step", "2", "--min-roi-px", "10", "--out", str(out),
                                         "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and "Hausdorff" in result.output
    record = json.loads(out.read_text())
    assert record["train_patches"] + record["val_patches"] == len(load_patch_set(patched).patches)
    for key in ("precision", "recall", "f1", "map50"):
        assert 0.0 <= record[key] <= 1.0
    assert record["iom"] is None or 0.0 <= record["iom"] <= 1.0
    assert record["frames_with_calcium"] > 0 and len(record["history"]) == 1
    assert load_baseline(weights)[1]["fold"] == 0
    bad = CliRunner().invoke(xa_app, ["baseline", str(patched), "--fold", "7", "--epochs", "1"])
    assert bad.exit_code != 0 and "fold 7 does not exist" in str(bad.exception)
