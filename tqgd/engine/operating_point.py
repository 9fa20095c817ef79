"""Choose the confidence at which ``tqgd detect`` keeps a calcium detector's boxes, on validation patients.

A detector's operating point belongs to the detector: a short CPU schedule leaves most true deposits under
ultralytics' usual 0.25. ``sweep_confidence`` runs the user's path once per patient (heart crop, ``detect_volume``
with the physics filter and snapping) at the lowest candidate, keeps the boxes at each candidate confidence, and
scores them by OrCaScore's lesion rules (``tqgd.scoring.cohort.evaluate_scan``); ``best_point`` takes the highest
pooled lesion F1. Keeping a low-confidence pass's boxes at ``c`` equals a pass at ``c`` up to NMS and snapping ties:
a box below ``c`` never suppresses or absorbs a more confident one, and 3D completion gives end slices the confidence
of the boxes they continue from (``tqgd.engine.lesion_tips``).

The chosen value is written into the weights (``OPERATING_CONF_KEY``) and read by ``tqgd detect`` when no ``--conf``
is given.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqgd.detections import DetectionResult
from tqgd.engine.detect_model import OPERATING_CONF_KEY  # noqa: F401  (written into the weights by the caller)

CANDIDATE_CONFS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


@dataclass(frozen=True)
class ConfPoint:
    """Pooled per-lesion results of one candidate confidence over the validation patients."""

    conf: float
    reference_lesions: int
    detected_reference_lesions: int
    predicted_lesions: int
    true_positive_lesions: int

    @property
    def sensitivity(self) -> float:
        return self.detected_reference_lesions / self.reference_lesions if self.reference_lesions else 0.0

    @property
    def ppv(self) -> float:
        return self.true_positive_lesions / self.predicted_lesions if self.predicted_lesions else 0.0

    @property
    def f1(self) -> float:
        s, p = self.sensitivity, self.ppv
        return 2 * s * p / (s + p) if s + p else 0.0

    def to_json(self) -> dict[str, float]:
        return {"conf": self.conf, "sensitivity": round(self.sensitivity, 4), "ppv": round(self.ppv, 4),
                "f1": round(self.f1, 4), "reference_lesions": self.reference_lesions,
                "predicted_lesions": self.predicted_lesions}


def at_confidence(result: DetectionResult, conf: float) -> DetectionResult:
    """``result`` with only the boxes of confidence ``conf`` or more."""
    slices = []
    for item in result.slices:
        kept = [d for d in item.detections if d.confidence >= conf]
        if kept:
            slices.append(replace(item, detections=kept))
    return replace(result, slices=slices, model={**result.model, "conf": conf})


def sweep_confidence(cases: Iterable, weights: Path, heart: Path | Callable, device: str = "cpu",
                     confs: tuple[float, ...] = CANDIDATE_CONFS, roi_crop: bool = False) -> list[ConfPoint]:
    """Pooled lesion counts per candidate confidence over ``cases`` (``tqgd.data.orcascore.OrcaCase`` with references).

    ``heart``: heart detector weights (the user's path), or a function volume -> ``HeartROI`` (e.g. an oracle ROI).
    ``roi_crop``: detect on the heart ROI itself (``DetectOptions.roi_crop``), whose confidences differ.
    """
    from tqgd.data.readers import read_ct
    from tqgd.detections import save_detections
    from tqgd.engine.detect import DetectOptions, detect_volume
    from tqgd.engine.detect_model import load_slice_detector
    from tqgd.engine.heart_crop import HeartCropper
    from tqgd.scoring.cohort import evaluate_scan
    from tqgd.scoring.options import ScoringOptions

    detector = load_slice_detector(weights, device=device)
    roi_of = heart if callable(heart) else HeartCropper(heart, device=device).roi
    scoring = ScoringOptions()
    totals = {conf: [0, 0, 0, 0] for conf in confs}
    with tempfile.TemporaryDirectory(prefix="tqgd-conf-") as tmp:
        for case in cases:
            volume = read_ct(case.image)
            result = detect_volume(volume, detector, roi_of(volume), DetectOptions(conf=min(confs), roi_crop=roi_crop))
            for conf in confs:
                path = save_detections(at_confidence(result, conf), Path(tmp) / f"{case.case_id}_{conf}.json")
                match = evaluate_scan(volume, case.reference, path, scoring, case_id=case.case_id).match
                for i, key in enumerate(("reference_lesions", "detected_reference_lesions", "predicted_lesions",
                                         "true_positive_lesions")):
                    totals[conf][i] += int(getattr(match, key))
    return [ConfPoint(conf, *counts) for conf, counts in totals.items()]


def best_point(points: list[ConfPoint]) -> ConfPoint:
    """The highest pooled lesion F1 (ties: the higher confidence, i.e. fewer boxes)."""
    return max(points, key=lambda p: (round(p.f1, 6), p.conf))


def validation_operating_point(dataset: Path, weights: Path, heart: Path | Callable, device: str = "cpu"
                               ) -> dict[str, Any] | None:
    """The operating-point record of ``weights`` trained on a ``tqgd convert orcascore`` dataset: the sweep over the
    dataset's fold-0 validation patients (read from the scans it was converted from; never test patients) and its
    best confidence. None when those patients hold no reference lesion."""
    import json

    from tqgd.data.orcascore import discover_cases

    record = json.loads((Path(dataset) / "convert.json").read_text(encoding="utf-8"))
    val = set(record["fold_patients"][0]["val"])
    cases = [case for case in discover_cases(Path(record["source"])) if case.case_id in val]
    points = sweep_confidence(cases, weights, heart, device)
    if not any(point.reference_lesions for point in points):
        return None
    best = best_point(points)
    return {"conf": best.conf, "f1": round(best.f1, 4), "patients": sorted(val),
            "rule": "highest pooled lesion F1 (OrCaScore rules) of tqgd detect on the fold-0 validation patients",
            "sweep": [point.to_json() for point in points]}
