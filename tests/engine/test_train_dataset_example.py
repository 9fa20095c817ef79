"""The shipped example ``tqgd/cfg/datasets/orcascore.yaml`` describes what the converter really writes."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml

from tests.data.orca_synthetic import write_orcascore_folder
from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore


def test_example_has_the_keys_and_split_files_of_a_real_conversion(tmp_path: Path) -> None:
    example_text = files("tqgd.cfg").joinpath("datasets", "orcascore.yaml").read_text(encoding="utf-8")
    example = yaml.safe_load(example_text)
    src = write_orcascore_folder(tmp_path / "src", patients=3, slices=6, size=64)
    out = convert_orcascore(src, tmp_path / "orca", OrcaConvertOptions(folds=3)).out
    written = yaml.safe_load((out / "orcascore.yaml").read_text())
    assert list(example) == list(written) == ["path", "train", "val", "names"]
    assert (example["train"], example["val"], example["names"]) == (written["train"], written["val"], written["names"])
    assert Path(example["path"]).is_absolute() and Path(written["path"]) == out.resolve()
    for name in ("images", "labels", "voc", "annotations", "folds", "manifest.csv", "convert.json", "fold0.yaml"):
        assert f"{name}" in example_text and (out / name).exists(), name
