"""``tqgd operating-point``: the shipped weights swept on a converted phantom's validation patient; ``tqgd detect``
then keeps boxes at the recorded confidence, and ``tqgd evaluate`` of its output without rescue (left out of the
choice) gives the sweep's own row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_tqgd
from tqgd.data.orcascore import image_path, reference_path
from tqgd.engine.operating_point import CANDIDATE_CONFS
from tqgd.weights import CALCIUM_WEIGHTS, HEART_WEIGHTS, weights_dir


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """Two non-gated phantom patients (512 px), converted into 2 patient folds (full slices)."""
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.layout import write_phantom_set

    root = tmp_path_factory.mktemp("operating_point")
    write_phantom_set(root / "phantom", 2, seed=31, gated=False)
    return convert_orcascore(root / "phantom", root / "ds", OrcaConvertOptions(folds=2)).out


@pytest.mark.slow
def test_the_chosen_confidence_is_what_detect_then_uses_and_scores(monkeypatch, capsys, tmp_path, converted) -> None:
    weights = Path(shutil.copy(weights_dir() / CALCIUM_WEIGHTS, tmp_path / "calcium.pt"))
    heart = weights_dir() / HEART_WEIGHTS
    before = weights.read_bytes()
    out = tmp_path / "calcium_op.pt"
    code, text, err = run_tqgd(monkeypatch, capsys, "operating-point", weights, "--data", converted / "fold1.yaml",
                               "--heart-weights", heart, "--out", out)
    assert code == 0, err
    record = json.loads((tmp_path / "calcium_op_operating_point.json").read_text())
    (val,) = json.loads((converted / "convert.json").read_text())["fold_patients"][1]["val"]
    assert record["patients"] == [val] and record["fold"] == 1
    assert [p["conf"] for p in record["sweep"]] == list(CANDIDATE_CONFS)
    assert record["f1"] == max(p["f1"] for p in record["sweep"]) > 0
    assert "chosen" in text and f"operating confidence {record['conf']:g}" in " ".join(text.split())
    assert weights.read_bytes() == before

    source = Path(json.loads((converted / "convert.json").read_text())["source"])
    code, text, err = run_tqgd(monkeypatch, capsys, "detect", image_path(source, val), "--weights", out,
                               "--heart-weights", heart, "--no-rescue", "--out", tmp_path / "det")
    assert code == 0, err
    assert "the operating point recorded in the weights" in " ".join(text.split())
    detections = json.loads((tmp_path / "det" / "detections.json").read_text())
    assert detections["model"]["conf"] == record["conf"]
    code, _, err = run_tqgd(monkeypatch, capsys, "evaluate", image_path(source, val), "--reference",
                            reference_path(source, val), "--detections", tmp_path / "det" / "detections.json",
                            "--out", tmp_path / "ev")
    assert code == 0, err
    lesions = json.loads((tmp_path / "ev" / "evaluation.json").read_text())["lesions"]
    (row,) = [p for p in record["sweep"] if p["conf"] == record["conf"]]
    assert (round(lesions["sensitivity"], 4), round(lesions["ppv"], 4)) == (row["sensitivity"], row["ppv"]), \
        "a sweep row (one model pass, finished at c, no rescue) equals detect --no-rescue with c recorded"


def test_the_input_weights_are_never_the_output(monkeypatch, capsys, tmp_path) -> None:
    from tests.engine.trainval_data import write_big_box_dataset

    weights = Path(shutil.copy(weights_dir() / CALCIUM_WEIGHTS, tmp_path / "calcium.pt"))
    before = weights.read_bytes()
    code, _, err = run_tqgd(monkeypatch, capsys, "operating-point", weights, "--data",
                            write_big_box_dataset(tmp_path / "big") / "orcascore.yaml", "--out", weights)
    assert code == 1 and "calcium.pt: is the input weights; choose another --out" in " ".join(err.split())
    assert weights.read_bytes() == before


def test_a_dataset_without_source_scans_is_refused_by_name(monkeypatch, capsys, tmp_path) -> None:
    from tests.engine.trainval_data import write_big_box_dataset

    dataset = write_big_box_dataset(tmp_path / "big")
    code, _, err = run_tqgd(monkeypatch, capsys, "operating-point", weights_dir() / CALCIUM_WEIGHTS, "--data",
                            dataset / "orcascore.yaml", "--out", tmp_path / "x.pt")
    assert code == 1 and "convert.json: records no source scans" in " ".join(err.split())
    assert not (tmp_path / "x.pt").exists()
