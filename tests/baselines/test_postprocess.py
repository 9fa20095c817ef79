"""The geometric prior: boxes and mask components off the artery mask are dropped; phantom artery masks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tests.baselines.phantom_data import phantom_case
from tqgd.baselines.arteries import phantom_artery_mask, phantom_sidecar
from tqgd.baselines.postprocess import drop_boxes_off_mask, drop_components_off_mask

ARTERY = np.zeros((20, 30), dtype=bool)
ARTERY[5:8, 2:25] = True  # a horizontal vessel, rows 5-7


def test_a_box_off_the_artery_is_dropped_and_one_on_it_kept() -> None:
    on = [4, 3, 7, 6, 0.9, 0]  # holds rows 3-5: touches row 5
    off = [4, 10, 9, 15, 0.8, 0]  # rows 10-14
    beside = [25, 5, 29, 8, 0.7, 0]  # columns 25-28: the vessel ends at column 24
    kept = drop_boxes_off_mask(np.array([on, off, beside]), ARTERY)
    np.testing.assert_array_equal(kept, np.array([on]))
    assert drop_boxes_off_mask(np.zeros((0, 6)), ARTERY).shape == (0, 6)


def test_a_component_is_kept_only_if_its_own_pixels_touch_the_artery() -> None:
    mask = np.zeros_like(ARTERY)
    mask[7:9, 10:12] = True  # overlaps row 7
    mask[12:14, 3:5] = True  # off
    mask[3, 26] = mask[4, 27] = True  # diagonal pair near the vessel's end: its box holds no artery pixel either
    kept = drop_components_off_mask(mask, ARTERY)
    expected = np.zeros_like(mask)
    expected[7:9, 10:12] = True
    np.testing.assert_array_equal(kept, expected)
    with pytest.raises(ValueError, match="differs"):
        drop_components_off_mask(mask, ARTERY[:10])


@pytest.fixture(scope="module")
def artery_and_case(phantom_sets):
    sidecar = phantom_sidecar(phantom_sets["phantom"], "TRV2P1")
    return phantom_artery_mask(sidecar), phantom_case("TRV2P1"), sidecar


def test_phantom_artery_mask_holds_the_lesions_and_no_distractor(artery_and_case) -> None:
    artery, case, sidecar = artery_and_case
    assert artery.shape == case.labels.shape and case.labels.any()
    assert artery[case.labels > 0].all()
    distractor_kinds = {d["kind"] for d in sidecar["distractors"]}
    assert {"noise_spike", "bone"} <= distractor_kinds
    for number, facts in enumerate(case.distractors, start=1):
        if facts.kind in ("noise_spike", "bone"):
            assert not artery[case.distractor_ids == number].any(), facts.kind
    assert artery.mean() < 0.05  # a thin tube, not the heart


def test_artery_mask_follows_the_centre_line(artery_and_case) -> None:
    """The voxel holding each exported centre-line point is artery; the mask has at most one piece per artery."""
    artery, case, sidecar = artery_and_case
    geometry = sidecar["geometry"]
    spacing_xyz = np.array(geometry["spacing_mm"][::-1])
    for points in (np.array(a["centreline_mm"]) for a in sidecar["arteries"].values()):
        index = np.round((points - np.array(geometry["origin_mm"])) / spacing_xyz).astype(int)
        inside = (index >= 0).all(axis=1) & (index < np.array(geometry["shape_zyx"][::-1])).all(axis=1)
        x, y, z = index[inside].T
        assert artery[z, y, x].all()
    assert ndimage.label(artery, structure=np.ones((3, 3, 3)))[1] <= 3
