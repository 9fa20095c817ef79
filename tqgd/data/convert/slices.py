"""Which slices of a volume become dataset images: every slice with a box, plus a chosen number of negatives.

``negatives`` is ``"0"`` (the paper: calcium-containing slices only), a ratio such as ``"0.5"`` (half as many
negative slices as positive ones, per patient, rounded) or ``"all"``. Negatives are drawn without
replacement with a generator seeded by the seed and the patient ID, so the choice for one patient does not
depend on which other patients are converted.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from tqgd.errors import ConfigError

ALL_NEGATIVES = "all"


def parse_negatives(spec: str | float | int) -> float | None:
    """Negatives per positive slice as a float, or None for all; raises ConfigError on anything else."""
    text = str(spec).strip().lower()
    if text == ALL_NEGATIVES:
        return None
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not np.isfinite(ratio) or ratio < 0:
        raise ConfigError(f"negatives must be 'all' or a ratio >= 0 of negative to positive slices (e.g. 0, 0.5, 1), "
                          f"got {spec!r}")
    return ratio


def choose_negatives(candidates: Sequence[int], n_positive: int, ratio: float | None, seed: int,
                     patient: str) -> list[int]:
    """Pick negative slice indices from ``candidates`` (sorted result); see the module docstring."""
    candidates = sorted(int(z) for z in candidates)
    if ratio is None:
        return candidates
    wanted = min(len(candidates), int(np.floor(ratio * n_positive + 0.5)))
    if wanted == 0:
        return []
    rng = np.random.default_rng([int(seed), zlib.crc32(patient.encode("utf-8"))])
    return sorted(int(z) for z in rng.choice(candidates, size=wanted, replace=False))


def slice_stem(patient: str, slice_index: int, num_slices: int) -> str:
    """File stem of a slice image, e.g. ``TRV1P1_z012`` (at least 3 digits, more for long volumes)."""
    digits = max(3, len(str(max(num_slices - 1, 0))))
    return f"{patient}_z{slice_index:0{digits}d}"
