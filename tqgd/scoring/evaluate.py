"""Lesion-level evaluation of a prediction against a reference, by the orCaScore framework's rules.

Lesions are 3D 6-connected components of calcium voxels (label set and HU at or above the threshold), one
artery at a time when labels name arteries. A predicted lesion is a true positive (TP) when it overlaps (shares
a voxel with) a reference lesion; a reference lesion is detected when some predicted lesion overlaps it.

- by count: sensitivity = detected reference lesions / reference lesions; PPV = TP predicted / predicted lesions.
- by volume: the same decisions weighted by lesion volume: sensitivity = volume of detected reference lesions /
  reference volume; PPV = volume of TP predicted lesions / predicted volume; F1 = 2 S P / (S + P).
- per artery (reference has artery labels; label 4, an undetermined artery, is a row of its own named
  ``undetermined``): reference lesions of that artery; when the prediction also names
  arteries, only its lesions of the same artery count (both for detection and PPV); when it does not, any
  predicted lesion can detect a reference lesion and per-artery PPV is undefined (None).
Ratios with a zero denominator are None. Counts and volumes add up across patients (``LesionMatch.__add__``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage

from tqgd.data.orcascore import REFERENCE_LABELS
from tqgd.scoring.lesions import UNKNOWN_ARTERY_VALUE, calcium_classes
from tqgd.scoring.score import ScoreReport


@dataclass
class LesionSet:
    """3D lesions of one label volume: ``lesion_map`` int32 (Z, Y, X) ids 1..L; per-id arrays of length L+1."""

    lesion_map: np.ndarray
    artery_value: np.ndarray
    volume_mm3: np.ndarray
    arteries: bool

    @property
    def ids(self) -> np.ndarray:
        """Lesion ids 1..L."""
        return np.arange(1, len(self.volume_mm3))


def orcascore_lesions(hu: np.ndarray, labels: np.ndarray, spacing_mm: tuple[float, float, float], *,
                      calcium_floor_hu: float, arteries: bool) -> LesionSet:
    """3D 6-connected lesions of ``labels`` on ``hu`` (no minimum size), per artery when ``arteries``."""
    voxel_mm3 = float(np.prod(spacing_mm))
    lesion_map = np.zeros(labels.shape, dtype=np.int32)
    artery_value = [UNKNOWN_ARTERY_VALUE]
    voxel_counts = [0]
    above = hu >= calcium_floor_hu
    six = ndimage.generate_binary_structure(3, 1)
    for value, class_mask in calcium_classes(labels, arteries):
        components, n = ndimage.label(class_mask & above, structure=six)
        if n == 0:
            continue
        lesion_map[components > 0] = components[components > 0] + len(voxel_counts) - 1
        voxel_counts.extend(np.bincount(components.ravel(), minlength=n + 1)[1:].tolist())
        artery_value.extend([value] * n)
    return LesionSet(lesion_map=lesion_map, artery_value=np.asarray(artery_value),
                     volume_mm3=np.asarray(voxel_counts, dtype=np.float64) * voxel_mm3, arteries=arteries)


@dataclass
class LesionMatch:
    """Counts and volumes behind sensitivity / PPV / F1; adds across patients."""

    reference_lesions: int = 0
    predicted_lesions: int = 0
    detected_reference_lesions: int = 0
    true_positive_lesions: int = 0
    reference_volume_mm3: float = 0.0
    predicted_volume_mm3: float = 0.0
    detected_reference_volume_mm3: float = 0.0
    true_positive_volume_mm3: float = 0.0
    ppv_defined: bool = True

    def __add__(self, other: LesionMatch) -> LesionMatch:
        """Pool two patients' counts and volumes (PPV stays defined only if both had it)."""
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name)
                  for f in fields(self) if f.name != "ppv_defined"}
        return LesionMatch(**summed, ppv_defined=self.ppv_defined and other.ppv_defined)

    @property
    def false_negative_lesions(self) -> int:
        """Reference lesions no predicted lesion overlaps."""
        return self.reference_lesions - self.detected_reference_lesions

    @property
    def false_positive_lesions(self) -> int | None:
        """Predicted lesions that overlap no reference lesion."""
        return self.predicted_lesions - self.true_positive_lesions if self.ppv_defined else None

    def metrics(self) -> dict[str, float | None]:
        """Sensitivity and PPV by count and by volume, and F1 from the volume ones."""
        sens = _ratio(self.detected_reference_lesions, self.reference_lesions)
        sens_v = _ratio(self.detected_reference_volume_mm3, self.reference_volume_mm3)
        ppv = _ratio(self.true_positive_lesions, self.predicted_lesions) if self.ppv_defined else None
        ppv_v = _ratio(self.true_positive_volume_mm3, self.predicted_volume_mm3) if self.ppv_defined else None
        f1 = None if sens_v is None or ppv_v is None or sens_v + ppv_v == 0 else 2 * sens_v * ppv_v / (sens_v + ppv_v)
        return {"sensitivity": sens, "ppv": ppv, "sensitivity_volume": sens_v, "ppv_volume": ppv_v, "f1_volume": f1}

    def to_dict(self) -> dict[str, Any]:
        """Counts, volumes and metrics, JSON-ready."""
        counts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "ppv_defined"}
        fp_volume = self.predicted_volume_mm3 - self.true_positive_volume_mm3 if self.ppv_defined else None
        return counts | {"false_negative_lesions": self.false_negative_lesions,
                         "false_positive_lesions": self.false_positive_lesions,
                         "false_negative_volume_mm3": self.reference_volume_mm3 - self.detected_reference_volume_mm3,
                         "false_positive_volume_mm3": fp_volume} | self.metrics()


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None when the denominator is zero."""
    return float(numerator / denominator) if denominator else None


def match_lesions(reference: LesionSet, predicted: LesionSet, artery_value: int | None = None) -> LesionMatch:
    """Match lesions overall (``artery_value`` None) or for one artery; see the module docstring."""
    ref_ids = reference.ids
    pred_ids = predicted.ids
    same_artery = artery_value is not None and predicted.arteries
    if artery_value is not None:
        ref_ids = ref_ids[reference.artery_value[1:] == artery_value]
        if same_artery:
            pred_ids = pred_ids[predicted.artery_value[1:] == artery_value]
    both = (reference.lesion_map > 0) & (predicted.lesion_map > 0)
    pairs = np.unique(np.stack([reference.lesion_map[both], predicted.lesion_map[both]]), axis=1)
    keep = np.isin(pairs[0], ref_ids) & np.isin(pairs[1], pred_ids)
    detected = np.unique(pairs[0, keep])
    true_positive = np.unique(pairs[1, keep])
    return LesionMatch(reference_lesions=len(ref_ids), predicted_lesions=len(pred_ids),
                       detected_reference_lesions=len(detected), true_positive_lesions=len(true_positive),
                       reference_volume_mm3=float(reference.volume_mm3[ref_ids].sum()),
                       predicted_volume_mm3=float(predicted.volume_mm3[pred_ids].sum()),
                       detected_reference_volume_mm3=float(reference.volume_mm3[detected].sum()),
                       true_positive_volume_mm3=float(predicted.volume_mm3[true_positive].sum()),
                       ppv_defined=artery_value is None or same_artery)


@dataclass
class CaseEvaluation:
    """One patient: lesion matching overall and per artery, and both scores."""

    case_id: str
    match: LesionMatch
    per_artery: dict[str, LesionMatch] | None
    reference: ScoreReport
    predicted: ScoreReport

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready evaluation, with the two score summaries (lesion lists left to the score reports)."""
        def summary(report: ScoreReport) -> dict[str, Any]:
            return {k: v for k, v in report.to_dict().items() if k not in ("lesions", "per_slice", "options", "scan")}

        return {"case_id": self.case_id, "lesions": self.match.to_dict(),
                "per_artery": {k: v.to_dict() for k, v in self.per_artery.items()} if self.per_artery else None,
                "reference_score": summary(self.reference), "predicted_score": summary(self.predicted)}


def evaluate_case(case_id: str, reference_lesions: LesionSet, predicted_lesions: LesionSet,
                  reference_score: ScoreReport, predicted_score: ScoreReport) -> CaseEvaluation:
    """Combine the lesion sets and scores of one patient into a ``CaseEvaluation``."""
    per_artery = None
    if reference_lesions.arteries:
        per_artery = {name: match_lesions(reference_lesions, predicted_lesions, value)
                      for value, name in REFERENCE_LABELS.items()}
    return CaseEvaluation(case_id=case_id, match=match_lesions(reference_lesions, predicted_lesions),
                          per_artery=per_artery, reference=reference_score, predicted=predicted_score)
