"""Mask -> box extraction checked against scipy.ndimage.label / find_objects computed independently here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from tqgd.data.boxes import Box, boxes_by_slice, mask_to_boxes
from tqgd.errors import ConfigError, LabelError

CROSS_2D = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
SQUARE_2D = np.ones((3, 3), bool)


def expected_2d(mask: np.ndarray, structure: np.ndarray, min_area: int = 1) -> set[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of each component of ``mask`` with at least ``min_area`` pixels, via scipy."""
    labels, _ = ndimage.label(mask, structure=structure)
    boxes = set()
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if (labels[sl] == i).sum() >= min_area:
            boxes.add((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
    return boxes


@settings(max_examples=60, deadline=None)
@given(mask=arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24)), elements=st.integers(0, 1)),
       connectivity=st.sampled_from([4, 8]))
def test_2d_boxes_match_scipy_components(mask, connectivity):
    structure = CROSS_2D if connectivity == 4 else SQUARE_2D
    boxes = mask_to_boxes(mask, connectivity=connectivity)
    assert {b.xyxy for b in boxes} == expected_2d(mask, structure)
    assert len(boxes) == ndimage.label(mask, structure=structure)[1]
    assert all(b.score == 1.0 and b.class_id == 0 and b.slice_index == 0 for b in boxes)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("connectivity", [6, 26])
def test_3d_boxes_are_slice_pieces_tagged_with_their_scipy_lesion(seed, connectivity):
    rng = np.random.default_rng(seed)
    mask = (rng.random((6, 20, 20)) < 0.15).astype(np.uint8)
    boxes = mask_to_boxes(mask, connectivity=connectivity)
    in_plane = CROSS_2D if connectivity == 6 else SQUARE_2D
    by_slice = boxes_by_slice(boxes)
    for z in range(mask.shape[0]):
        assert {b.xyxy for b in by_slice.get(z, [])} == expected_2d(mask[z], in_plane)
    structure_3d = ndimage.generate_binary_structure(3, 1 if connectivity == 6 else 3)
    lesions, n_lesions = ndimage.label(mask, structure=structure_3d)
    scipy_lesion_of_box = []
    for box in boxes:  # find the box's own 2D piece with scipy, then the 3D lesion that holds it
        pieces, _ = ndimage.label(mask[box.slice_index], structure=in_plane)
        (piece,) = [i for i, sl in enumerate(ndimage.find_objects(pieces), start=1)
                    if (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop) == box.xyxy]
        (lesion,) = np.unique(lesions[box.slice_index][pieces == piece])
        scipy_lesion_of_box.append(int(lesion))
    # same lesion id <=> same scipy lesion, and every scipy lesion has boxes
    pairs = set(zip((b.lesion_id for b in boxes), scipy_lesion_of_box, strict=True))
    assert len(pairs) == len({b.lesion_id for b in boxes}) == len(set(scipy_lesion_of_box)) == n_lesions


def test_diagonal_voxels_are_two_lesions_with_6_and_one_with_26_connectivity():
    mask = np.zeros((3, 5, 5), np.uint8)
    mask[0, 1, 1] = mask[1, 2, 2] = mask[2, 3, 3] = 1
    six, twenty_six = mask_to_boxes(mask, connectivity=6), mask_to_boxes(mask, connectivity=26)
    assert [b.xyxy for b in six] == [b.xyxy for b in twenty_six] == [(1, 1, 2, 2), (2, 2, 3, 3), (3, 3, 4, 4)]
    assert len({b.lesion_id for b in six}) == 3
    assert len({b.lesion_id for b in twenty_six}) == 1


def test_in_plane_diagonal_splits_into_two_boxes_with_6_but_one_with_26():
    mask = np.zeros((1, 4, 4), np.uint8)
    mask[0, 0, 0] = mask[0, 1, 1] = 1
    assert [b.xyxy for b in mask_to_boxes(mask, connectivity=6)] == [(0, 0, 1, 1), (1, 1, 2, 2)]
    assert [b.xyxy for b in mask_to_boxes(mask, connectivity=26)] == [(0, 0, 2, 2)]


def test_one_pixel_lesion_gives_a_one_pixel_box():
    mask = np.zeros((4, 9, 9), np.uint8)
    mask[2, 5, 7] = 1
    (box,) = mask_to_boxes(mask)
    assert (box.x0, box.y0, box.x1, box.y1, box.slice_index, box.area_px) == (7, 5, 8, 6, 2, 1)
    assert box.width == box.height == 1


