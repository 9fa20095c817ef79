"""The demo's settings and output folder (the full run is tests/cli/test_demo_cli.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.data.orcascore import image_path, reference_path
from tqgd.engine import operating_point
from tqgd.engine.demo import DEMO_MARKER, DemoSettings, prepare_demo_folder, sweep_operating_point, with_overrides
from tqgd.engine.operating_point import CANDIDATE_CONFS, ConfPoint
from tqgd.errors import OutputError


def test_quick_settings_are_smaller_in_every_costly_dimension() -> None:
    full, quick = DemoSettings(), DemoSettings.quick()
    assert quick.patients < full.patients and quick.image_size < full.image_size
    assert quick.epochs < full.epochs and quick.heart_imgsz < full.heart_imgsz
    assert full.device == "cpu" and full.conf is None  # detection at the validation's operating confidence


def test_overrides_replace_only_given_values() -> None:
    changed = with_overrides(DemoSettings(), epochs=3, patients=None, device="0")
    assert changed.epochs == 3 and changed.patients == DemoSettings().patients and changed.device == "0"
    assert dataclasses.replace(changed, epochs=DemoSettings().epochs, device="cpu") == DemoSettings()


def test_demo_folder_is_new_empty_or_an_earlier_demo(tmp_path) -> None:
    out = prepare_demo_folder(tmp_path / "new")
    assert (out / DEMO_MARKER).is_file()
    (out / "runs" / "old").mkdir(parents=True)
    (out / "mine.txt").write_text("kept")
    again = prepare_demo_folder(out)
    assert not (again / "runs").exists() and (again / "mine.txt").read_text() == "kept"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match="not written by tqgd demo"):
        prepare_demo_folder(foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        prepare_demo_folder(tmp_path / "file")


def _fake_phantom(tmp_path, cases=("P1", "P2", "P3")):
    """An OrCaScore-layout folder (empty headers: the sweep is replaced) and a dataset whose fold 0 validates P2."""
    for case in cases:
        for path in (image_path(tmp_path / "phantom", case), reference_path(tmp_path / "phantom", case)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "convert.json").write_text(json.dumps(
        {"fold_patients": [{"index": 0, "train": ["P1", "P3"], "val": ["P2"]},
                           {"index": 1, "train": ["P2", "P3"], "val": ["P1"]}]}))


@pytest.mark.parametrize("lesions, expected", [(4, 0.05), (0, None)])
def test_demo_sweeps_detects_confidence_on_the_fold0_validation_patients_only(tmp_path, monkeypatch, lesions,
                                                                                expected) -> None:
    _fake_phantom(tmp_path)
    seen = []

    def sweep(cases, weights, heart, device):
        seen.extend(case.case_id for case in cases)
        return [ConfPoint(c, lesions, lesions if c <= 0.05 else 1, 5, lesions if c <= 0.05 else 1) if lesions
                else ConfPoint(c, 0, 0, 2, 0) for c in CANDIDATE_CONFS]

    monkeypatch.setattr(operating_point, "sweep_confidence", sweep)
    point = sweep_operating_point(tmp_path / "phantom", tmp_path / "dataset", tmp_path / "c.pt", tmp_path / "h.pt",
                                  "cpu")
    assert seen == ["P2"]
    if expected is None:  # no reference lesion on the validation patients: no operating point to choose
        assert point is None
    else:  # F1 4/4.5 at 0.005-0.05; the highest of the tied confidences is kept
        assert point["conf"] == expected and point["patients"] == ["P2"] and len(point["sweep"]) == len(CANDIDATE_CONFS)
