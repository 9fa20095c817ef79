"""``tqgd train``: help, a short CPU run on a converted phantom with pass-through options, and refused inputs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.engine.trainval_data import write_phantom_dataset
from tqgd.engine.run_record import RUN_RECORD, preprocess_info
from tqgd.errors import ConfigError, DatasetError

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """3 phantom patients at 128 px, converted with 2 folds."""
    return write_phantom_dataset(tmp_path_factory.mktemp("train_cli"))


@pytest.mark.parametrize("command", ["train", "val", "cv"])
def test_help_shows_an_example(app, command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output and f"tqgd {command}" in result.output


@pytest.mark.slow
def test_short_cpu_run_with_pass_through_options(app, dataset: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(dataset / "orcascore.yaml"), "--epochs", "2", "--imgsz", "128",
                                 "--device", "cpu", "--project", str(tmp_path), "--name", "run",
                                 "workers=0", "plots=False", "lr0=0.02", "fliplr=0.0"])
    assert result.exit_code == 0, result.output
    output = re.sub(r"[\s│┃]+", " ", result.output)
    assert "training recipe" in output and "lr0 0.02 changed (paper: 0.01)" in output
    assert "momentum 0.937 paper 3.1" in output
    run = tmp_path / "run"
    args = yaml.safe_load((run / "args.yaml").read_text())  # what ultralytics actually trained with
    assert (args["lr0"], args["fliplr"], args["optimizer"], args["momentum"], args["hsv_s"], args["batch"]) == \
        (0.02, 0.0, "SGD", 0.937, 0.0, 4)
    assert [int(line.split(",")[0]) for line in (run / "results.csv").read_text().splitlines()[1:]] == [1, 2]
    record = json.loads((run / RUN_RECORD).read_text())
    assert {r["key"]: r["source"] for r in record["recipe"]}["fliplr"] == "changed (paper: 0.5)"
    converted = json.loads((dataset / "convert.json").read_text())
    assert json.loads((run / "convert.json").read_text()) == converted == record["preprocess"]
    moved = Path(shutil.copy(run / "weights" / "best.pt", tmp_path / "elsewhere.pt"))
    assert preprocess_info(moved) == converted  # kept inside the weights, not only in the run folder
    # then detect's confidence is chosen on fold 0's validation patients (a 2-epoch model may find no lesion there)
    swept = run / "weights" / "best_operating_point.json"
    if swept.is_file():
        record = json.loads(swept.read_text())
        assert record["patients"] == sorted(converted["fold_patients"][0]["val"]) and "chosen" in output
    else:
        assert "no confidence found a lesion on the validation patients" in output


def test_a_dataset_that_cannot_be_swept_is_said_and_training_still_succeeds(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from tests.engine.trainval_data import write_big_box_dataset
    from tqgd.cli.train import record_detect_conf

    dataset = write_big_box_dataset(tmp_path / "big")
    console = Console(record=True, width=200)
    result = SimpleNamespace(best=tmp_path / "best.pt", args={"data": str(dataset / "orcascore.yaml")})
    record_detect_conf(console, result, None)
    said = console.export_text()
    assert "no operating point recorded" in said and "records no source scans" in said
    assert not result.best.exists()


def test_unknown_option_is_named_by_the_console_script(dataset: Path, tmp_path: Path) -> None:
    exe = shutil.which("tqgd") or str(Path(sys.executable).parent / "tqgd")
    proc = subprocess.run([exe, "train", "--data", str(dataset / "orcascore.yaml"), "--project", str(tmp_path),
                           "lr00=0.1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "unknown option 'lr00'" in proc.stderr and "did you mean lr0" in proc.stderr
    assert not (tmp_path / "exp").exists()  # refused before a run folder was made


@pytest.mark.parametrize(("words", "error", "message"), [
    (["epochs=3"], ConfigError, "use --epochs"),
    (["lr0=fast"], ConfigError, "'lr0=fast' is of invalid type str"),
    (["--model", "tqgdnet-q"], ConfigError, "unknown scale 'q'"),
    (["--model", "nosuch.yaml"], ConfigError, "ultralytics has no model config 'nosuch.yaml' either"),
])
def test_bad_options_exit_1(app, dataset: Path, tmp_path: Path, words, error, message) -> None:
    result = runner.invoke(app, ["train", "--data", str(dataset / "orcascore.yaml"), "--project", str(tmp_path),
                                 *words])
    assert result.exit_code == 1 and isinstance(result.exception, error)
    assert message in str(result.exception)


def test_missing_or_incomplete_data_yaml(app, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "does not exist" in re.sub(r"[\s│]+", " ", result.output)
    result = runner.invoke(app, ["train", "--epochs", "1"])
    assert result.exit_code == 2 and "--data is required unless --resume" in re.sub(r"[\s│]+", " ", result.output)
    (tmp_path / "d.yaml").write_text(yaml.safe_dump({"train": "images", "names": ["calcium"]}))
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "d.yaml")])
    assert result.exit_code == 1 and isinstance(result.exception, DatasetError)
    assert "data YAML lacks val" in str(result.exception)
