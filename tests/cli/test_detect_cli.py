"""``tqgd detect`` through the console-script entry point: every SOURCE type, bad inputs, folders of scans.

Weights: TQGDNet-n trained one epoch on a small converted phantom (64 px, full slices), so detection runs the real
model; with ``--conf 0.001`` an untrained model still returns boxes, which is what the output checks need.
"""

from __future__ import annotations

import csv
import json
import re
import shutil

import cv2
import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tests.helpers import run_tqgd
from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.data.phantom.layout import write_phantom_set
from tqgd.data.readers import read_ct
from tqgd.data.windowing import apply_window
from tqgd.data.writers import write_nifti
from tqgd.detections import load_detections

LOW_CONF = "0.001"


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Phantom scans in every format, and calcium weights trained one epoch on full 64 px slices."""
    from tqgd.engine.train import train

    root = tmp_path_factory.mktemp("detect_cli")
    write_phantom_set(root / "phantom", 3, seed=11, image_size=64, formats=("orcascore", "dicom"))
    dataset = convert_orcascore(root / "phantom", root / "ds", OrcaConvertOptions(folds=2, negatives="1")).out
    run = train(dataset / "orcascore.yaml", "tqgdnet-n", epochs=1, imgsz=64, batch=4, device="cpu",
                project=root / "runs", name="calcium", options={"workers": 0, "plots": False, "val": False})
    volume = read_ct(root / "phantom" / "Images" / "TRV1P1CTI.mhd")
    write_nifti(volume.hu, root / "TRV1P1.nii.gz", spacing_mm=volume.spacing_mm, origin_mm=volume.origin_mm,
                direction=volume.direction)
    cv2.imwrite(str(root / "slice.png"), apply_window(volume.hu[volume.shape[0] // 2], "paper"))
    return {"root": root, "weights": run.best, "dicom": root / "phantom" / "DICOM" / "TRV1P1",
            "mhd": root / "phantom" / "Images" / "TRV1P1CTI.mhd", "nii": root / "TRV1P1.nii.gz",
            "png": root / "slice.png", "volume": volume}


def _check_outputs(out, shape_zyx, scored: bool) -> dict:
    result = load_detections(out / "detections.json")
    assert result.shape_zyx == tuple(shape_zyx)
    boxes = result.all_detections()
    assert boxes, "an untrained model at --conf 0.001 still returns boxes"
    height, width = shape_zyx[1:]
    for _, d in boxes:
        x0, y0, x1, y1 = d.box_xyxy
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        assert set(d.box_patient_mm) == {"x0y0_mm", "x1y0_mm", "x1y1_mm", "x0y1_mm", "centre_mm"}
    with open(out / "detections.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(boxes)
    assert [float(r["x0_px"]) for r in rows] == [d.box_xyxy[0] for _, d in boxes]
    overlays = sorted(p.name for p in (out / "overlays").iterdir())
    assert len(overlays) == len({s.slice_index for s in result.slices if s.detections})
    assert (out / "score.json").is_file() == scored and (out / "report.png").is_file() == scored
    return json.loads((out / "detections.json").read_text())


@pytest.mark.parametrize("kind", ["dicom", "mhd", "nii"])
def test_volumes_give_detections_overlays_and_a_score(scans, monkeypatch, capsys, tmp_path, kind) -> None:
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", scans[kind], "--weights", scans["weights"],
                              "--out", tmp_path / "out", "--conf", LOW_CONF, "--batch", "7")
    assert code == 0, err
    data = _check_outputs(tmp_path / "out", scans["volume"].shape, scored=True)
    score = json.loads((tmp_path / "out" / "score.json").read_text())
    assert f"Calcium score: {data['scan_id']}" in out and score["risk_category"] in out
    assert "trained on full slices" in out and data["heart_roi_xyxy"] is None
    assert data["model"]["tip_completion"]["bridge_gaps"] is True  # on by default
    if kind == "dicom":
        assert data["series_uid"] and data["series_uid"] == read_ct(scans["dicom"]).meta.series_uid


def test_no_bridge_gaps_is_passed_on_and_recorded(scans, monkeypatch, capsys, tmp_path) -> None:
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", scans["mhd"], "--weights", scans["weights"], "--out",
                            tmp_path / "out", "--conf", LOW_CONF, "--no-bridge-gaps")
    assert code == 0, err
    assert _check_outputs(tmp_path / "out", scans["volume"].shape, scored=True)["model"]["tip_completion"][
        "bridge_gaps"] is False


def test_single_dicom_file_is_one_slice(scans, monkeypatch, capsys, tmp_path) -> None:
    one = sorted(scans["dicom"].iterdir())[20]  # --no-verify: the verifier judges 3D components, here one slice
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", one, "--weights", scans["weights"], "--out",
                              tmp_path / "out", "--conf", LOW_CONF, "--no-verify")
    assert code == 0, err
    _check_outputs(tmp_path / "out", (1, 64, 64), scored=True)


def test_png_has_no_hu_so_no_score_and_says_so(scans, monkeypatch, capsys, tmp_path) -> None:
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", scans["png"], "--weights", scans["weights"], "--out",
                              tmp_path / "out", "--conf", LOW_CONF)
    assert code == 0, err
    _check_outputs(tmp_path / "out", (1, 64, 64), scored=False)
    assert "no calcium score" in " ".join(out.split())


@pytest.mark.parametrize(("name", "content", "message"), [
    ("broken.dcm", b"\x00" * 200, "broken.dcm"),
    ("scan.nii.gz", b"\x1f\x8b\x08\x00garbage", "scan.nii.gz"),
    ("scan.xyz", b"hello", "unknown scan format"),
])
def test_unreadable_inputs_fail_with_a_clear_error(scans, monkeypatch, capsys, tmp_path, name, content,
                                                   message) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", bad, "--weights", scans["weights"], "--out",
                              tmp_path / "out")
    assert code == 1
    assert err.startswith("tqgd: error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "detections.json").exists()


def test_folder_of_scans_goes_on_past_a_bad_one_and_fails_at_the_end(scans, monkeypatch, capsys, tmp_path) -> None:
    folder = tmp_path / "scans"
    shutil.copytree(scans["dicom"], folder / "patient_a")
    shutil.copy(scans["png"], folder / "b_slice.png")
    (folder / "c_broken.mhd").write_text("ObjectType = Image\nNDims = 3\n")
    (folder / "notes.txt").write_text("not a scan")
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", folder, "--weights", scans["weights"], "--out",
                              tmp_path / "out", "--conf", LOW_CONF, "--include-identifiers")  # summary with sources
    assert code == 1
    assert "1 of 3 scans failed" in err and "c_broken.mhd" in err
    series_uid = read_ct(scans["dicom"]).meta.series_uid
    _check_outputs(tmp_path / "out" / series_uid, scans["volume"].shape, scored=True)
    _check_outputs(tmp_path / "out" / "b_slice", (1, 64, 64), scored=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    status = {row["source"].split("/")[-1]: row["ok"] for row in summary["scans"]}
    assert status == {"b_slice.png": True, "c_broken.mhd": False, "patient_a": True}  # notes.txt is not a scan
    assert "PHANTOM" not in " ".join(p.name for p in (tmp_path / "out").rglob("*")).upper()  # no patient names


def test_a_folder_with_two_series_needs_series_uid(scans, monkeypatch, capsys, tmp_path) -> None:
    folder = tmp_path / "study"
    shutil.copytree(scans["dicom"], folder)
    for path in (scans["root"] / "phantom" / "DICOM" / "TRV2P1").iterdir():
        shutil.copy(path, folder / f"B_{path.name}")
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", folder, "--weights", scans["weights"], "--out",
                            tmp_path / "out")
    assert code == 1 and "holds 2 image series" in err and "--series-uid" in err
    wanted = read_ct(scans["root"] / "phantom" / "DICOM" / "TRV2P1").meta.series_uid
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", folder, "--weights", scans["weights"], "--out",
                            tmp_path / "out", "--series-uid", wanted, "--conf", LOW_CONF)
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "detections.json").read_text())["series_uid"] == wanted


def test_heart_not_found_stops_instead_of_detecting_elsewhere(scans, monkeypatch, capsys, tmp_path) -> None:
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", scans["mhd"], "--weights", scans["weights"],
                              "--heart-weights", scans["weights"], "--out", tmp_path / "out")
    assert code == 1
    assert "no heart found in TRV1P1CTI.mhd: detected on 0 of" in err
    assert not (tmp_path / "out" / "detections.json").exists()


def test_without_weights_uses_demo_weights_loudly_or_says_how_to_get_them(scans, monkeypatch, capsys,
                                                                          tmp_path) -> None:
    """An install without shipped weights (a source checkout that dropped them) falls back to the demo's weights;
    tests/weights/ covers the shipped ones."""
    import tqgd.weights
    from tqgd.engine import demo

    monkeypatch.setattr(tqgd.weights, "shipped_weights", lambda: None)
    monkeypatch.setattr(demo, "demo_weights_dir", lambda: tmp_path / "demo_weights")
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", scans["mhd"], "--out", tmp_path / "out")
    assert code == 1 and "no --weights given" in err and "tqgd demo" in err
    demo.mark_phantom_weights(scans["weights"], tmp_path / "demo_weights" / "calcium.pt")
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", scans["mhd"], "--out", tmp_path / "out", "--conf",
                              LOW_CONF)
    assert code == 0, err
    assert "PHANTOM WEIGHTS" in out and "not clinically trained" in " ".join(out.split()).lower()
    data = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert "phantom" in data["model"]["training_data"]


def test_damaged_weights_and_output_inside_the_input_are_refused(scans, monkeypatch, capsys, tmp_path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", scans["mhd"], "--weights", bad, "--out", tmp_path / "o")
    assert code == 1 and "bad.pt" in err
    folder = tmp_path / "series"
    shutil.copytree(scans["dicom"], folder)
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", folder, "--weights", scans["weights"], "--out",
                            folder / "out")
    assert code == 1 and "inside the input folder" in err


def test_help_has_an_example(monkeypatch, capsys) -> None:
    code, out, _ = run_tqgd(monkeypatch, capsys, "detect", "--help")
    assert code == 0 and "Example: tqgd detect" in out


@pytest.mark.parametrize("name, module, constant", [("whole_lesion_score", "lesion_tips", "WHOLE_LESION_SCORE"),
                                                     ("rescue_score", "rescue", "RESCUE_SCORE")])
def test_verifier_score_flags_map_to_the_detect_option(monkeypatch, capsys, name, module, constant) -> None:
    import importlib

    from tqgd.cli.detect import score_option
    from tqgd.engine.detect import DetectOptions

    package = "tqgd.engine" if module == "lesion_tips" else "tqgd.verify"
    default = getattr(importlib.import_module(f"{package}.{module}"), constant)
    assert getattr(DetectOptions(**score_option(name, True, None)), name) == default
    assert getattr(DetectOptions(**score_option(name, True, 0.8)), name) == 0.8
    assert getattr(DetectOptions(**score_option(name, False, 0.8)), name) is None
    _, out, _ = run_tqgd(monkeypatch, capsys, "detect", "--help")
    text = " ".join(out.replace("│", " ").split())
    after = re.split(re.escape("--" + name.replace("_", "-")) + r" (?:FLOAT|<float range>)", text)
    assert len(after) == 2 and f"(default: {default})" in after[1][:300]  # the help tells the truth
