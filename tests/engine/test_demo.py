"""The demo's settings and output folder (the full run is tests/cli/test_demo_cli.py)."""

from __future__ import annotations

import dataclasses

import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.engine.demo import DEMO_MARKER, DemoSettings, prepare_demo_folder, with_overrides
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
