"""verify_rows: boxes of rejected components go, the rest stay; the shipped verifier loads and scores."""

from __future__ import annotations

import numpy as np
import pytest

from tqgd.errors import CheckpointError
from tqgd.verify.runtime import SHIPPED_VERIFIER, LesionVerifier, verify_rows


class ByLength:
    """Stub verifier: P(calcium) 0.01 for components longer than 4 slices (scalar 1 = z-extent in cm), else 0.9."""

    def __init__(self):
        self.calls = 0

    def probabilities(self, patches, scalars):
        self.calls += 1
        assert patches.shape[1:] == (2, 15, 48, 48) and len(patches) == len(scalars)
        return np.where(scalars[:, 1] > 1.2, 0.01, 0.9)


def _volume() -> np.ndarray:
    """(10, 40, 40): a compact deposit (slices 3-5), a rod over all 10 slices, a 2-voxel speck on slice 7."""
    hu = np.full((10, 40, 40), 40.0, dtype=np.float32)
    hu[3:6, 8:12, 8:12] = 500.0
    hu[:, 30:33, 30:33] = 400.0
    hu[7, 20, 20:22] = 300.0
    return hu


def _row(x0, y0, x1, y1, conf):
    return [x0, y0, x1, y1, conf, 0]


ROWS = {4: np.array([_row(8, 8, 12, 12, 0.8), _row(30, 30, 33, 33, 0.6)]),
        5: np.array([_row(30, 30, 33, 33, 0.3)]),
        7: np.array([_row(20, 20, 22, 21, 0.5), _row(0, 0, 3, 3, 0.4)])}  # the speck, and a box on no calcium


def test_boxes_on_rejected_components_are_dropped_and_counted():
    stub = ByLength()
    out, counts, scores = verify_rows(_volume(), (3.0, 0.5, 0.5), ROWS, stub, threshold=0.05)
    assert stub.calls == 1  # every component scored in one batch
    assert counts == {"checked_components": 2, "rejected_components": 1, "dropped_boxes": 2}
    assert sorted(out) == [4, 7]
    assert np.array_equal(out[4], ROWS[4][:1]) and np.array_equal(out[7], ROWS[7])  # speck and empty box untouched
    # the kept rows' scores, row for row: the deposit's, then nothing scored for the speck and the empty box
    assert scores.keys() == out.keys() and scores[4].tolist() == [0.9] and np.isnan(scores[7]).all()


def test_a_crop_searches_its_grown_region_with_the_same_outcome():
    from tqgd.verify.runtime import REGION_MARGIN_MM, search_region

    assert search_region((10, 12, 20, 22), (3.0, 0.5, 0.5), (40, 40)) == (0, 0, 40, 40)
    grow = int(np.ceil(REGION_MARGIN_MM / 0.5))
    assert search_region((100, 120, 200, 220), (3.0, 0.5, 0.5), (512, 512)) == (100 - grow, 120 - grow, 200 + grow,
                                                                               220 + grow)
    hu = np.pad(_volume(), ((0, 0), (60, 60), (70, 70)), constant_values=40.0)
    rows = {z: r + np.array([70, 60, 70, 60, 0, 0]) for z, r in ROWS.items()}
    whole, counts, _ = verify_rows(hu, (3.0, 0.5, 0.5), rows, ByLength(), 0.05)
    cropped, cropped_counts, _ = verify_rows(hu, (3.0, 0.5, 0.5), rows, ByLength(), 0.05, crop_xyxy=(70, 60, 110, 100))
    assert counts == cropped_counts and whole.keys() == cropped.keys()
    assert all(np.array_equal(whole[z], cropped[z]) for z in whole)


def test_verifying_then_keeping_c_equals_keeping_c_then_verifying():
    for conf in (0.0, 0.35, 0.55, 0.7):
        kept = {z: rows[rows[:, 4] >= conf] for z, rows in ROWS.items()}
        kept = {z: rows for z, rows in kept.items() if len(rows)}
        first, _, _ = verify_rows(_volume(), (3.0, 0.5, 0.5), kept, ByLength(), 0.05)
        everything, _, _ = verify_rows(_volume(), (3.0, 0.5, 0.5), ROWS, ByLength(), 0.05)
        then = {z: rows[rows[:, 4] >= conf] for z, rows in everything.items()}
        then = {z: rows for z, rows in then.items() if len(rows)}
        assert first.keys() == then.keys() and all(np.array_equal(first[z], then[z]) for z in first)


def test_nothing_to_check_leaves_rows_alone():
    stub = ByLength()
    out, counts, scores = verify_rows(_volume(), (3.0, 0.5, 0.5), {}, stub, 0.05)
    assert out == {} == scores and counts["checked_components"] == 0 and stub.calls == 0


def test_unusable_verifier_files_are_refused_with_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        LesionVerifier(tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(CheckpointError, match="not a readable ONNX"):
        LesionVerifier(broken)
    assert broken.read_bytes() == b"not an onnx file"  # input untouched


def test_the_shipped_verifier_scores_a_deposit_above_a_long_rod():
    verifier = LesionVerifier(SHIPPED_VERIFIER)
    assert 0 < verifier.threshold < 0.5 and "phantom" in verifier.record["training_data"]
    out, counts, _ = verify_rows(_volume(), (3.0, 0.6, 0.6), ROWS, verifier, verifier.threshold)
    assert counts["checked_components"] == 2
    from tqgd.data.lesion_patches import candidate_patch, find_candidates

    hu = _volume()
    labels, found = find_candidates(hu)
    built = [candidate_patch(hu, labels, c, (3.0, 0.6, 0.6)) for c in found]
    scores = verifier.probabilities(np.stack([p for p, _ in built]), np.stack([s for _, s in built]))
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
