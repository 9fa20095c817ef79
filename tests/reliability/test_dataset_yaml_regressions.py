"""Dataset YAMLs the fuzz suite found passing the up-front check, then stopping ultralytics mid-start (class-index
gaps, nc against names) or training a class literally named "None"; now refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tqgd.engine.dataset_check import check_data_yaml
from tqgd.errors import DatasetError

CASES = {
    "class-index gap": ({1: "calcium"}, None, r"'names' keys must be 0 to 0 without gaps, found \[1\]"),
    "null class name": (["calcium", None], None, r"class 1 has no name \(None\)"),
    "blank class name": ([" "], None, r"class 0 has no name"),
    "nc against names": (["calcium"], 2, r"nc is 2 but 'names' lists 1 classes"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_unusable_class_names_are_refused(tmp_path: Path, name: str) -> None:
    names, nc, message = CASES[name]
    (tmp_path / "images").mkdir()
    content = {"path": str(tmp_path), "train": "images", "val": "images", "names": names}
    if nc is not None:
        content["nc"] = nc
    path = tmp_path / "data.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(DatasetError, match=rf"data.yaml: {message}"):
        check_data_yaml(path)


def test_quoted_index_keys_are_fine(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    path = tmp_path / "data.yaml"
    path.write_text(f"path: {tmp_path}\ntrain: images\nval: images\nnames:\n  '0': calcium\n  '1': LAD\n")
    assert check_data_yaml(path).names == {0: "calcium", 1: "LAD"}
