"""``tqgd phantom`` through the real console-script entry point: exit codes, files and messages."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import run_tqgd
from tqgd.data.orcascore import discover_cases
from tqgd.data.readers import read_ct


def test_help_has_an_example(monkeypatch, capsys):
    code, out, _ = run_tqgd(monkeypatch, capsys, "phantom", "--help")
    assert code == 0
    assert "Example: tqgd phantom" in out and "--non-gated" in out and "--format" in out


def test_writes_both_formats_with_montages_and_a_summary(monkeypatch, capsys, tmp_path):
    out_dir = tmp_path / "set"
    code, out, err = run_tqgd(monkeypatch, capsys, "phantom", out_dir, "--patients", 2, "--seed", 4, "--non-gated",
                              "--format", "both", "--image-size", 128, "--montage")
    assert code == 0, err
    assert [c.case_id for c in discover_cases(out_dir)] == ["TRV1P1", "TRV2P1"]
    assert read_ct(out_dir / "DICOM" / "TRV2P1").shape == read_ct(out_dir / "Images" / "TRV2P1CTI.mhd").shape
    assert (out_dir / "phantom" / "TRV1P1_montage.png").stat().st_size > 0
    set_file = json.loads((out_dir / "phantom" / "phantom.json").read_text())
    assert set_file["options"]["gated"] is False and set_file["seed"] == 4
    lesions = sum(p["n_lesions"] for p in set_file["patients"])
    assert re.search(rf"│ lesions\s+│ {lesions}\s+│", out), out
    assert "per-slice lesion area" in out and "generation s / patient" in out


def test_dicom_only_writes_no_metaimage(monkeypatch, capsys, tmp_path):
    code, _, err = run_tqgd(monkeypatch, capsys, "phantom", tmp_path / "d", "-n", 1, "--format", "dicom",
                            "--image-size", 64)
    assert code == 0, err
    assert (tmp_path / "d" / "DICOM" / "TRV1P1" / "IM0001.dcm").exists()
    assert not (tmp_path / "d" / "Images").exists()


def test_non_empty_output_folder_exits_1_and_keeps_its_files(monkeypatch, capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    code, _, err = run_tqgd(monkeypatch, capsys, "phantom", tmp_path, "-n", 1, "--image-size", 64)
    assert code == 1
    assert "not empty" in err and "--overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("args, code, message", [
    (("--image-size", 100), 1, "multiple of 16"),
    (("--format", "nifti"), 2, "nifti"),
    (("--patients", 0), 2, "--patients"),
])
def test_bad_options_fail_with_a_message(monkeypatch, capsys, tmp_path, args, code, message):
    exit_code, out, err = run_tqgd(monkeypatch, capsys, "phantom", tmp_path / "set", *args)
    assert exit_code == code
    assert message in out + err
    assert not (tmp_path / "set").exists()


def test_output_path_that_is_a_file_is_a_usage_error(monkeypatch, capsys, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, out, err = run_tqgd(monkeypatch, capsys, "phantom", target)
    assert code == 2 and "file.txt" in out + err
