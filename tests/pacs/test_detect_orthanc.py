"""``tqgd pacs run --method detect`` through Orthanc, with a stand-in detector boxing the reference lesions (no
trained weights ship with the tests): the detector's SEG/SR/SC reach the study and match score.json."""

from __future__ import annotations

import json

import pydicom

from tests.dicom_out.stand_in import use_stand_in_detector
from tests.helpers import run_tqgd
from tests.pacs.checks import results_in_orthanc
from tqgd.dicom_out.readback import sr_numbers
from tqgd.scoring.masks import read_mask


def test_detect_round_trip(phantom_series, orthanc, tmp_path, monkeypatch, capsys) -> None:
    mask, _ = read_mask(phantom_series.mask)
    use_stand_in_detector(monkeypatch, mask)
    weights = tmp_path / "stand-in.pt"
    weights.write_bytes(b"stand-in weights")
    files = sorted(phantom_series.dicom.glob("*.dcm"))
    orthanc.upload(files)
    source = pydicom.dcmread(files[0])
    code, out, err = run_tqgd(monkeypatch, capsys, "pacs", "run", "--url", orthanc.dicomweb, "--study",
                              source.StudyInstanceUID, "--weights", weights, "--out", tmp_path / "work")
    assert code == 0, err
    score = json.loads((tmp_path / "work" / "results" / source.SeriesInstanceUID / "score.json").read_text())
    results = results_in_orthanc(orthanc, str(source.StudyInstanceUID))
    numbers = sr_numbers(results["sr"])
    assert score["agatston"] > 0 and (numbers["agatston"], numbers["volume_mm3"]) == (score["agatston"],
                                                                                      score["volume_mm3"])
    assert numbers["algorithm"]["name"] == "tqgd TQGDNet calcium detector"
    assert results["seg"].SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    assert results["sc"].Modality == "OT" and results["sc"].PhotometricInterpretation == "RGB"
