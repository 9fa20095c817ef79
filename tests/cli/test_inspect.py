"""``tqgd inspect`` through the real entry point: table, --json, identifiers hidden by default, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from tests.data.conftest import ct_volume
from tests.helpers import run_tqgd
from tqgd.data.writers import write_dicom_series


@pytest.fixture
def series(tmp_path):
    """A 6-slice series: 3 mm thick slices every 2.5 mm at 100 kVp, with a patient name and ID."""
    volume = ct_volume(shape=(6, 24, 40), hu_low=-1000, hu_high=900)
    write_dicom_series(volume, tmp_path / "scan", kvp=100.0, slice_thickness_mm=3.0, patient_name="Doe^Jane",
                       patient_id="PID-123", uid_seed="inspect")
    uid = pydicom.dcmread(tmp_path / "scan" / "IM0001.dcm").SeriesInstanceUID
    return tmp_path / "scan", volume, uid


def test_table_shows_the_scan_without_identifiers(monkeypatch, capsys, series):
    folder, volume, uid = series
    code, out, _ = run_tqgd(monkeypatch, capsys, "inspect", folder)
    assert code == 0
    assert "6 x 24 x 40" in out and "2.5, 0.7, 0.8 mm" in out
    assert f"{volume.hu.min():g} .. {volume.hu.max():g} HU" in out
    assert "3 mm / 2.5 mm" in out and "100" in out and uid in out
    assert "Doe^Jane" not in out and "PID-123" not in out


def test_identifiers_only_when_asked(monkeypatch, capsys, series):
    code, out, _ = run_tqgd(monkeypatch, capsys, "inspect", series[0], "--show-identifiers")
    assert code == 0 and "Doe^Jane" in out and "PID-123" in out


def test_json_is_machine_readable(monkeypatch, capsys, series):
    folder, volume, uid = series
    code, out, _ = run_tqgd(monkeypatch, capsys, "inspect", folder, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["shape_zyx"] == [6, 24, 40]
    assert report["spacing_mm_zyx"] == pytest.approx([2.5, 0.7, 0.8])
    assert (report["hu_min"], report["hu_max"]) == (float(volume.hu.min()), float(volume.hu.max()))
    meta = report["metadata"]
    assert (meta["kvp"], meta["slice_thickness_mm"], meta["slice_spacing_mm"]) == (100.0, 3.0, 2.5)
    assert meta["series_uid"] == uid and meta["format"] == "dicom"
    assert "patient" not in meta and "Doe^Jane" not in out
    code, out, _ = run_tqgd(monkeypatch, capsys, "inspect", folder, "--json", "--show-identifiers")
    assert json.loads(out)["metadata"]["patient"] == {"PatientName": "Doe^Jane", "PatientID": "PID-123"}


def test_several_series_exit_1_with_a_listing_then_series_uid_picks(monkeypatch, capsys, series):
    folder, _, uid = series
    write_dicom_series(ct_volume(shape=(2, 24, 40)), folder, uid_seed="other", file_name="B{index}.dcm")
    code, out, err = run_tqgd(monkeypatch, capsys, "inspect", folder)
    assert code == 1 and out == ""
    assert "holds 2 image series" in err and uid in err
    code, out, _ = run_tqgd(monkeypatch, capsys, "inspect", folder, "--series-uid", uid, "--json")
    assert code == 0 and json.loads(out)["shape_zyx"] == [6, 24, 40]


def test_bad_scan_exits_1_with_the_reason(monkeypatch, capsys):
    mr_file = pydicom.data.get_testdata_file("MR_small.dcm")  # bundled with pydicom
    code, out, err = run_tqgd(monkeypatch, capsys, "inspect", mr_file)
    assert code == 1 and out == ""
    assert "tqgd: error:" in err and "Modality (0008,0060) is 'MR', expected 'CT'" in err


def test_missing_path_is_a_usage_error(monkeypatch, capsys, tmp_path):
    code, _, err = run_tqgd(monkeypatch, capsys, "inspect", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


def test_console_script(series):
    script = Path(sys.executable).with_name("tqgd")
    result = subprocess.run([str(script), "inspect", str(series[0]), "--json"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "200"}, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["shape_zyx"] == [6, 24, 40]
