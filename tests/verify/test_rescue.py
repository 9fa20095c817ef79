"""rescue_rows: unboxed components the verifier is sure of become seed rows; boxed, small or doubtful ones do not."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tqgd.verify.rescue import rescue_rows


class ByVolume:
    """Stub verifier: P(calcium) 0.99 for components over 40 mm³ (log1p volume > 3.7), else 0.2; counts its calls."""

    def __init__(self):
        self.asked = 0

    def probabilities(self, patches, scalars):
        self.asked += len(patches)
        return np.where(scalars[:, 0] > 3.7, 0.99, 0.2)


def _hu() -> np.ndarray:
    hu = np.full((10, 60, 60), 30.0, dtype=np.float32)
    hu[2:6, 10:16, 10:16] = 600.0        # 144 voxels...
    hu[4, 12:14, 16:26] = 600.0          # ...and 20 on slice 4: 164 mm³, unboxed, scored 0.99 -> seeded on slice 4
    hu[3:5, 40:44, 40:44] = 500.0        # 32 voxels, 32 mm³: scored 0.2 -> left alone
    hu[5:7, 40:43, 10:13] = 500.0        # 18 voxels: boxed below -> never scored
    hu[8, 50, 50:53] = 500.0             # 3 voxels: under min_voxels
    return hu


def test_unboxed_sure_components_are_seeded_on_their_largest_slice():
    hu = _hu()
    boxed = {6: np.array([[10, 40, 13, 43, 0.6, 0]], dtype=np.float64)}
    verifier = ByVolume()
    seeds, scores, counts = rescue_rows(hu, (1.0, 1.0, 1.0), boxed, verifier, (0, 0, 60, 60), conf=0.2, class_id=0,
                                        min_score=0.9, min_voxels=10)
    assert counts == {"scored_unboxed_components": 2, "rescued_components": 1} and verifier.asked == 2
    labels, _ = ndimage.label(hu >= 130, structure=ndimage.generate_binary_structure(3, 1))
    big = labels == labels[2, 10, 10]
    z = int(np.argmax(big.sum(axis=(1, 2))))
    ys, xs = np.nonzero(big[z])
    assert list(seeds) == [z] == [4]
    np.testing.assert_array_equal(seeds[z], [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.2, 0]])
    np.testing.assert_allclose(scores[z], [0.99])


def test_crop_offsets_and_separate_pieces():
    """Components are searched in the crop only, rows come back in full-slice pixels, one seed per in-plane piece."""
    hu = np.full((6, 50, 50), 30.0, dtype=np.float32)
    hu[2:4, 20:26, 20:23] = 600.0        # slices 2-3: two pieces of 18 px each...
    hu[2:4, 20:26, 26:29] = 600.0
    hu[1, 20:22, 20:29] = 600.0          # ...joined on slice 1 (18 px): one component, largest on slice 2
    hu[1:4, 2:8, 2:8] = 600.0            # outside the crop
    seeds, _, counts = rescue_rows(hu, (1.0, 1.0, 1.0), {}, ByVolume(), (15, 15, 45, 45), conf=0.3, class_id=2,
                                   min_score=0.9, min_voxels=10)
    assert counts["scored_unboxed_components"] == 1
    assert list(seeds) == [2]
    np.testing.assert_array_equal(seeds[2], [[20, 20, 23, 26, 0.3, 2], [26, 20, 29, 26, 0.3, 2]])
    seeds, _, _ = rescue_rows(hu, (1.0, 1.0, 1.0), {}, ByVolume(), (15, 15, 45, 45), 0.3, 2, min_score=0.999)
    assert seeds == {}


def test_small_faint_components_are_not_scored():
    """Under FAINT_VOXELS voxels a component needs a voxel of FAINT_PEAK_HU or more to be shown to the verifier."""
    from tqgd.verify.rescue import FAINT_PEAK_HU, FAINT_VOXELS

    hu = np.full((6, 40, 40), 30.0, dtype=np.float32)
    hu[2, 5:7, 5:8] = FAINT_PEAK_HU - 5          # 6 voxels, faint: skipped
    hu[2, 20:22, 5:8] = FAINT_PEAK_HU             # 6 voxels at the floor: scored
    hu[2:4, 5:10, 25:27] = FAINT_PEAK_HU - 5      # 20 voxels, faint but not small: scored
    verifier = ByVolume()
    _, _, counts = rescue_rows(hu, (1.0, 1.0, 1.0), {}, verifier, (0, 0, 40, 40), 0.3, 0, min_voxels=4)
    assert FAINT_VOXELS > 6 and counts["scored_unboxed_components"] == 2 and verifier.asked == 2
