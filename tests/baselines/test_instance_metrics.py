"""Instance F1/IS/IP, Dice, surface Dice and IoM against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from tqgd.baselines.instance_metrics import (
    InstanceCounts,
    MaskMetricsAccumulator,
    border,
    box_iom,
    dice,
    instance_counts,
    iom,
    surface_dice,
)


def _mask(shape: tuple[int, ...], pixels: list[tuple[int, ...]]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for pixel in pixels:
        mask[pixel] = True
    return mask


#: Reference: lesion A = (1,1)+(1,2), lesion B = (5,5). Prediction: P1 = (1,2)+(1,3) on A, P2 = (8,8) off everything.
REF = _mask((10, 10), [(1, 1), (1, 2), (5, 5)])
PRED = _mask((10, 10), [(1, 2), (1, 3), (8, 8)])


def test_instance_counts_by_hand() -> None:
    counts = instance_counts(PRED, REF)
    assert counts == InstanceCounts(n_reference=2, n_predicted=2, reference_found=1, predicted_correct=1)
    assert counts.sensitivity == 0.5 and counts.precision == 0.5 and counts.f1 == 0.5


def test_one_prediction_touching_two_lesions_finds_both() -> None:
    """No one-to-one matching: a predicted bar over two lesions finds both and is itself one correct instance."""
    ref = _mask((5, 9), [(2, 1), (2, 6)])
    pred = _mask((5, 9), [(2, x) for x in range(0, 8)])
    counts = instance_counts(pred, ref)
    assert (counts.reference_found, counts.n_reference, counts.predicted_correct, counts.n_predicted) == (2, 2, 1, 1)
    assert counts.f1 == 1.0


def test_connectivity_decides_what_one_instance_is() -> None:
    diagonal = _mask((4, 4), [(1, 1), (2, 2)])
    assert instance_counts(diagonal, diagonal).n_reference == 2
    assert instance_counts(diagonal, diagonal, connectivity=8).n_reference == 1
    stacked = _mask((2, 3, 3), [(0, 1, 1), (1, 2, 1)])  # neighbours across an edge, not a face
    assert instance_counts(stacked, stacked).n_reference == 2
    assert instance_counts(stacked, stacked, connectivity=26).n_reference == 1
    with pytest.raises(ValueError, match="connectivity 6 is not defined for 2D"):
        instance_counts(diagonal, diagonal, connectivity=6)


def test_f1_is_zero_when_nothing_matches_and_undefined_without_predictions() -> None:
    assert instance_counts(_mask((4, 4), [(0, 0)]), _mask((4, 4), [(3, 3)])).f1 == 0.0
    empty = instance_counts(np.zeros((4, 4)), _mask((4, 4), [(3, 3)]))
    assert empty.sensitivity == 0.0 and empty.precision is None and empty.f1 is None


def test_dice_and_iom_by_hand() -> None:
    assert dice(PRED, REF) == pytest.approx(2 * 1 / (3 + 3))
    assert iom(PRED, REF) == pytest.approx(1 / 3)
    small_inside_big = _mask((6, 6), [(2, 2)]), np.ones((6, 6), dtype=bool)
    assert iom(*small_inside_big) == 1.0 and dice(*small_inside_big) == pytest.approx(2 / 37)
    assert dice(np.zeros((3, 3)), np.zeros((3, 3))) is None and iom(np.zeros((3, 3)), np.zeros((3, 3))) is None
    assert iom(np.zeros((3, 3)), np.ones((3, 3))) == 0.0


def test_surface_dice_by_hand() -> None:
    """Borders: PRED {(1,2), (1,3), (8,8)}, REF {(1,1), (1,2), (5,5)}; distances 0, 1, 4.24 and 1, 0, 4.24 px."""
    assert surface_dice(PRED, REF, (1.0, 1.0), tolerance_mm=1.0) == pytest.approx(4 / 6)
    assert surface_dice(PRED, REF, (1.0, 1.0), tolerance_mm=0.0) == pytest.approx(2 / 6)
    assert surface_dice(PRED, REF, (1.0, 1.0), tolerance_mm=4.3) == 1.0
    assert surface_dice(PRED, REF, (1.0, 0.5), tolerance_mm=0.5) == pytest.approx(4 / 6)  # columns 0.5 mm apart
    assert surface_dice(PRED, np.zeros_like(REF), (1.0, 1.0)) == 0.0
    assert surface_dice(np.zeros_like(REF), np.zeros_like(REF), (1.0, 1.0)) is None
    with pytest.raises(ValueError, match="spacing_mm needs 2 positive values"):
        surface_dice(PRED, REF, (1.0,))


def test_border_of_a_square_is_its_outline() -> None:
    square = np.zeros((7, 7), dtype=bool)
    square[1:6, 1:6] = True
    assert border(square).sum() == 16 and not border(square)[2:5, 2:5].any()
    assert border(np.ones((3, 3), dtype=bool)).sum() == 8  # the image edge counts as outside


def test_box_iom_by_hand() -> None:
    assert box_iom((0, 0, 4, 4), (2, 2, 4, 6)) == 0.5
    assert box_iom((0, 0, 2, 2), (5, 5, 6, 6)) == 0.0
    assert box_iom((0, 0, 10, 10), (3, 3, 4, 4)) == 1.0


def test_accumulator_pools_counts_and_averages_per_image() -> None:
    accumulator = MaskMetricsAccumulator(tolerance_mm=1.0)
    accumulator.add(PRED, REF, (1.0, 1.0))
    accumulator.add(REF, REF, None)  # perfect image, pixel size unknown: no surface Dice
    accumulator.add(np.zeros_like(REF), np.zeros_like(REF), (1.0, 1.0))  # empty image: no Dice, no IoM
    summary = accumulator.result.summary()
    assert summary["instance_sensitivity"] == pytest.approx(3 / 4)
    assert summary["instance_precision"] == pytest.approx(3 / 4)
    assert summary["dice"] == pytest.approx((1 / 3 + 1) / 2)
    assert summary["surface_dice"] == pytest.approx(4 / 6)
    assert summary["iom_median"] == pytest.approx((1 / 3 + 1) / 2) and summary["images"] == 3
