"""Calcium the detector left unboxed: components in the model's crop that no kept box touches, scored by the lesion
verifier, and seeded as detections when it is sure of them (``rescue_rows``).

The slice detector misses some large deposits outright (stop 31: a 316-voxel, 1215 HU LAD lesion got no box on any
of its slices, even at confidence 0.01), and a missed 500-Agatston lesion moves a patient's risk category on its own.
The verifier was trained on every >= 130 HU component near the heart, boxed or not, so it can judge these too; only
components it scores at least ``min_score``, of at least ``min_voxels`` and at most ``RESCUE_MAX_MM3`` are seeded:
boxes on the slice holding the component's largest piece, which ``tqgd.engine.lesion_tips.complete_tips`` then
completes on its other slices. The default score is strict (stop 32, the shipped verifier on ten held-out sets'
unboxed components: at 0.99, 13 lesions against 4 look-alikes; at 0.95, 21 against 15; a missed 316-voxel lesion
scored 0.67 while aortic-root and wall calcium scored up to 0.99), so rescue mostly finds small lost deposits.
"""

from __future__ import annotations

import numpy as np

from tqgd.data.lesion_patches import MIN_VOXELS, candidate_patch, find_candidates
from tqgd.verify.runtime import LesionVerifier, search_region

#: Verifier score from which ``tqgd detect`` seeds an unboxed component.
RESCUE_SCORE = 0.99
#: Smallest unboxed component scored (voxels): the verifier's own floor; specks are left to the detector.
RESCUE_MIN_VOXELS = MIN_VOXELS
#: Components under ``FAINT_VOXELS`` voxels are scored only with a voxel of ``FAINT_PEAK_HU`` or more: in a noisy
#: non-gated scan thousands of 4-9 voxel noise clusters peak at 130-190 HU (median 163) and each costs a verifier call
#: (~12 ms on one core; 1.5 -> 20 s for one scan); of the lesions the verifier rescued (score >= 0.99) on ten held-out
#: phantom sets, the faintest small one peaked at 181 HU, while this drops three quarters of the candidates.
FAINT_VOXELS = 10
FAINT_PEAK_HU = 180.0
#: Largest (mm³): coronary deposits stay far below; a component of blood pool and bone is not scored (stop 32 saw
#: one of 139,000 mm³ score 1.0, far outside what the verifier was trained on).
RESCUE_MAX_MM3 = 3000.0


def _touched(labels: np.ndarray, rows_by_slice: dict[int, np.ndarray], offset_xy: tuple[int, int]) -> set[int]:
    """Labels of the components any row's box overlaps (on its own slice)."""
    touched: set[int] = set()
    for z, rows in rows_by_slice.items():
        for x0, y0, x1, y1 in np.asarray(rows, dtype=np.float64).reshape(-1, 6)[:, :4] - np.r_[offset_xy, offset_xy]:
            inside = labels[z, max(int(np.floor(y0)), 0):max(int(np.ceil(y1)), 0),
                            max(int(np.floor(x0)), 0):max(int(np.ceil(x1)), 0)]
            touched.update(int(v) for v in np.unique(inside) if v)
    return touched


def _centre_in(candidate, crop_xyxy: tuple[int, int, int, int], offset_xy: tuple[int, int]) -> bool:
    """Whether a component's bounding-box centre (region pixels shifted by ``offset_xy``) lies in the crop."""
    _, by, bx = candidate.bbox
    y, x = (by.start + by.stop - 1) / 2 + offset_xy[1], (bx.start + bx.stop - 1) / 2 + offset_xy[0]
    return crop_xyxy[0] <= x < crop_xyxy[2] and crop_xyxy[1] <= y < crop_xyxy[3]


def rescue_rows(hu: np.ndarray, spacing_mm: tuple[float, float, float], rows_by_slice: dict[int, np.ndarray],
                verifier: LesionVerifier, crop_xyxy: tuple[int, int, int, int], conf: float, class_id: int,
                min_score: float = RESCUE_SCORE, min_voxels: int = RESCUE_MIN_VOXELS, threshold_hu: float = 130.0
                ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[str, int]]:
    """Seed rows for unboxed components (``min_voxels`` .. ``RESCUE_MAX_MM3``, small ones not faint) the verifier
    scores ``min_score`` or more.

    ``hu``: (Z, H, W); ``rows_by_slice``: slice -> (N, 6) full-slice ``x0 y0 x1 y1 conf class`` rows (the kept boxes);
    the components centred inside ``crop_xyxy`` (x0, y0, x1, y1) are searched. Returns slice -> (M, 6) seed rows
    (confidence ``conf``, class ``class_id``; per seeded component, its pieces on the slice where it is largest),
    slice -> (M,) their scores, and the counts ``scored_unboxed_components`` and ``rescued_components``.
    """
    from scipy import ndimage

    from tqgd.data.boxes import IN_PLANE_CONNECTIVITY, structure_for

    plane = structure_for(IN_PLANE_CONNECTIVITY[6], 2)
    x0, y0, x1, y1 = search_region(crop_xyxy, spacing_mm, hu.shape[1:])  # patches read as on the whole slice
    region = hu[:, y0:y1, x0:x1]
    labels, candidates = find_candidates(region, threshold_hu, max(min_voxels, 1))
    touched = _touched(labels, rows_by_slice, (x0, y0))
    largest = RESCUE_MAX_MM3 / float(np.prod(spacing_mm))
    asked = [candidate for candidate in candidates if candidate.label not in touched and candidate.voxels <= largest
             and _centre_in(candidate, crop_xyxy, (x0, y0))]
    small = [candidate.label for candidate in asked if candidate.voxels < FAINT_VOXELS]
    faint = {label for label, peak in zip(small, ndimage.maximum(region, labels, small) if small else [], strict=True)
             if peak < FAINT_PEAK_HU}
    asked = [candidate for candidate in asked if candidate.label not in faint]
    seeds: dict[int, list[np.ndarray]] = {}
    scores: dict[int, list[float]] = {}
    counts = {"scored_unboxed_components": len(asked), "rescued_components": 0}
    if not asked:
        return {}, {}, counts
    built = [candidate_patch(region, labels, candidate, spacing_mm) for candidate in asked]
    probabilities = verifier.probabilities(np.stack([p for p, _ in built]), np.stack([s for _, s in built]))
    for candidate, probability in zip(asked, probabilities.tolist(), strict=True):
        if probability < min_score:
            continue
        bz, by, bx = candidate.bbox
        own = labels[candidate.bbox] == candidate.label
        z = int(np.argmax(own.sum(axis=(1, 2))))
        pieces, count = ndimage.label(own[z], structure=plane)
        for piece in range(1, count + 1):
            ys, xs = np.nonzero(pieces == piece)
            seeds.setdefault(bz.start + z, []).append(np.array(
                [xs.min() + bx.start + x0, ys.min() + by.start + y0, xs.max() + 1 + bx.start + x0,
                 ys.max() + 1 + by.start + y0, conf, class_id], dtype=np.float64))
            scores.setdefault(bz.start + z, []).append(probability)
        counts["rescued_components"] += 1
    return ({z: np.stack(rows) for z, rows in seeds.items()},
            {z: np.array(values, dtype=np.float64) for z, values in scores.items()}, counts)
