"""Score a synchronisation against the true cardiac phase: period error and phase error of every pair.

A pair (i, j) is in phase when the true cycle counts of frames i and j differ by a whole number of beats. Its
phase error is that difference's distance to the nearest whole number, converted to frames with the run's true
mean period; "within one frame" is ``|error| <= 1``. The chance level (pairing every i with a frame drawn at
random from the same contrast beat) is ``min(1, 3 / period)`` on average, printed next to it for scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tqgd.xa.sync import SyncResult
from tqgd.xa.truth import RunTruth

WITHIN_FRAMES = 1.0


@dataclass(frozen=True)
class SyncScore:
    """True and estimated period (frames), their difference, per-pair phase errors (frames), and summaries."""

    true_period: float
    estimated_period: float
    pair_errors: np.ndarray
    contrast_start_true: int | None
    contrast_start_found: int

    @property
    def period_error(self) -> float:
        """Estimated minus true period, frames."""
        return self.estimated_period - self.true_period

    @property
    def within_one_frame(self) -> float:
        """Share of pairs whose phase error is at most one frame (nan without pairs)."""
        return float(np.mean(np.abs(self.pair_errors) <= WITHIN_FRAMES)) if len(self.pair_errors) else float("nan")

    @property
    def median_abs_error(self) -> float:
        """Median |phase error| in frames."""
        return float(np.median(np.abs(self.pair_errors))) if len(self.pair_errors) else float("nan")

    @property
    def chance_within_one_frame(self) -> float:
        """Share a random frame from one beat would reach (3 of ``period`` frames lie within one frame)."""
        return min(1.0, (2 * WITHIN_FRAMES + 1) / self.true_period)


def pair_phase_errors(pairs: np.ndarray, cycles: np.ndarray, period: float) -> np.ndarray:
    """Phase error in frames (P,) of pairs (P, 2) given true cycle counts (F,) and the true mean period."""
    if len(pairs) == 0:
        return np.zeros(0)
    delta = cycles[pairs[:, 1]] - cycles[pairs[:, 0]]
    return (delta - np.round(delta)) * period


def score_sync(result: SyncResult, truth: RunTruth) -> SyncScore:
    """Compare ``result`` with the truth's phase (raises ``LabelError`` if the truth has none)."""
    cycles = truth.cycles()
    period = truth.mean_period_frames()
    start = truth.record.get("contrast_start_frame")
    return SyncScore(true_period=period, estimated_period=result.period_frames,
                     pair_errors=pair_phase_errors(result.pairs, cycles, period),
                     contrast_start_true=None if start is None else int(start),
                     contrast_start_found=result.contrast_start)
