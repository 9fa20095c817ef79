"""``merge_datasets``: one training dataset from several conversions prepared the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.data.orca_synthetic import write_orcascore_folder
from tqgd.data.convert.merge import merge_datasets
from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.errors import DatasetError


def _dataset(tmp_path: Path, name: str, **options) -> Path:
    src = write_orcascore_folder(tmp_path / f"src_{name}", patients=3, slices=5, size=64)
    return convert_orcascore(src, tmp_path / name, OrcaConvertOptions(folds=2, negatives="all", **options)).out


def test_merge_lists_every_split_and_keeps_the_preprocessing(tmp_path: Path):
    from tqgd.engine.dataset_check import check_data_yaml

    a = _dataset(tmp_path, "a", window="calcium", context=3, crop_size=64)
    b = _dataset(tmp_path, "b", window="calcium", context=3, crop_size=64)
    merged = merge_datasets([a / "fold0.yaml", b / "fold1.yaml"], tmp_path / "merged")
    spec = check_data_yaml(merged)
    assert [p.name for p in spec.splits["train"]] == ["fold0_train.txt", "fold1_train.txt"]
    assert [p.parent.parent for p in spec.splits["val"]] == [a, b]
    record = json.loads((tmp_path / "merged" / "convert.json").read_text())
    assert record["input"] == json.loads((a / "convert.json").read_text())["input"]
    assert yaml.safe_load(merged.read_text())["names"] == {0: "calcium"}


def test_sources_prepared_differently_are_refused(tmp_path: Path):
    a = _dataset(tmp_path, "a", window="calcium", context=3)
    b = _dataset(tmp_path, "b", window="calcium", context=1)
    with pytest.raises(DatasetError, match="'input' differs"):
        merge_datasets([a / "fold0.yaml", b / "fold0.yaml"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
