"""The model-parameter randomisation check (Adebayo et al., 2018) for a detector's saliency maps.

For every explained detection the map is computed twice on the same model image, for the same anchor and class: with
the trained weights and with the neck and head re-initialised (``tqgd.explain.randomise``). Two numbers per detection:

- Spearman's rank correlation between the two maps (near 1: the map does not depend on the learned weights);
- the share of map energy inside the detection's box (``tqgd.explain.measures.energy_share``) for each model.

The check passes when the trained map puts more energy in the box than the randomised one on at least
``MIN_DETECTIONS`` detections and on average. Maps that do not depend on the weights fail it: equal maps give equal
shares on every detection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tqgd.explain.cam import Explained, Explainer
from tqgd.explain.measures import area_fraction, energy_share, rank_correlation
from tqgd.explain.randomise import DEFAULT_PARTS, PARTS

#: Detections on which the trained map must beat the randomised one (the issue's bar).
MIN_DETECTIONS = 20


@dataclass
class SanityRow:
    """One detection: where it is, its confidence, both energy shares, the flat-map share, the rank correlation."""

    source: str
    slice_index: int
    detection: int
    confidence: float
    share_trained: float
    share_randomised: float
    area_fraction: float
    rank_correlation: float


@dataclass
class SanityReport:
    """All rows of a check and the settings it ran with."""

    rows: list[SanityRow] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    min_detections: int = MIN_DETECTIONS

    def summary(self) -> dict[str, Any]:
        """Counts, means and medians; ``passed`` as the module docstring defines it."""
        n = len(self.rows)
        trained = np.array([r.share_trained for r in self.rows], dtype=np.float64)
        randomised = np.array([r.share_randomised for r in self.rows], dtype=np.float64)
        rho = np.array([r.rank_correlation for r in self.rows], dtype=np.float64)
        finite = rho[np.isfinite(rho)]
        higher = int((trained > randomised).sum())

        def stat(values: np.ndarray, how: Any) -> float | None:
            return round(float(how(values)), 4) if len(values) else None

        return {"detections": n, "trained_share_higher": higher, "randomised_share_higher": int((randomised >
                                                                                               trained).sum()),
                "mean_share_trained": stat(trained, np.mean), "mean_share_randomised": stat(randomised, np.mean),
                "median_share_trained": stat(trained, np.median),
                "median_share_randomised": stat(randomised, np.median),
                "mean_area_fraction": stat(np.array([r.area_fraction for r in self.rows]), np.mean),
                "median_rank_correlation": stat(finite, np.median), "mean_rank_correlation": stat(finite, np.mean),
                "undefined_rank_correlations": int(n - len(finite)),
                "min_detections": self.min_detections,
                "passed": bool(higher >= self.min_detections and n and trained.mean() > randomised.mean())}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report: settings, summary, rows (NaN correlations as null)."""
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(r).items()}
                for r in self.rows]
        parts = self.settings.get("randomised", DEFAULT_PARTS)
        return {"check": "model-parameter randomisation (Adebayo et al., 2018)", "randomised": PARTS.get(parts, parts),
                "settings": self.settings, "summary": self.summary(), "rows": rows}


def compare_maps(source: str, slice_index: int, image: np.ndarray, items: Sequence[Explained],
                 randomised: Explainer) -> tuple[list[SanityRow], list[Explained]]:
    """Rows for one model image whose ``items`` already hold the trained maps, and the randomised model's items
    (same anchors and classes, its own maps)."""
    copies = [Explained(i.box_xyxy, i.confidence, i.class_id, i.anchor) for i in items]
    randomised.maps(image, copies)
    rows = []
    for k, (trained, other) in enumerate(zip(items, copies, strict=True)):
        rows.append(SanityRow(source=source, slice_index=slice_index, detection=k,
                              confidence=round(trained.confidence, 5),
                              share_trained=round(energy_share(trained.cam, trained.box_xyxy), 5),
                              share_randomised=round(energy_share(other.cam, trained.box_xyxy), 5),
                              area_fraction=round(area_fraction(trained.box_xyxy, image.shape[:2]), 5),
                              rank_correlation=round(rank_correlation(trained.cam, other.cam), 5)))
    return rows, copies


def summary_lines(report: SanityReport) -> list[str]:
    """The summary as a few lines of text for the terminal."""
    s = report.summary()
    if not s["detections"]:
        return ["no detections to check: lower --conf or give scans with calcium"]
    return [f"detections checked: {s['detections']}",
            f"energy share inside the box: trained mean {s['mean_share_trained']:.3f} "
            f"(median {s['median_share_trained']:.3f}), randomised mean {s['mean_share_randomised']:.3f} "
            f"(median {s['median_share_randomised']:.3f}); a flat map would put {s['mean_area_fraction']:.4f} there",
            f"trained share higher on {s['trained_share_higher']} detections, randomised higher on "
            f"{s['randomised_share_higher']}",
            f"Spearman rank correlation trained vs randomised: median "
            f"{_fmt(s['median_rank_correlation'])}, mean {_fmt(s['mean_rank_correlation'])}"
            + (f" ({s['undefined_rank_correlations']} undefined: a constant map)" if s['undefined_rank_correlations']
               else ""),
            ("PASSED" if s["passed"] else "FAILED") + f": the trained maps must put more energy in the box on at least "
            f"{s['min_detections']} detections and on average"]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
