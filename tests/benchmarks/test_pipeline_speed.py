"""benchmarks/pipeline_speed.py's measurements on tiny phantom scans: exact slice counts, readers that agree,
conversion counts, and a per-stage detect timing plus peak memory with real (one-epoch) weights."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pipeline_stages import (
    compare_readers,
    conversion_speed,
    peak_rss_mib,
    stage_times,
    write_scans,
)

SLICES = 8


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    return write_scans(tmp_path_factory.mktemp("pipeline") / "scans", 2, SLICES, 64)


def test_scans_have_exactly_the_asked_slices_as_dicom_series(scans) -> None:
    assert len(scans.dicom) == 2
    for series in scans.dicom:
        files = sorted(series.glob("*.dcm"))
        assert len(files) == SLICES
        assert {pydicom.dcmread(f, stop_before_pixels=True).Rows for f in files} == {64}


def test_tqgd_and_simpleitk_read_the_same_hu(scans) -> None:
    result = compare_readers(scans.dicom, repeats=1)
    assert result["max_abs_diff_hu"] == 0.0 and result["tqgd"] > 0 and result["sitk"] > 0


def test_conversion_counts_every_source_slice(scans, tmp_path) -> None:
    result = conversion_speed(scans.orcascore, tmp_path / "converted", repeats=1)
    assert result["slices"] == 2 * SLICES and result["slices_per_s"] > 0
    assert {"read", "boxes", "window", "encode", "write"} <= set(result["stages"])


@pytest.mark.slow
def test_stage_times_and_peak_memory_with_real_weights(scans, tmp_path) -> None:
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.engine.train import train

    dataset = convert_orcascore(scans.orcascore, tmp_path / "ds", OrcaConvertOptions(folds=2, negatives="1")).out
    weights = train(dataset / "orcascore.yaml", "yolov5b-panet-n", epochs=1, imgsz=64, batch=4, device="cpu",
                    project=tmp_path / "runs", name="calcium",
                    options={"workers": 0, "plots": False, "val": False}).best
    timed = stage_times(scans.dicom[0], weights, None, tmp_path / "out", repeats=1, batch=4, device="cpu")
    assert list(timed["stages"]) == ["load weights", "read DICOM series", "heart crop", "calcium detection", "scoring",
                                     "write outputs (json, csv, overlays, report.png)"]
    assert all(len(v) == 1 and v[0] >= 0 for v in timed["stages"].values())
    assert timed["imgsz"] == 64 and timed["roi"] is None, "full-slice weights: no heart crop"
    assert (tmp_path / "out" / "detections.json").is_file() and (tmp_path / "out" / "score.json").is_file()
    one = peak_rss_mib(scans.dicom_root, weights, None, tmp_path / "mem1", 4, "cpu", only=1)
    both = peak_rss_mib(scans.dicom_root, weights, None, tmp_path / "mem2", 4, "cpu")
    assert 100 < one < 8000 and 100 < both < 8000, "MiB of a real tqgd process"
    assert len(list(Path(tmp_path / "mem2").glob("*/detections.json"))) == 2
    assert len(list(Path(tmp_path / "mem1").glob("*/detections.json"))) == 1

    from pipeline_speed import main

    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("<!-- pipeline_speed:begin -->\n<!-- pipeline_speed:end -->\n")
    block = main(["--work", str(tmp_path / "bench"), "--smoke", "--weights", str(weights), "--scans", "2",
                  "--repeats", "1", "--batch", "4", "--backends", "torch,onnx", "--update", str(doc)])
    assert block in doc.read_text()
    assert "| **in-process total** |" in block and "one slice per model call" in block
    assert "2 phantom scans of 8 slices of 128 x 128 px" in block and ("streams" in block or "grows" in block)
    assert "With `--lean-memory`: one scan" in block and "without it (" in block
    rows = {line.split(" | ")[0].strip("| "): line for line in block.splitlines() if line.startswith("| ")}
    assert "| 1.00x |" in rows["torch"] and rows["onnx"].count(" s") >= 2, "the onnx row has wall and first-run times"
    assert "tqgd --help" in block and "python importing detect's modules" in block
    with pytest.raises(SystemExit):  # a partial measurement must not replace the block
        main(["--work", str(tmp_path / "bench"), "--smoke", "--only-backends", "--update", str(doc)])
