"""A folder of scans where some are bad: ``tqgd detect`` processes the good one, reports the bad ones (a truncated
DICOM series, an MR series), and exits non-zero only at the end, with a summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom

from tests.helpers import run_tqgd
from tests.reliability.checkpoints import save_tqgd_checkpoint


def _series(folder: Path, seed: str) -> list[Path]:
    from tqgd.data.volume import CTVolume, ScanMetadata
    from tqgd.data.writers import write_dicom_series

    hu = np.random.default_rng(len(seed)).integers(-1000, 800, size=(4, 48, 48)).astype(np.float32)
    volume = CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3),
                      meta=ScanMetadata(source=Path("x"), format="synthetic"))
    return write_dicom_series(volume, folder, uid_seed=seed)


def test_folder_with_truncated_and_mr_series(tmp_path: Path, monkeypatch, capsys) -> None:
    scans = tmp_path / "scans"
    truncated = _series(scans / "a_truncated", "truncated")
    truncated[1].write_bytes(truncated[1].read_bytes()[:-700])  # cut inside the pixel data, as a half copy does
    for path in _series(scans / "b_mr", "mr"):
        ds = pydicom.dcmread(path)
        ds.Modality = "MR"
        ds.save_as(path, enforce_file_format=True)
    _series(scans / "c_good", "good")
    weights = save_tqgd_checkpoint(tmp_path / "weights.pt")

    code, out, err = run_tqgd(monkeypatch, capsys, "detect", scans, "--weights", weights, "--out", tmp_path / "out",
                              "--conf", "0.001", "--device", "cpu")
    assert code == 1
    assert "2 of 3 scans failed" in err and "Traceback" not in err, err
    assert "a_truncated" in err and "b_mr" in err
    assert "truncated" in out + err and "Modality (0008,0060) is 'MR', expected 'CT'" in out + err
    done = [p.parent for p in (tmp_path / "out").rglob("detections.json")]
    assert len(done) == 1 and (done[0] / "score.json").is_file()  # the good scan, after the two bad ones
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [row["ok"] for row in summary["scans"]] == [False, False, True]
