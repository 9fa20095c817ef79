"""Phantom ground truth follows OrCaScore's definition, checked independently on the final image with scipy."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from tqgd.data.orcascore import ARTERY_LABELS
from tqgd.data.phantom import CALCIUM_THRESHOLD_HU, PhantomCase, PhantomConfig, Tissue, generate_patient

SIX_CONNECTED = ndimage.generate_binary_structure(3, 1)

#: (seed, config) pairs covering gated, non-gated (motion), overlapping slices and low kVp, at 128 px.
CASES = {
    "gated": (11, PhantomConfig(image_size=128)),
    "gated-2": (12, PhantomConfig(image_size=128)),
    "non-gated": (13, PhantomConfig(image_size=128, gated=False)),
    "non-gated-2": (14, PhantomConfig(image_size=128, gated=False)),
    "overlapping-80kv": (15, PhantomConfig(image_size=128, overlap_share=1.0, kvp_choices=(80,), kvp_weights=(1.0,))),
    "non-gated-256": (16, PhantomConfig(image_size=256, gated=False, lesions_per_patient=(6, 8))),
}


@functools.lru_cache(maxsize=None)
def case(name: str) -> PhantomCase:
    seed, config = CASES[name]
    return generate_patient(seed, config)


@pytest.fixture(params=sorted(CASES))
def phantom(request) -> PhantomCase:
    return case(request.param)


def test_every_labelled_voxel_is_above_130_hu(phantom):
    hu, labels = phantom.volume.hu, phantom.labels
    assert labels.any(), "a patient without any labelled lesion tests nothing"
    assert (hu[labels > 0] > CALCIUM_THRESHOLD_HU).all()
    assert set(np.unique(labels)) <= {0, 1, 2, 3}


def test_each_lesion_is_one_six_connected_component_matching_its_facts(phantom):
    hu, labels = phantom.volume.hu, phantom.labels
    components, count = ndimage.label(labels > 0, structure=SIX_CONNECTED)
    assert count == len(phantom.lesions)  # touching lesions would merge into fewer components
    seen = set()
    for lesion in phantom.lesions:
        z0, y0, x0, z1, y1, x1 = lesion.bbox_zyx
        ids = set(np.unique(components[z0:z1, y0:y1, x0:x1])) - {0}
        assert len(ids) == 1, f"bbox of lesion at {lesion.centroid_zyx} holds components {ids}"
        component = components == ids.pop()
        seen.add(int(components[component][0]))
        assert int(component.sum()) == lesion.voxel_count
        assert float(hu[component].max()) == lesion.peak_hu
        assert float(hu[component].mean()) == pytest.approx(lesion.mean_hu)
        assert set(np.unique(labels[component])) == {lesion.label}
        assert ARTERY_LABELS[lesion.label] == lesion.artery
        assert np.allclose(np.argwhere(component).mean(axis=0), lesion.centroid_zyx)
        per_slice = {int(k): int(component[k].sum()) for k in range(component.shape[0]) if component[k].any()}
        assert {s.slice_index: s.area_px for s in lesion.slices} == per_slice
        spacing = phantom.volume.spacing_mm
        assert lesion.volume_mm3 == pytest.approx(lesion.voxel_count * np.prod(spacing))
    assert len(seen) == len(phantom.lesions)


def test_no_distractor_voxel_is_labelled_and_distractors_are_calcium_bright(phantom):
    hu, labels, ids = phantom.volume.hu, phantom.labels, phantom.distractor_ids
    assert not labels[ids > 0].any()
    kinds = {d.kind for d in phantom.distractors}
    assert "bone" in kinds and "noise_spike" in kinds
    for number, distractor in enumerate(phantom.distractors, start=1):
        voxels = ids == number
        assert int(voxels.sum()) == distractor.voxel_count > 0
        assert (hu[voxels] > CALCIUM_THRESHOLD_HU).all(), distractor.kind
        assert float(hu[voxels].max()) == distractor.peak_hu
    bone = phantom.tissue == Tissue.BONE
    assert not labels[bone].any()


def test_noise_spikes_are_isolated_single_voxels(phantom):
    hu, ids = phantom.volume.hu, phantom.distractor_ids
    bright, _ = ndimage.label(hu > CALCIUM_THRESHOLD_HU, structure=SIX_CONNECTED)
    for number, distractor in enumerate(phantom.distractors, start=1):
        if distractor.kind != "noise_spike":
            continue
        position = tuple(np.argwhere(ids == number)[0])
        assert distractor.voxel_count == 1
        assert int((bright == bright[position]).sum()) == 1


def test_lesions_lie_inside_the_heart_box_of_their_slice(phantom):
    for k in np.nonzero(phantom.labels.any(axis=(1, 2)))[0]:
        box = phantom.heart_boxes[k]
        assert box is not None
        x0, y0, x1, y1 = box
        ys, xs = np.nonzero(phantom.labels[k])
        assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1


def test_heart_boxes_cover_a_contiguous_run_of_slices(phantom):
    present = [k for k, box in enumerate(phantom.heart_boxes) if box is not None]
    assert present and present == list(range(present[0], present[-1] + 1))
    size = phantom.volume.shape[1]
    for k in present:
        x0, y0, x1, y1 = phantom.heart_boxes[k]
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
