"""``tqgd pacs run`` against a real Orthanc, by DICOMweb and by DIMSE: SEG, SR and SC end up in the study."""

from __future__ import annotations

import json

import pydicom
import pytest

from tests.helpers import run_tqgd
from tests.pacs.checks import check_results


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_round_trip_puts_seg_sr_sc_into_the_study(phantom_series, orthanc, tmp_path, monkeypatch, capsys,
                                                  protocol) -> None:
    files = sorted(phantom_series.dicom.glob("*.dcm"))
    orthanc.upload(files)
    study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    where = (["--url", orthanc.dicomweb] if protocol == "dicomweb" else
             ["--aet", "ORTHANC", "--host", "127.0.0.1", "--port", orthanc.dicom_port])
    code, out, err = run_tqgd(monkeypatch, capsys, "pacs", "run", *where, "--study", study, "--method", "threshold",
                              "--out", tmp_path / "work")
    assert code == 0, err
    assert "not a calcium score" in out and "stored seg.dcm, sr.dcm, sc.dcm" in out
    record = json.loads((tmp_path / "work" / "pacs_run.json").read_text())
    (trip,) = record["series"]
    assert trip["instances"] == len(files) and trip["seconds"]["total"] > 0
    print(f"{protocol} round trip: {trip['seconds']}")  # shown with -s; the README quotes one run
    check_results(orthanc, phantom_series.dicom)


def test_unknown_study_and_unreachable_pacs_are_named_errors(orthanc, tmp_path, monkeypatch, capsys) -> None:
    code, _, err = run_tqgd(monkeypatch, capsys, "pacs", "run", "--url", orthanc.dicomweb, "--study", "1.2.3.4",
                            "--method", "threshold", "--out", tmp_path)
    assert code == 1 and "has no CT series in study 1.2.3.4" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "pacs", "run", "--aet", "NOBODY", "--host", "127.0.0.1", "--port",
                            "1", "--study", "1.2.3.4", "--method", "threshold", "--out", tmp_path)
    assert code == 1 and "refused or did not answer" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "pacs", "run", "--aet", "X", "--study", "1.2.3", "--out", tmp_path)
    assert code == 2 and "AE title, host and port" in err
