"""Histogram matching, lung removal on phantom slices, and the pre-processed dataset copy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from scipy import ndimage

from tests.baselines.phantom_data import phantom_case
from tqgd.baselines.dataset import load_split
from tqgd.baselines.preprocess import REMOVED_LUNG_HU, lung_mask, match_histogram, remove_lungs
from tqgd.baselines.preprocess_dataset import preprocess_dataset
from tqgd.data.convert.manifest import read_manifest
from tqgd.data.phantom import Tissue
from tqgd.data.windowing import apply_window
from tqgd.errors import ConfigError, OutputError

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def test_matched_histogram_has_the_reference_quantiles() -> None:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(70, 15, (96, 80)), 0, 255).astype(np.uint8)
    reference = np.concatenate([rng.normal(40, 10, 3000), rng.normal(190, 25, 2000)]).clip(0, 255)
    reference = reference.astype(np.uint8).reshape(50, 100)
    matched = match_histogram(image, reference)
    assert matched.shape == image.shape and matched.dtype == np.uint8
    np.testing.assert_allclose(np.quantile(matched, QUANTILES), np.quantile(reference, QUANTILES), atol=3)
    assert not np.allclose(np.quantile(image, QUANTILES), np.quantile(reference, QUANTILES), atol=3)
    order = np.argsort(image.ravel(), kind="stable")  # monotone: brighter stays brighter
    assert (np.diff(matched.ravel()[order].astype(int)) >= 0).all()


def test_histogram_matching_works_per_channel_and_refuses_other_types() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 100, (32, 32, 3), dtype=np.uint8)
    reference = rng.integers(100, 256, (40, 40, 3), dtype=np.uint8)
    matched = match_histogram(image, reference)
    for channel in range(3):
        assert np.quantile(matched[..., channel], 0.5) == pytest.approx(np.quantile(reference[..., channel], 0.5),
                                                                        abs=3)
    with pytest.raises(ValueError, match="8-bit"):
        match_histogram(image.astype(np.float32), reference)


@pytest.fixture(scope="module")
def patient():
    return phantom_case("TRV1P1")


def _heart(hu: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The soft-tissue region (HU >= -224) connected to the centre of the heart box."""
    labels, _ = ndimage.label(hu >= -224)
    return labels == labels[(box[1] + box[3]) // 2, (box[0] + box[2]) // 2]


@pytest.mark.parametrize("offset", [-8, 0, 6])
def test_lungs_are_removed_and_the_heart_is_kept(patient, offset) -> None:
    z = patient.volume.shape[0] // 2 + offset
    hu, lung = patient.volume.hu[z], patient.tissue[z] == Tissue.LUNG
    box = patient.heart_boxes[z]
    heart = _heart(hu, box)
    assert lung[:, 0].any()  # a heart-centred field of view cuts the chest: the lung touches the image edge
    removed = lung_mask(hu, patient.volume.spacing_mm[1:])
    assert (removed & lung).sum() >= 0.98 * lung.sum()
    assert not (removed & heart).any() and heart.sum() > 200
    assert not (removed & (patient.labels[z] > 0)).any()
    assert not (removed & (hu > 600)).any()
    cleaned = remove_lungs(hu, patient.volume.spacing_mm[1:])
    np.testing.assert_array_equal(cleaned[~removed], hu[~removed])
    assert (cleaned[removed] == REMOVED_LUNG_HU).all()


def test_air_around_the_body_is_not_lung(patient) -> None:
    z = patient.volume.shape[0] // 2
    hu = patient.volume.hu[z]
    removed = lung_mask(hu, patient.volume.spacing_mm[1:])
    outside = patient.tissue[z] == Tissue.AIR
    assert outside.any() and (removed & outside).sum() < 0.01 * outside.sum()


def test_remove_lungs_handles_volumes_and_keeps_its_input(patient) -> None:
    volume = patient.volume.hu[10:13]
    before = volume.copy()
    cleaned = remove_lungs(volume, patient.volume.spacing_mm[1:])
    np.testing.assert_array_equal(volume, before)
    assert cleaned.shape == volume.shape and (cleaned == REMOVED_LUNG_HU).sum() > (volume == REMOVED_LUNG_HU).sum()


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def test_preprocessed_dataset_copy(phantom_sets, tmp_path) -> None:
    src = phantom_sets["cropped"]
    before = _digest(src)
    reference = next((src / "images").iterdir())
    out = preprocess_dataset(src, tmp_path / "pre", reference=reference, remove_lungs=True)
    assert _digest(src) == before
    for folder in ("labels", "masks", "folds", "annotations"):
        for path in (src / folder).iterdir():
            assert (out / folder / path.name).read_bytes() == path.read_bytes()
    assert yaml.safe_load((out / "fold0.yaml").read_text())["path"] == str(out)
    assert json.loads((out / "convert.json").read_text())["preprocess"]["remove_lungs"] is True
    split = load_split(out / "fold0.yaml", "val")
    assert all(image.path.is_relative_to(out) for image in split.images)
    rows = read_manifest(out / "manifest.csv")
    assert any((out / r.image).read_bytes() != (src / r.image).read_bytes() for r in rows)


def test_lung_pixels_of_the_copy_are_air(phantom_sets, tmp_path) -> None:
    src = phantom_sets["plain"]
    out = preprocess_dataset(src, tmp_path / "nolung", remove_lungs=True)
    row = read_manifest(out / "manifest.csv")[0]
    case = phantom_case(row.patient)
    lungs = lung_mask(case.volume.hu[row.slice_index], case.volume.spacing_mm[1:])
    image = cv2.imread(str(out / row.image), cv2.IMREAD_UNCHANGED)
    original = cv2.imread(str(src / row.image), cv2.IMREAD_UNCHANGED)
    assert lungs.any() and (image[lungs] == apply_window(np.full((1, 1), REMOVED_LUNG_HU), "paper")[0, 0]).all()
    np.testing.assert_array_equal(image[~lungs], original[~lungs])


def test_preprocess_refuses_nothing_to_do_and_unsafe_output(phantom_sets, tmp_path) -> None:
    with pytest.raises(ConfigError, match="nothing to do"):
        preprocess_dataset(phantom_sets["plain"], tmp_path / "x")
    with pytest.raises(OutputError, match="inside the input folder"):
        preprocess_dataset(phantom_sets["plain"], phantom_sets["plain"] / "inner", remove_lungs=True)
