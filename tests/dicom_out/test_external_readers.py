"""Independent readers: dciodvfy (dicom3tools) finds no errors in SEG, SR and SC; dcmtk's dsrdump prints the SR."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest

from tests.dicom_out.phantom_series import need_tool
from tests.helpers import run_tqgd


@pytest.fixture(scope="module")
def written(phantom_series, tmp_path_factory):
    out = tmp_path_factory.mktemp("dicom-external")
    mp = pytest.MonkeyPatch()
    code, _, _ = run_tqgd(mp, SimpleNamespace(readouterr=lambda: ("", "")), "score", phantom_series.dicom, "--mask",
                          phantom_series.mask, "--out", out, "--dicom", "--mass-calibration", "0.8")
    mp.undo()
    assert code == 0
    return out


@pytest.mark.parametrize("name", ["seg", "sr", "sc"])
def test_dciodvfy_reports_no_errors(written, name) -> None:
    dciodvfy = need_tool("dciodvfy", "dicom3tools")
    run = subprocess.run([dciodvfy, str(written / "dicom" / f"{name}.dcm")], capture_output=True, text=True,
                         timeout=120)
    lines = (run.stdout + run.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert not errors, "\n".join(lines)
    assert {"seg": "Segmentation", "sr": "Comprehensive3DSR", "sc": "SCImage"}[name] in lines


def test_dsrdump_prints_the_score(written) -> None:
    dsrdump = need_tool("dsrdump", "dcmtk")
    run = subprocess.run([dsrdump, str(written / "dicom" / "sr.dcm")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    score = json.loads((written / "score.json").read_text())
    text = run.stdout
    assert "Comprehensive 3D SR Document" in text and '(426005005,SCT,"Cardiac CT for calcium scoring")' in text
    assert f'NUM:(,,"Calcium score")="{int(score["agatston"])}.' in text
    assert f'"{score["risk_category"]}"' in text and "Referenced Segment" in text
