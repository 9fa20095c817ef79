"""``tqgd val`` on the best.pt of a short CPU run: metrics.json with both metric sets, size buckets, plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.engine.trainval_data import write_phantom_dataset
from tqgd.engine.train import train
from tqgd.errors import CheckpointError, ConfigError, DatasetError

runner = CliRunner()
#: ultralytics vs pycocotools on the same predictions; measured gaps were <= 0.01 when boxes lie inside the image
#: (tests/engine/test_val_coco_eval.py). A 2-epoch model scores near 0 on both, so this run checks the plumbing.
AGREEMENT_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset folder, best.pt) after 2 epochs of TQGDNet-n on 3 phantom patients at 128 px."""
    root = tmp_path_factory.mktemp("val_cli")
    dataset = write_phantom_dataset(root)
    run = train(dataset / "orcascore.yaml", "tqgdnet-n", epochs=2, imgsz=128, device="cpu", project=root / "runs",
                name="r", options={"workers": 0, "plots": False})
    return dataset, run.best


def _val_labels(dataset: Path) -> list[np.ndarray]:
    """(N, 5) YOLO rows of every validation image of fold 0, read with numpy (independently of tqgd)."""
    images = (dataset / "folds" / "fold0_val.txt").read_text().split()
    labels = [dataset / "labels" / (Path(image).stem + ".txt") for image in images]
    return [np.loadtxt(label, ndmin=2) for label in labels]


@pytest.mark.slow
def test_val_writes_both_metric_sets_buckets_and_plots(app, trained, tmp_path: Path) -> None:
    dataset, best = trained
    result = runner.invoke(app, ["val", "--weights", str(best), "--data", str(dataset / "orcascore.yaml"),
                                 "--project", str(tmp_path), "--name", "v", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "pycocotools" in result.output and "by lesion size" in result.output
    out = tmp_path / "v"
    metrics = json.loads((out / "metrics.json").read_text())
    keys = ["precision", "recall", "f1", "map50", "map50_95"]
    for source in ("ultralytics", "pycocotools"):
        assert sorted(metrics[source]) == sorted(keys)
        assert all(0.0 <= metrics[source][key] <= 1.0 for key in keys)
    for key in keys:
        assert abs(metrics["difference"][key]) <= AGREEMENT_TOLERANCE, key
    for plot in ("BoxPR_curve.png", "BoxF1_curve.png", "BoxP_curve.png", "BoxR_curve.png"):
        assert (out / plot).is_file() and plot in metrics["plots"]
    predictions = json.loads((out / "predictions.json").read_text())
    assert metrics["counts"]["predictions"] == len(predictions)
    rows = _val_labels(dataset)
    assert metrics["counts"] == {"images": len(rows), "gt_boxes": sum(len(r) for r in rows),
                                 "predictions": len(predictions)}
    # bucket sizes from the label files: box area in px^2 of the 128 px images, upper bounds inclusive
    areas = np.concatenate([r[:, 3] * r[:, 4] * 128 * 128 for r in rows])
    expected = {"0-10": int((areas <= 10).sum()), "10-100": int(((areas > 10) & (areas <= 100)).sum()),
                "100-200": int(((areas > 100) & (areas <= 200)).sum()), ">200": int((areas > 200).sum())}
    assert {b["name"]: b["n_gt"] for b in metrics["size_buckets"]} == expected


def test_val_refuses_bad_weights_data_and_options(app, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not weights")
    result = runner.invoke(app, ["val", "--weights", str(junk)])
    assert result.exit_code == 1 and isinstance(result.exception, CheckpointError)
    assert "junk.pt: not a PyTorch checkpoint" in str(result.exception)
    result = runner.invoke(app, ["val", "--weights", str(junk), "save_json=False"])
    assert result.exit_code == 1 and isinstance(result.exception, ConfigError)
    assert "(always on)" in str(result.exception)
    result = runner.invoke(app, ["val", "--weights", str(tmp_path / "absent.pt")])
    assert result.exit_code == 2


@pytest.mark.slow
def test_val_needs_the_requested_split(app, trained) -> None:
    dataset, best = trained
    result = runner.invoke(app, ["val", "--weights", str(best), "--data", str(dataset / "orcascore.yaml"),
                                 "--split", "test"])
    assert result.exit_code == 1 and isinstance(result.exception, DatasetError)
    assert "no 'test' split" in str(result.exception)
