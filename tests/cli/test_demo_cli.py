"""``tqgd demo --quick`` through the console-script entry point: every step runs and its outputs are there."""

from __future__ import annotations

import json

import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tests.helpers import run_tqgd
from tqgd.detections import load_detections
from tqgd.engine.operating_point import CANDIDATE_CONFS


@pytest.mark.slow
def test_quick_demo_runs_every_step_and_says_the_weights_are_phantom(monkeypatch, capsys, tmp_path) -> None:
    from tqgd.engine import demo
    from tqgd.engine.detect_model import load_slice_detector

    monkeypatch.setattr(demo, "demo_weights_dir", lambda: tmp_path / "home" / "weights")
    code, out, err = run_tqgd(monkeypatch, capsys, "demo", "--quick", "--out", tmp_path / "demo")
    assert code == 0, err
    text = " ".join(out.split())
    assert "step 7/7" in text and "PHANTOM WEIGHTS" in text and "not clinically trained" in text.lower()
    root = tmp_path / "demo"
    record = json.loads((root / "demo.json").read_text())
    assert set(record["seconds"]) == {"phantom", "heart_dataset", "heart_train", "convert", "calcium_train",
                                      "validate", "detect"}
    assert record["settings"]["epochs"] == 1 and "not clinically trained" in record["warning"].lower()
    assert 0.0 <= record["validation"]["ultralytics"]["map50"] <= 1.0
    assert record["test_patient"]["true_agatston"] > 0  # the test patient has calcium in its reference
    result = load_detections(root / "detect" / "detections.json")
    assert result.heart_roi_xyxy is not None and result.model["training_data"] == demo.PHANTOM_TRAINING_DATA
    assert record["test_patient"]["detections"] == len(result.all_detections())
    for name in ("detections.csv", "score.json", "report.png", "reference_score.json"):
        assert (root / "detect" / name).is_file()
    assert len(list((root / "detect" / "overlays").glob("slice_*.png"))) == len(
        [s for s in result.slices if s.detections])
    for name in ("calcium.pt", "heart.pt"):
        assert load_slice_detector(tmp_path / "home" / "weights" / name).phantom_trained
    point = record["operating_point"]  # swept on the validation patients, recorded for tqgd detect
    assert [p["conf"] for p in point["sweep"]] == list(CANDIDATE_CONFS) and point["conf"] in CANDIDATE_CONFS
    assert load_slice_detector(tmp_path / "home" / "weights" / "calcium.pt").operating_conf == point["conf"]
    assert record["detect_conf"] == 0.001  # --quick's own confidence still decides the demo's detect
    assert str(root / "detect") in text and str(root / "weights") in text


def test_demo_refuses_a_folder_it_did_not_write(monkeypatch, capsys, tmp_path) -> None:
    (tmp_path / "mine.txt").write_text("x")
    code, out, err = run_tqgd(monkeypatch, capsys, "demo", "--quick", "--out", tmp_path)
    assert code == 1 and "not written by tqgd demo" in err
    assert (tmp_path / "mine.txt").read_text() == "x"


def test_help_has_an_example(monkeypatch, capsys) -> None:
    code, out, _ = run_tqgd(monkeypatch, capsys, "demo", "--help")
    assert code == 0 and "Example: tqgd demo" in out and "--quick" in out
