"""Phantom volumes: determinism, scan geometry, tissue HU, gated vs non-gated noise, option errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from tqgd.data.phantom import PhantomConfig, Tissue, generate_patient
from tqgd.errors import ConfigError

SMALL = PhantomConfig(image_size=128)
ONLY_120_KVP = dict(kvp_choices=(120,), kvp_weights=(1.0,))


@functools.lru_cache(maxsize=None)
def full_size(seed: int, gated: bool):
    return generate_patient(seed, PhantomConfig(gated=gated))


def test_same_seed_gives_identical_arrays_and_facts():
    first, second = generate_patient(5, SMALL), generate_patient(5, SMALL)
    assert np.array_equal(first.volume.hu, second.volume.hu)
    assert np.array_equal(first.labels, second.labels)
    assert np.array_equal(first.tissue, second.tissue)
    assert first.heart_boxes == second.heart_boxes
    assert [f.to_dict() for f in first.lesions] == [f.to_dict() for f in second.lesions]
    assert [f.to_dict() for f in first.distractors] == [f.to_dict() for f in second.distractors]
    assert first.volume.meta.series_uid == second.volume.meta.series_uid


def test_different_seeds_give_different_patients():
    first, second = generate_patient(5, SMALL), generate_patient(6, SMALL)
    assert first.volume.meta.series_uid != second.volume.meta.series_uid
    same_shape = first.volume.shape == second.volume.shape
    assert not same_shape or not np.array_equal(first.volume.hu, second.volume.hu)


@pytest.mark.parametrize("gated, pixel_range_mm", [(True, (0.40, 0.55)), (False, (0.58, 0.72))])
def test_full_size_geometry_is_a_realistic_cardiac_scan(gated, pixel_range_mm):
    case = full_size(1, gated)
    volume, acq = case.volume, case.acquisition
    n_slices, rows, cols = volume.shape
    assert (rows, cols) == (512, 512)
    dz, dy, dx = volume.spacing_mm
    assert dy == dx and pixel_range_mm[0] <= dx <= pixel_range_mm[1]
    assert dz in (2.5, 3.0) and acq.slice_thickness_mm == dz
    assert 30 <= n_slices <= 62
    assert volume.meta.kvp in (80.0, 100.0, 120.0)
    assert np.allclose(np.diff(acq.z_mm), dz)
    assert volume.index_to_patient(np.array([n_slices - 1, 0, 0]))[2] == pytest.approx(acq.z_mm[-1])
    assert volume.hu.dtype == np.float32 and np.array_equal(volume.hu, np.rint(volume.hu))
    assert -1024 <= volume.hu.min() and volume.hu.max() <= 3071


def test_overlapping_reconstruction_has_thicker_slices_than_their_spacing():
    case = generate_patient(3, PhantomConfig(image_size=128, overlap_share=1.0))
    assert case.volume.spacing_mm[0] == 1.5
    assert case.volume.meta.slice_thickness_mm == case.acquisition.slice_thickness_mm == 3.0
    assert 60 <= case.volume.shape[0] <= 124


def test_small_image_size_keeps_anatomy_in_millimetres():
    small, large = generate_patient(2, SMALL), full_size(2, True)
    assert small.volume.shape[1:] == (128, 128)
    assert small.volume.spacing_mm[2] == pytest.approx(4 * large.volume.spacing_mm[2], rel=1e-3)
    field_of_view_mm = [c.volume.shape[2] * c.volume.spacing_mm[2] for c in (small, large)]
    assert field_of_view_mm[0] == pytest.approx(field_of_view_mm[1], rel=1e-3)
    assert small.volume.shape[0] == large.volume.shape[0]


def test_tissue_hu_fall_in_textbook_ranges():
    case = full_size(1, True)
    hu, tissue = case.volume.hu, case.tissue
    textbook_hu = {Tissue.LUNG: (-950, -700), Tissue.FAT: (-150, -50), Tissue.MUSCLE: (20, 70),
                   Tissue.BLOOD: (20, 60), Tissue.BONE: (200, 1900)}
    for code, (low, high) in textbook_hu.items():
        region = ndimage.minimum_filter((tissue == code).astype(np.uint8), size=(1, 3, 3)) > 0
        assert region.sum() > 1000, code.name
        median = float(np.median(hu[region]))
        assert low <= median <= high, f"{code.name}: median {median} HU outside {low}..{high}"
    assert np.median(hu[tissue == Tissue.AIR]) <= -950


def _noise_std(case) -> float:
    """Std of HU deep inside the heart's blood pool (homogeneous 40 HU before noise)."""
    pool = ndimage.minimum_filter((case.tissue == Tissue.BLOOD).astype(np.uint8), size=(1, 7, 7)) > 0
    pool &= ndimage.maximum_filter(case.labels, size=(3, 9, 9)) == 0
    pool &= ndimage.maximum_filter(case.distractor_ids, size=(3, 9, 9)) == 0  # look-alikes bloom into the blood
    return float(np.std(case.volume.hu[pool]))


def test_non_gated_scans_are_noisier_than_gated_scans():
    gated = generate_patient(8, PhantomConfig(image_size=256, **ONLY_120_KVP))
    non_gated = generate_patient(8, PhantomConfig(image_size=256, gated=False, **ONLY_120_KVP))
    gated_std, non_gated_std = _noise_std(gated), _noise_std(non_gated)
    assert non_gated_std > 1.3 * gated_std
    assert gated_std == pytest.approx(gated.acquisition.noise_std_hu, rel=0.2)
    assert non_gated_std == pytest.approx(non_gated.acquisition.noise_std_hu, rel=0.2)


def test_non_gated_scans_smear_the_heart_and_gated_scans_do_not():
    assert not generate_patient(4, SMALL).acquisition.motion_mm.any()
    moving = generate_patient(4, PhantomConfig(image_size=128, gated=False)).acquisition.motion_mm
    assert (moving >= 1.5).all() and (moving <= 4.5).all()


@pytest.mark.parametrize("options, message", [
    (dict(image_size=100), "multiple of 16"),
    (dict(image_size=2048), "multiple of 16"),
    (dict(lesions_per_patient=(3, 1)), "lesions_per_patient"),
    (dict(kvp_choices=(140,), kvp_weights=(1.0,)), "kvp_choices"),
    (dict(overlap_share=1.5), "overlap_share"),
    (dict(slice_spacing_mm=(10.0,)), "slice_spacing_mm"),
])
def test_bad_options_are_refused_with_the_option_named(options, message):
    with pytest.raises(ConfigError, match=message):
        PhantomConfig(**options)


def test_short_clipped_scans_generate_for_every_seed() -> None:
    """A scan shorter than the heart (clip_heart) may end below the ascending-aorta plaque height; it must still
    generate (an empty height range used to reach numpy as ``high - low < 0``)."""
    for seed in range(8):
        case = generate_patient(seed, PhantomConfig(image_size=128, scan_length_mm=(40.0, 50.0), clip_heart=True))
        assert case.volume.shape[0] >= 13
