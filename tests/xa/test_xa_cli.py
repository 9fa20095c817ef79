"""tqgd xa phantom / sync / dataset as a user calls them: exit codes, files, messages."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tqgd.cli.xa import xa_app
from tqgd.errors import OutputError, ScanReadError

runner = CliRunner()


@pytest.mark.parametrize("command", ["phantom", "sync", "dataset"])
def test_help(command) -> None:
    result = runner.invoke(xa_app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example: tqgd xa" in result.output


def test_phantom_writes_runs_and_refuses_a_full_folder(tmp_path) -> None:
    out = tmp_path / "runs"
    result = runner.invoke(xa_app, ["phantom", str(out), "--sequences", "2", "--frames", "16", "--size", "64",
                                    "--views-per-patient", "1", "--seed", "2"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["P001V1.dcm", "P001V1.json", "P001V1.npz", "P002V1.dcm", "P002V1.json", "P002V1.npz",
                     "xa_phantom.json"]
    assert json.loads((out / "xa_phantom.json").read_text())["seed"] == 2
    again = runner.invoke(xa_app, ["phantom", str(out), "--sequences", "1"])
    assert again.exit_code == 1 and isinstance(again.exception, OutputError)
    assert "not empty" in str(again.exception)


def test_sync_reports_and_writes_json(small_run, tmp_path) -> None:
    target = tmp_path / "sync.json"
    result = runner.invoke(xa_app, ["sync", str(small_run), "--out", str(target), "--plot", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    assert "against the true phase" in result.output
    record = json.loads(target.read_text())
    assert record["frames"] == 60 and len(record["signal"]) == 60
    assert len(record["pairs"]) == record["contrast_start"]
    assert "period_error_frames" in record["truth"]
    assert (tmp_path / "s.png").stat().st_size > 0


def test_sync_refuses_to_overwrite_its_input_and_non_xa(small_run, tmp_path) -> None:
    result = runner.invoke(xa_app, ["sync", str(small_run), "--out", str(small_run)])
    assert result.exit_code == 1 and "overwrite the input" in str(result.exception)
    other = tmp_path / "x.dcm"
    other.write_text("text")
    result = runner.invoke(xa_app, ["sync", str(other)])
    assert result.exit_code == 1 and isinstance(result.exception, ScanReadError)


def test_dataset_command(small_runs, tmp_path) -> None:
    out = tmp_path / "ds"
    result = runner.invoke(xa_app, ["dataset", str(small_runs), str(out), "--frames-per-run", "2", "--folds", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "xa.yaml").is_file() and (out / "fold1.yaml").is_file()
    assert "tqgd train --data" in " ".join(result.output.split())
    assert "P002V1" in result.output  # the per-run synchronisation table
