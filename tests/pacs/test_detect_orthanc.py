"""``tqgd pacs run --method detect`` through Orthanc, with a stand-in detector boxing the reference lesions (no
trained weights ship with the tests): the detector's SEG/SR/SC reach the study and match score.json."""

from __future__ import annotations

import json

import pydicom

from tests.dicom_out.test_detect_dicom import _boxes_of
from tests.helpers import run_tqgd
from tests.pacs.checks import results_in_orthanc
from tqgd.dicom_out.readback import sr_numbers
from tqgd.scoring.masks import read_mask


def test_detect_round_trip(phantom_series, orthanc, tmp_path, monkeypatch, capsys) -> None:
    from types import SimpleNamespace

    import tqgd.engine.detect as detect
    import tqgd.engine.detect_run as detect_run
    from tqgd.data.model_input import InputSpec
    from tqgd.data.windowing import parse_window

    mask, _ = read_mask(phantom_series.mask)
    slices = iter(range(mask.shape[0]))
    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"}, notes=[],
                               phantom_trained=False, describe=lambda: {"weights": "stand-in"})
    monkeypatch.setattr(detect_run, "make_setup", lambda weights, heart, options, device=None, trust=None:
                        detect_run.DetectSetup(detector=detector, cropper=None, options=options))
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None: [_boxes_of(mask[next(slices)])
                                                                                  for _ in images])
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
