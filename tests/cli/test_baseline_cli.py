"""``tqgd baseline`` (eval, threshold, preprocess, unet train / predict) and ``convert orcascore --masks``: help,
exit codes and outputs of the real commands on a tiny phantom set."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.baselines.phantom_data import write_phantom_datasets
from tqgd.errors import ConfigError, LabelError

runner = CliRunner()


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    return write_phantom_datasets(tmp_path_factory.mktemp("baseline_cli"))


@pytest.mark.parametrize("args", [["baseline"], ["baseline", "eval"], ["baseline", "threshold"],
                                  ["baseline", "preprocess"], ["baseline", "unet"], ["baseline", "unet", "train"],
                                  ["baseline", "unet", "predict"]])
def test_help_exits_0_and_commands_show_an_example(app, args) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    if args[-1] not in ("baseline", "unet"):
        assert "Example:" in result.output


def test_convert_masks_flag_writes_one_mask_per_image(app, sets, tmp_path) -> None:
    out = tmp_path / "ds"
    result = runner.invoke(app, ["convert", "orcascore", str(sets["phantom"]), str(out), "--folds", "2", "--masks"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(p.name for p in (out / "images").iterdir())


def test_eval_of_reference_masks_prints_perfect_scores_and_writes_json(app, sets, tmp_path) -> None:
    data = sets["cropped"] / "fold0.yaml"
    result = runner.invoke(app, ["baseline", "eval", "--masks", str(sets["cropped"] / "masks"), "--data", str(data),
                                 "--name", "reference", "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    assert re.search(r"\| reference \| 1\.000 \| 1\.000 \| 1\.000 \| 1\.000 \| 1\.000 \|", result.output)
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["boxes"]["map50_95"] == 1.0 and record["masks"]["instance_f1"] == 1.0


def test_eval_needs_exactly_one_prediction_source(app, sets) -> None:
    data = str(sets["cropped"] / "fold0.yaml")
    result = runner.invoke(app, ["baseline", "eval", "--data", data])
    assert result.exit_code == 1 and isinstance(result.exception, ConfigError)
    result = runner.invoke(app, ["baseline", "eval", "--data", data, "--masks", str(sets["cropped"] / "masks"),
                                 "--predictions", data])
    assert result.exit_code == 1 and "exactly one of --masks" in str(result.exception)
    result = runner.invoke(app, ["baseline", "eval", "--data", data, "--masks", str(sets["cropped"] / "nowhere")])
    assert result.exit_code == 2


def test_eval_of_an_empty_folder_fails_naming_the_image(app, sets, tmp_path) -> None:
    result = runner.invoke(app, ["baseline", "eval", "--data", str(sets["cropped"] / "fold0.yaml"), "--masks",
                                 str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, LabelError)
    assert "no prediction for image TRV" in str(result.exception)


def test_threshold_with_geometric_prior(app, sets, tmp_path) -> None:
    result = runner.invoke(app, ["baseline", "threshold", "--data", str(sets["plain"] / "fold0.yaml"), "--roi", "none",
                                 "--arteries", "phantom", "--json", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    assert "geometric prior (phantom centre lines, 5 mm): removed" in result.output
    record = json.loads((tmp_path / "t.json").read_text())
    assert record["method"] == "HU threshold" and record["masks"]["instance_sensitivity"] == 1.0
    assert record["settings"]["geometric_prior"]["removed_pixels"] > 0
    result = runner.invoke(app, ["baseline", "threshold", "--data", str(sets["plain"] / "fold0.yaml"), "--roi", "x"])
    assert result.exit_code == 1 and isinstance(result.exception, ConfigError)


def test_preprocess_writes_a_dataset(app, sets, tmp_path) -> None:
    reference = next((sets["cropped"] / "images").iterdir())
    out = tmp_path / "pre"
    result = runner.invoke(app, ["baseline", "preprocess", str(sets["cropped"]), str(out), "--hist-match",
                                 str(reference), "--remove-lungs"])
    assert result.exit_code == 0, result.output
    assert (out / "convert.json").is_file() and len(list((out / "images").iterdir())) > 0


def test_unet_train_predict_eval(app, sets, tmp_path) -> None:
    result = runner.invoke(app, ["baseline", "unet", "train", "--data-dir", str(sets["cropped"]), "--epochs", "1",
                                 "--imgsz", "64", "--batch", "4", "--project", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    weights = tmp_path / "runs" / "exp" / "weights" / "best.pt"
    result = runner.invoke(app, ["baseline", "unet", "predict", "--weights", str(weights), "--out",
                                 str(tmp_path / "pred")])
    assert result.exit_code == 0, result.output
    val_images = (sets["cropped"] / "folds" / "fold0_val.txt").read_text().split()
    assert sorted(p.stem for p in (tmp_path / "pred").glob("*.mha")) == sorted(Path(i).stem for i in val_images)
    result = runner.invoke(app, ["baseline", "eval", "--masks", str(tmp_path / "pred"), "--data",
                                 str(sets["cropped"] / "fold0.yaml")])
    assert result.exit_code == 0, result.output


def test_console_script_reports_errors_on_stderr_with_exit_1(sets, tmp_path) -> None:
    tqgd_exe = shutil.which("tqgd") or str(Path(sys.executable).parent / "tqgd")
    not_weights = sets["cropped"] / "manifest.csv"
    result = subprocess.run([tqgd_exe, "baseline", "unet", "predict", "--weights", str(not_weights), "--out",
                             str(tmp_path / "p")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "cannot load this file" in result.stderr and "Traceback" not in result.stderr
