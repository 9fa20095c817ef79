"""``convert_orcascore(..., OrcaConvertOptions(masks=True))``: per-image label masks cropped exactly like the images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk

from tests.data.orca_synthetic import write_orcascore_folder
from tqgd.data.convert.manifest import read_manifest
from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.data.orcascore import reference_path
from tqgd.data.windowing import apply_window

CROP = (10, 20, 80, 70)  # x0, y0, x1, y1 of every scan


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    return write_orcascore_folder(tmp_path_factory.mktemp("orca_masks") / "src", patients=3, slices=6, size=96)


def _labels(src: Path, patient: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(reference_path(src, patient))))


def test_masks_match_the_reference_slice_under_the_crop(src, tmp_path) -> None:
    out = convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, negatives="all", masks=True),
                            crop=lambda volume: CROP).out
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 18
    x0, y0, x1, y1 = CROP
    for row in rows:
        stem = Path(row.image).stem
        mask = cv2.imread(str(out / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        image = cv2.imread(str(out / row.image), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.shape == image.shape == (y1 - y0, x1 - x0)
        np.testing.assert_array_equal(mask, _labels(src, row.patient)[row.slice_index, y0:y1, x0:x1])
    assert json.loads((out / "convert.json").read_text())["masks"] == "masks"


def test_images_and_labels_are_unchanged_by_the_option(src, tmp_path) -> None:
    plain = convert_orcascore(src, tmp_path / "plain", OrcaConvertOptions(folds=3)).out
    with_masks = convert_orcascore(src, tmp_path / "with", OrcaConvertOptions(folds=3, masks=True)).out
    assert not (plain / "masks").exists()
    assert "masks" not in json.loads((plain / "convert.json").read_text())
    for folder in ("images", "labels", "voc"):
        for path in sorted((plain / folder).iterdir()):
            assert path.read_bytes() == (with_masks / folder / path.name).read_bytes()
    images = sorted(p.stem for p in (plain / "images").iterdir())
    assert sorted(p.stem for p in (with_masks / "masks").iterdir()) == images


def test_rerun_without_masks_removes_them(src, tmp_path) -> None:
    out = tmp_path / "out"
    convert_orcascore(src, out, OrcaConvertOptions(folds=3, masks=True))
    assert any((out / "masks").iterdir())
    convert_orcascore(src, out, OrcaConvertOptions(folds=3))
    assert not (out / "masks").exists()


def test_mask_pixels_line_up_with_calcium_in_the_image(src, tmp_path) -> None:
    """Where the mask is calcium, the image shows the lesion's windowed HU: masks and images share coordinates."""
    out = convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, masks=True)).out
    row = next(r for r in read_manifest(out / "manifest.csv") if r.n_boxes)
    hu = sitk.GetArrayFromImage(sitk.ReadImage(str(src / row.source)))[row.slice_index]
    mask = cv2.imread(str(out / "masks" / f"{Path(row.image).stem}.png"), cv2.IMREAD_UNCHANGED)
    image = cv2.imread(str(out / row.image), cv2.IMREAD_UNCHANGED)
    assert mask.any()
    np.testing.assert_array_equal(image[mask > 0], apply_window(hu, "paper")[mask > 0])
