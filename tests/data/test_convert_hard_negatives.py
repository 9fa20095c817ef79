"""Hard negatives: ``--negatives hard:<ratio>`` keeps the calcium-free slices with the most >= 130 HU look-alikes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from tests.data.orca_synthetic import SPACING_XYZ_MM
from tqgd.data.convert.manifest import read_manifest
from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.data.convert.slices import choose_negatives, parse_negatives
from tqgd.data.orcascore import case_id, image_path, reference_path
from tqgd.errors import ConfigError

SLICES, SIZE = 16, 64


def _case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Soft tissue with calcium on slices 2-3 and 10, and 0-7 unlabelled bright blobs on each other slice."""
    rng = np.random.default_rng(seed)
    hu = np.full((SLICES, SIZE, SIZE), 40, np.int16)
    labels = np.zeros_like(hu, dtype=np.uint8)
    labels[2:4, 30:33, 30:33] = 1
    labels[10, 40:42, 20:22] = 2
    for z in range(SLICES):
        if labels[z].any():
            continue
        for k in range(int(rng.integers(0, 8))):
            y, x = 4 + 7 * k, int(rng.integers(4, SIZE - 6))
            hu[z, y:y + 3, x:x + 3] = 600
    hu[labels > 0] = 450
    return hu, labels


def _write(array: np.ndarray, path: Path) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING_XYZ_MM)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hard") / "src"
    for number in range(1, 4):
        hu, labels = _case(number)
        _write(hu, image_path(root, case_id(1, number)))
        _write(labels, reference_path(root, case_id(1, number)))
    return root


def _blob_counts(src: Path, patient: str) -> dict[int, int]:
    hu = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path(src, patient))))
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(reference_path(src, patient))))
    return {z: ndimage.label(hu[z] >= 130, structure=np.ones((3, 3)))[1] for z in range(SLICES) if not labels[z].any()}


def test_hard_negatives_are_the_slices_with_most_lookalikes(src, tmp_path):
    convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, negatives="hard:1"))
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    for patient in sorted({r.patient for r in rows}):
        counts = _blob_counts(src, patient)
        chosen = [r.slice_index for r in rows if r.patient == patient and not r.n_boxes]
        assert len(chosen) == 3  # ratio 1: as many negatives as the 3 calcium slices
        skipped = set(counts) - set(chosen)
        assert min(counts[z] for z in chosen) >= max(counts[z] for z in skipped)
        assert sum(counts[z] for z in chosen) >= sum(sorted(counts.values())[-3:])


def test_hard_and_random_negatives_take_the_same_number_of_slices(src, tmp_path):
    hard = convert_orcascore(src, tmp_path / "hard", OrcaConvertOptions(folds=3, negatives="hard:0.5"))
    plain = convert_orcascore(src, tmp_path / "plain", OrcaConvertOptions(folds=3, negatives="0.5"))
    assert hard.images == plain.images and hard.positive_images == plain.positive_images


def test_hard_spec_parsing():
    assert parse_negatives("hard:0.5") == 0.5 and parse_negatives("HARD: all") is None
    with pytest.raises(ConfigError, match="hard:<ratio>"):
        parse_negatives("hard:lots")


def test_difficulty_ties_keep_the_seeded_random_order():
    flat = choose_negatives(range(20), 4, 1.0, seed=3, patient="P", difficulty=lambda z: 0)
    assert len(flat) == 4 and flat == choose_negatives(range(20), 4, 1.0, seed=3, patient="P", difficulty=lambda z: 0)
    assert choose_negatives(range(20), 4, 1.0, seed=3, patient="P", difficulty=lambda z: z) == [16, 17, 18, 19]