def test_lesion_touching_the_borders_keeps_the_edge_pixels():
    mask = np.zeros((2, 10, 12), np.uint8)
    mask[1, 7:, 10:] = 1  # bottom-right corner
    mask[0, :2, :3] = 1  # top-left corner
    boxes = mask_to_boxes(mask)
    assert [(b.slice_index, b.xyxy) for b in boxes] == [(0, (0, 0, 3, 2)), (1, (10, 7, 12, 10))]


def test_empty_masks_give_no_boxes():
    assert mask_to_boxes(np.zeros((5, 16, 16), np.uint8)) == []
    assert mask_to_boxes(np.zeros((16, 16), bool)) == []


@pytest.mark.parametrize("min_area", [1, 2, 4, 9])
def test_min_area_filter_matches_scipy_piece_sizes(min_area):
    mask = (np.random.default_rng(3).random((32, 32)) < 0.3).astype(np.uint8)
    boxes = mask_to_boxes(mask, connectivity=8, min_area_px=min_area)
    assert {b.xyxy for b in boxes} == expected_2d(mask, SQUARE_2D, min_area)
    assert all(b.area_px >= min_area for b in boxes)


def test_classes_are_components_of_each_label_value():
    mask = np.zeros((1, 6, 8), np.uint8)
    mask[0, 1:3, 1:3] = 1
    mask[0, 1:3, 3:5] = 2  # touches label 1: a separate lesion of another artery
    mask[0, 4, 6] = 3
    boxes = mask_to_boxes(mask, class_of_value={1: 0, 2: 1, 3: 2})
    assert [(b.class_id, b.xyxy) for b in boxes] == [(0, (1, 1, 3, 3)), (1, (3, 1, 5, 3)), (2, (6, 4, 7, 5))]
    assert len({b.lesion_id for b in boxes}) == 3
    (merged,) = mask_to_boxes(mask[:, :, :5])  # binary: the touching labels form one lesion
    assert merged.xyxy == (1, 1, 5, 3)


def test_unmapped_label_value_is_a_label_error_naming_the_file():
    mask = np.array([[0, 1], [4, 0]], np.uint8)
    with pytest.raises(LabelError, match=r"ref\.mhd: mask holds label value\(s\) \[4\]"):
        mask_to_boxes(mask, class_of_value={1: 0, 2: 1, 3: 2}, source="ref.mhd")


def test_probability_map_gives_mean_or_max_confidence():
    mask = np.zeros((8, 8), np.uint8)
    mask[1:3, 1:3] = 1
    mask[6, 6] = 1
    prob = np.random.default_rng(0).random((8, 8))
    mean_boxes = mask_to_boxes(mask, prob=prob, confidence="mean")
    max_boxes = mask_to_boxes(mask, prob=prob, confidence="max")
    assert mean_boxes[0].score == pytest.approx(prob[1:3, 1:3].mean())
    assert max_boxes[0].score == pytest.approx(prob[1:3, 1:3].max())
    assert mean_boxes[1].score == max_boxes[1].score == pytest.approx(prob[6, 6])
    assert all(b.score == 1.0 for b in mask_to_boxes(mask))


def test_probability_map_of_the_wrong_shape_or_bad_options_are_rejected():
    mask = np.ones((4, 4), np.uint8)
    with pytest.raises(LabelError, match="probability map shape"):
        mask_to_boxes(mask, prob=np.ones((4, 5)))
    with pytest.raises(ConfigError, match="confidence must be one of"):
        mask_to_boxes(mask, prob=np.ones((4, 4)), confidence="median")
    with pytest.raises(ConfigError, match="connectivity 6 is not defined for 2D"):
        mask_to_boxes(mask, connectivity=6)
    with pytest.raises(ConfigError, match="connectivity 8 is not defined for 3D"):
        mask_to_boxes(mask[None], connectivity=8)
    with pytest.raises(LabelError, match="whole numbers"):
        mask_to_boxes(np.full((3, 3), 0.5))


def test_box_in_crop_clips_and_shifts_or_drops():
    box = Box(x0=10, y0=20, x1=15, y1=26)
    assert box.in_crop(12, 18, 40, 40).xyxy == (0, 2, 3, 8)
    assert box.in_crop(0, 0, 100, 100).xyxy == box.xyxy
    assert box.in_crop(15, 0, 40, 40) is None
