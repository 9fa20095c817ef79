"""Agatston density weight of a per-slice lesion from its peak HU.

Agatston (1990): weight 1 for a peak of 130-199 HU, 2 for 200-299, 3 for 300-399, 4 for 400 HU and above. The
bands' upper edges (200, 300, 400 HU) are fixed; the lowest band starts wherever calcium starts (a kVp-adjusted
threshold of 147 HU makes band 1 147-199 HU). Below ``calcium_floor_hu`` (the threshold, or just above it when
the threshold itself is excluded: ``options.calcium_floor``) the weight is 0.
"""

from __future__ import annotations

import numpy as np

#: Lower edges (HU) of density weights 2, 3 and 4; weight 1 covers threshold .. first edge.
DENSITY_BAND_EDGES_HU: tuple[float, float, float] = (200.0, 300.0, 400.0)


def density_weight(peak_hu: float, calcium_floor_hu: float) -> int:
    """Agatston weight (0-4) for one lesion whose brightest pixel is ``peak_hu``."""
    if peak_hu < calcium_floor_hu:
        return 0
    return 1 + sum(peak_hu >= edge for edge in DENSITY_BAND_EDGES_HU)


def density_weights(peak_hu: np.ndarray, calcium_floor_hu: float) -> np.ndarray:
    """Vectorised ``density_weight``: int array of weights, same shape as ``peak_hu``."""
    peak_hu = np.asarray(peak_hu, dtype=np.float64)
    weights = 1 + np.searchsorted(np.asarray(DENSITY_BAND_EDGES_HU), peak_hu, side="right")
    return np.where(peak_hu >= calcium_floor_hu, weights, 0).astype(np.int64)
