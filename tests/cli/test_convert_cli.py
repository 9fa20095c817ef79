"""``tqgd convert orcascore`` / ``tqgd convert masks``: help, exit codes and outputs of the real commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.data.orca_synthetic import write_orcascore_folder
from tqgd.errors import ConfigError

runner = CliRunner()


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    return write_orcascore_folder(tmp_path_factory.mktemp("cli") / "src", patients=3, slices=6, size=64)


@pytest.mark.parametrize("args", [["convert", "--help"], ["convert", "orcascore", "--help"],
                                  ["convert", "masks", "--help"]])
def test_help_exits_0_and_shows_an_example(app, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    if len(args) == 3:
        assert "Example:" in result.output
    else:
        assert "orcascore" in result.output and "masks" in result.output


def test_orcascore_conversion_succeeds_with_options(app, src, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["convert", "orcascore", str(src), str(out), "--folds", "3", "--classes", "artery",
                                 "--window=-1000,1000", "--negatives", "all", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert "slices/s" in result.output
    options = json.loads((out / "convert.json").read_text())
    assert options["window"]["channels_hu"] == [[-1000.0, 1000.0]] and options["seed"] == 4
    assert options["names"] == {"0": "LAD", "1": "LCX", "2": "RCA", "3": "undetermined"}
    assert len(list((out / "images").glob("*.png"))) == 3 * 6
    assert sorted(p.name for p in out.glob("*.yaml")) == ["fold0.yaml", "fold1.yaml", "fold2.yaml", "orcascore.yaml"]


def test_context_step_is_recorded_and_needs_2_5d(app, src, tmp_path):
    out = tmp_path / "spaced"
    result = runner.invoke(app, ["convert", "orcascore", str(src), str(out), "--folds", "3", "--window", "calcium",
                                 "--context", "3", "--context-step", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "convert.json").read_text())["input"]["context_step"] == 2
    result = runner.invoke(app, ["convert", "orcascore", str(src), str(tmp_path / "flat"), "--folds", "3",
                                 "--context-step", "2"])
    assert result.exit_code == 1 and "needs context 3" in str(result.exception)
    assert not (tmp_path / "flat").exists()


def test_bad_options_fail(app, src, tmp_path):
    result = runner.invoke(app, ["convert", "orcascore", str(src), str(tmp_path / "o"), "--folds", "1"])
    assert result.exit_code == 2  # usage error from typer (--folds has min 2)
    result = runner.invoke(app, ["convert", "orcascore", str(src), str(tmp_path / "o"), "--folds", "3",
                                 "--window", "bone"])
    assert result.exit_code == 1 and isinstance(result.exception, ConfigError)
    result = runner.invoke(app, ["convert", "orcascore", str(tmp_path / "missing"), str(tmp_path / "o")])
    assert result.exit_code == 2 and "does not exist" in re.sub(r"[\s│]+", " ", result.output)


def test_console_script_reports_errors_on_stderr_with_exit_1(src, tmp_path):
    tqgd_exe = shutil.which("tqgd") or str(Path(sys.executable).parent / "tqgd")
    result = subprocess.run([tqgd_exe, "convert", "orcascore", str(src), str(src / "inside"), "--folds", "3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "output folder lies inside the input folder" in result.stderr and "Traceback" not in result.stderr
    assert not (src / "inside").exists()


def test_masks_command_writes_requested_formats(app, tmp_path):
    (tmp_path / "img").mkdir(), (tmp_path / "seg").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), np.zeros((32, 32), np.uint8))
    mask = np.zeros((32, 32), np.uint8)
    mask[3:6, 4:9] = 1
    cv2.imwrite(str(tmp_path / "seg" / "a.png"), mask)
    out = tmp_path / "out"
    result = runner.invoke(app, ["convert", "masks", str(tmp_path / "img"), str(tmp_path / "seg"), str(out),
                                 "--format", "coco", "--format", "voc", "--min-area", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "annotations" / "all.json").is_file() and (out / "voc" / "a.xml").is_file()
    assert not (out / "labels").exists()
    bbox = json.loads((out / "annotations" / "all.json").read_text())["annotations"][0]["bbox"]
    assert bbox == [4.0, 3.0, 5.0, 3.0]
