"""Which slices of a volume become dataset images: every slice with a box, plus a chosen number of negatives.

``negatives`` is ``"0"`` (the paper: calcium-containing slices only), a ratio such as ``"0.5"`` (half as many
negative slices as positive ones, per patient, rounded) or ``"all"``. Negatives are drawn without
replacement with a generator seeded by the seed and the patient ID, so the choice for one patient does not
depend on which other patients are converted.

``"hard:0.5"`` takes the same number of negatives but the hardest ones: the slices whose ROI holds the most
unlabelled components at or above the calcium threshold (valve and aortic calcification, metal, bone edges, noise
blobs: what a detector must learn to leave alone). Ties are broken in the seeded random order.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from tqgd.errors import ConfigError

ALL_NEGATIVES = "all"
HARD_PREFIX = "hard:"
#: Look-alikes are counted at the Agatston calcium threshold.
LOOKALIKE_HU = 130.0


def is_hard(spec: str | float | int) -> bool:
    """Whether a negatives spec asks for hard negatives (``"hard:<ratio>"``)."""
    return str(spec).strip().lower().startswith(HARD_PREFIX)


def parse_negatives(spec: str | float | int) -> float | None:
    """Negatives per positive slice as a float, or None for all; raises ConfigError on anything else."""
    text = str(spec).strip().lower()
    if text.startswith(HARD_PREFIX):
        text = text[len(HARD_PREFIX):].strip()
        if text == ALL_NEGATIVES:
            return None
    if text == ALL_NEGATIVES:
        return None
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not np.isfinite(ratio) or ratio < 0:
        raise ConfigError(f"negatives must be 'all' or a ratio >= 0 of negative to positive slices (e.g. 0, 0.5, 1), "
                          f"optionally as 'hard:<ratio>' for the slices with most look-alikes; got {spec!r}")
    return ratio


def choose_negatives(candidates: Sequence[int], n_positive: int, ratio: float | None, seed: int,
                     patient: str, difficulty: Callable[[int], float] | None = None) -> list[int]:
    """Pick negative slice indices from ``candidates`` (sorted result); see the module docstring.

    ``difficulty`` (slice index -> score) makes the pick the ``wanted`` highest-scoring candidates.
    """
    candidates = sorted(int(z) for z in candidates)
    if ratio is None:
        return candidates
    wanted = min(len(candidates), int(np.floor(ratio * n_positive + 0.5)))
    if wanted == 0:
        return []
    rng = np.random.default_rng([int(seed), zlib.crc32(patient.encode("utf-8"))])
    if difficulty is None:
        return sorted(int(z) for z in rng.choice(candidates, size=wanted, replace=False))
    order = [candidates[i] for i in rng.permutation(len(candidates))]
    order.sort(key=difficulty, reverse=True)  # stable: equal scores keep the seeded order
    return sorted(order[:wanted])


def lookalike_count(hu: np.ndarray, threshold_hu: float = LOOKALIKE_HU) -> int:
    """Connected regions (8-connected) of one slice, ``hu`` (H, W), at or above ``threshold_hu``."""
    from scipy import ndimage

    return int(ndimage.label(hu >= threshold_hu, structure=np.ones((3, 3), dtype=bool))[1])


def slice_stem(patient: str, slice_index: int, num_slices: int) -> str:
    """File stem of a slice image, e.g. ``TRV1P1_z012`` (at least 3 digits, more for long volumes)."""
    digits = max(3, len(str(max(num_slices - 1, 0))))
    return f"{patient}_z{slice_index:0{digits}d}"
