"""``tqgd detect --dicom`` with a stand-in detector that boxes the reference lesions: SEG, SR, SC from detections."""

from __future__ import annotations

import json

import numpy as np
import pydicom

from tests.dicom_out.stand_in import use_stand_in_detector
from tests.helpers import run_tqgd
from tqgd.data.readers import read_ct
from tqgd.dicom_out.readback import seg_labels, sr_numbers
from tqgd.scoring.masks import read_mask


def test_detect_writes_dicom_results_for_a_dicom_series(phantom_series, tmp_path, monkeypatch, capsys) -> None:
    mask, _ = read_mask(phantom_series.mask)
    use_stand_in_detector(monkeypatch, mask)
    weights = tmp_path / "stand-in.pt"
    weights.write_bytes(b"not a model: only its hash is used")
    out = tmp_path / "out"
    code, stdout, err = run_tqgd(monkeypatch, capsys, "detect", phantom_series.dicom, "--weights", weights, "--out",
                                 out, "--dicom")
    assert code == 0, err
    score = json.loads((out / "score.json").read_text())
    assert score["agatston"] > 0
    volume = read_ct(phantom_series.dicom)
    labels, names = seg_labels(out / "dicom" / "seg.dcm", volume.meta.sop_instance_uids)
    assert names == {1: "calcium"}  # box detections carry no artery labels here
    assert int((labels > 0).sum()) == sum(lesion["voxel_count"] for lesion in score["lesions"])
    per_slice = {row["slice_index"]: row["area_mm2"] for row in score["per_slice"]}
    pixel_mm2 = volume.spacing_mm[1] * volume.spacing_mm[2]
    for z, area in per_slice.items():
        assert np.isclose((labels[z] > 0).sum() * pixel_mm2, area)
    numbers = sr_numbers(out / "dicom" / "sr.dcm")
    assert (numbers["agatston"], numbers["volume_mm3"]) == (score["agatston"], score["volume_mm3"])
    assert numbers["algorithm"]["name"] == "tqgd TQGDNet calcium detector"
    assert numbers["algorithm"]["parameters"][0].startswith("weights_sha256=")
    seg = pydicom.dcmread(out / "dicom" / "seg.dcm")
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    assert (out / "dicom" / "sc.dcm").is_file()
