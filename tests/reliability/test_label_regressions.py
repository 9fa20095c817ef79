"""Label files the fuzz suite found crashing a parser or read silently wrong, now refused with a named error."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.reliability.test_fuzz_labels import BASE_DETECTIONS, BILLION_LAUGHS, VOC_NAMES, _voc_text
from tqgd.data.convert.manifest import read_manifest
from tqgd.data.formats.voc import read_voc
from tqgd.detections import load_detections
from tqgd.errors import DatasetError, LabelError


def _detections(tmp_path: Path, **changes: object) -> Path:
    data = copy.deepcopy(BASE_DETECTIONS)
    for dotted, value in changes.items():
        keys = dotted.split(".")
        node = data
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(data))
    return path


DETECTIONS = {
    "fractional slice index read as another slice": ({"slices.0.slice_index": 1.5}, r"slice_index must be whole"),
    "NaN confidence": ({"slices.0.detections.0.confidence": float("nan")}, r"confidence must be 1 finite numbers"),
    "negative confidence": ({"slices.0.detections.0.confidence": -1}, r"confidence must be between 0 and 1"),
    "negative spacing": ({"spacing_mm": [2.5, -0.7, 0.7]}, r"spacing_mm must be 3 positive finite numbers"),
    "fractional shape": ({"shape_zyx": [4.5, 32, 32]}, r"shape_zyx must be whole numbers"),
    "text in the direction": ({"direction": ["1", 0, 0, 0, 1, 0, 0, 0, 1]}, r"direction must be 9 finite numbers"),
    "source not text": ({"source": 5}, r"source must be text or null"),
    "true as a class": ({"slices.0.detections.0.class_id": True}, r"class_id must be whole numbers"),
}


@pytest.mark.parametrize("name", sorted(DETECTIONS))
def test_invalid_detections_are_refused(tmp_path: Path, name: str) -> None:
    changes, message = DETECTIONS[name]
    path = _detections(tmp_path, **changes)
    with pytest.raises(LabelError, match=rf"detections.json: not a valid tqgd detections file: {message}"):
        load_detections(path)


def test_binary_detections_file_is_a_label_error(tmp_path: Path) -> None:
    path = tmp_path / "detections.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(LabelError, match=r"detections.json: not a text \(UTF-8\) JSON file"):
        load_detections(path)


def test_detections_without_a_source_path_load(tmp_path: Path) -> None:
    """Source paths are optional (recorded only on request, since folder names can name patients)."""
    path = _detections(tmp_path, source=None)
    assert load_detections(path).source is None


def test_manifest_row_cut_short_is_refused(tmp_path: Path) -> None:
    from tqgd.data.convert.manifest import ManifestRow, write_manifest

    path = tmp_path / "manifest.csv"
    write_manifest(path, [ManifestRow("images/a.png", "labels/a.txt", "", "P1", 3, 0, 0, 64, 64, 1, 1, 0, "x", "")])
    path.write_text(path.read_text()[:-20])
    with pytest.raises(DatasetError, match=r"manifest.csv: line 2 does not hold one cell per column \(14\)"):
        read_manifest(path)


VOC = {
    "infinite corner": ([("object/bndbox/xmax", "inf")], r"not a whole number \('inf' is not a whole number\)"),
    "fractional corner read as a smaller box": ([("object/bndbox/xmax", "5.5")], r"'5.5' is not a whole number"),
    "entity expansion bomb": (None, r"not valid XML"),
}


@pytest.mark.parametrize("name", sorted(VOC))
def test_invalid_voc_is_refused(tmp_path: Path, name: str) -> None:
    edits, message = VOC[name]
    path = tmp_path / "a.xml"
    path.write_text(BILLION_LAUGHS if edits is None else _voc_text(edits))
    with pytest.raises(LabelError, match=rf"a.xml: .*{message}"):
        read_voc(path, VOC_NAMES)


def test_voc_sizes_written_as_floats_read_as_integers(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_text(_voc_text([("size/width", "32.0"), ("size/height", "2.4e1")]))
    assert read_voc(path, VOC_NAMES)[0] == (32, 24)


def test_huge_but_finite_numbers_are_numbers(tmp_path: Path) -> None:
    """Found by the long fuzz run: 1e20 as a JSON integer made numpy's isfinite fail, so a valid file was refused."""
    assert load_detections(_detections(tmp_path, origin_mm=[10**20, 0, 0])).origin_mm == (1e20, 0.0, 0.0)
    with pytest.raises(LabelError, match=r"int too large to convert to float"):
        load_detections(_detections(tmp_path, origin_mm=[10**400, 0, 0]))
