"""Resuming: a run stopped after epoch 1 of 3 continues through ``tqgd train --resume`` (tqgd's trainer) to epoch 3."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tqgd.cli
from tests.engine.trainval_data import write_big_box_dataset
from tqgd.engine.run_record import RUN_RECORD, preprocess_info
from tqgd.engine.train import find_resume_checkpoint, train
from tqgd.errors import CheckpointError, ConfigError

FAST = {"workers": 0, "plots": False, "warmup_epochs": 0}


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C after the first checkpoint was written."""


def _stop_after_first_epoch(trainer) -> None:
    if trainer.epoch == 0:
        raise Interrupted("stopped after epoch 1")


def _epochs(run: Path) -> list[int]:
    with open(run / "results.csv", newline="") as fh:
        return [int(float(row["epoch"])) for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_last_epoch(tmp_path: Path) -> None:
    data = write_big_box_dataset(tmp_path / "ds") / "orcascore.yaml"
    project = tmp_path / "runs"
    with pytest.raises(Interrupted):
        train(data, "tqgdnet-n", epochs=3, imgsz=64, device="cpu", project=project, name="r", options=FAST,
              callbacks={"on_model_save": [_stop_after_first_epoch]})
    run = project / "r"
    assert _epochs(run) == [1] and (run / "weights" / "last.pt").is_file()

    tqgd.cli._register()
    result = CliRunner().invoke(tqgd.cli.app, ["train", "--resume", "--project", str(project), "--name", "r",
                                               "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert _epochs(run) == [1, 2, 3]  # continued, not restarted
    record = json.loads((run / RUN_RECORD).read_text())
    assert [s["start_epoch"] for s in record["sessions"]] == [1, 2]
    assert record["sessions"][1]["resumed_from"].endswith("last.pt")
    assert preprocess_info(run / "weights" / "best.pt")["window"]["name"] == "paper"

    with pytest.raises(CheckpointError, match=r"last.pt: this run already finished"):
        train(resume=True, project=project, name="r")


def test_resume_refuses_missing_runs_and_fixed_options(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no run with weights/last.pt here to resume"):
        find_resume_checkpoint(True, tmp_path, None)
    with pytest.raises(CheckpointError, match=r"r/weights/last.pt: no last.pt to resume from"):
        find_resume_checkpoint(True, tmp_path, "r")
    with pytest.raises(CheckpointError, match=r"missing.pt: no last.pt"):
        find_resume_checkpoint(tmp_path / "missing.pt", None, None)


@pytest.mark.slow
def test_resume_keeps_the_runs_own_settings(tmp_path: Path) -> None:
    data = write_big_box_dataset(tmp_path / "ds", patients=2, images_per_patient=2) / "orcascore.yaml"
    with pytest.raises(Interrupted):
        train(data, "tqgdnet-n", epochs=2, imgsz=64, device="cpu", project=tmp_path, name="r", options=FAST,
              callbacks={"on_model_save": [_stop_after_first_epoch]})
    with pytest.raises(ConfigError, match=r"a resumed run keeps its own epochs, lr0"):
        train(resume=tmp_path / "r", epochs=5, options={"lr0": 0.1})
