"""Evaluation of predictions from any source against references, for one scan or a whole OrCaScore-layout set.

A prediction is a tqgd ``detections.json`` (scored through the box rule) or a label/mask volume (MetaImage,
NIfTI) from any model; a reference is a label volume on the CT's grid. For a set, predictions are paired with
cases by ID: ``<ID>.json`` or ``<ID><anything>.mhd/.mha/.nii/.nii.gz``, where the character after the ID is not
a digit (so ``TRV1P1`` never takes ``TRV1P10``'s files). Per-patient Agatston and volume agreement is ICC(A,1);
risk categories agree by linearly weighted kappa; Bland-Altman compares Agatston scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.orcascore import REFERENCE_LABELS, OrcaCase
from tqgd.data.volume import CTVolume
from tqgd.errors import DatasetError
from tqgd.scoring.agreement import bland_altman, confusion_matrix, icc_a1, weighted_kappa
from tqgd.scoring.evaluate import CaseEvaluation, LesionMatch, evaluate_case, orcascore_lesions
from tqgd.scoring.masks import check_mask_matches, read_mask, resolve_label_mode
from tqgd.scoring.options import ScoringOptions
from tqgd.scoring.risk import categories
from tqgd.scoring.score import box_calcium, conventions_for, score_box_calcium, score_labels

MASK_SUFFIXES = (".nii.gz", ".mhd", ".mha", ".nii")


def is_detections_file(path: Path) -> bool:
    """True for a ``.json`` prediction (tqgd detections), False for a mask volume."""
    return path.name.lower().endswith(".json")


def evaluate_scan(volume: CTVolume, reference: Path, prediction: Path, options: ScoringOptions, *,
                  case_id: str | None = None, reference_labels: str = "arteries") -> CaseEvaluation:
    """Evaluate one prediction file (detections JSON or mask) against one reference label file on ``volume``."""
    from tqgd.detections import load_detections

    ref_labels, ref_spacing = read_mask(reference)
    check_mask_matches(volume, ref_labels, ref_spacing, reference)
    ref_arteries = resolve_label_mode(ref_labels, reference_labels, reference)
    floor_hu = conventions_for(volume, options).calcium_floor_hu
    ref_info = {"kind": "reference", "path": str(reference), "labels": "arteries" if ref_arteries else "binary"}
    ref_score = score_labels(volume, ref_labels, options, arteries=ref_arteries, input_info=ref_info)
    if is_detections_file(prediction):
        result = load_detections(prediction)
        found = box_calcium(volume, result, options, detections_path=prediction)
        pred_labels, pred_arteries = found.labels, found.arteries
        pred_score = score_box_calcium(volume, found, result, options, detections_path=prediction)
    else:
        pred_labels, pred_spacing = read_mask(prediction)
        check_mask_matches(volume, pred_labels, pred_spacing, prediction)
        pred_arteries = resolve_label_mode(pred_labels, options.mask_labels, prediction)
        pred_info = {"kind": "mask", "path": str(prediction), "labels": "arteries" if pred_arteries else "binary"}
        pred_score = score_labels(volume, pred_labels, options, arteries=pred_arteries, input_info=pred_info)
    ref_lesions = orcascore_lesions(volume.hu, ref_labels, volume.spacing_mm, calcium_floor_hu=floor_hu,
                                    arteries=ref_arteries)
    pred_lesions = orcascore_lesions(volume.hu, pred_labels, volume.spacing_mm, calcium_floor_hu=floor_hu,
                                     arteries=pred_arteries)
    return evaluate_case(case_id or volume.meta.scan_id or volume.meta.source.name, ref_lesions, pred_lesions,
                         ref_score, pred_score)


def find_prediction(case_id: str, prediction_dir: Path) -> list[Path]:
    """Prediction files in ``prediction_dir`` that belong to ``case_id`` (see the module docstring)."""
    found = []
    for path in sorted(prediction_dir.iterdir()):
        name = path.name
        if not path.is_file() or not name.startswith(case_id):
            continue
        rest = name[len(case_id):]
        if rest[:1].isdigit():
            continue
        if rest.lower() == ".json" or name.lower().endswith(MASK_SUFFIXES):
            found.append(path)
    return found


def pair_predictions(cases: Sequence[OrcaCase], prediction_dir: Path) -> list[tuple[OrcaCase, Path]]:
    """One prediction per case; a missing or ambiguous prediction is an error naming every such case."""
    pairs, missing, ambiguous = [], [], []
    for case in cases:
        files = find_prediction(case.case_id, prediction_dir)
        if not files:
            missing.append(case.case_id)
        elif len(files) > 1:
            ambiguous.append(f"{case.case_id} ({', '.join(p.name for p in files)})")
        else:
            pairs.append((case, files[0]))
    if missing:
        raise DatasetError(f"no prediction for case(s) {', '.join(missing)}: expected <ID>.json detections or "
                           "<ID>*.mhd / <ID>*.nii.gz masks in this folder", prediction_dir)
    if ambiguous:
        raise DatasetError(f"several predictions for case(s) {'; '.join(ambiguous)}; keep one file per case",
                           prediction_dir)
    return pairs


@dataclass
class CohortEvaluation:
    """Per-patient evaluations of a set and the statistics that compare them."""

    cases: list[CaseEvaluation]
    options: ScoringOptions

    def _scores(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        ref = np.array([getattr(c.reference, key) for c in self.cases], dtype=np.float64)
        pred = np.array([getattr(c.predicted, key) for c in self.cases], dtype=np.float64)
        return ref, pred

    def agreement(self) -> dict[str, Any]:
        """ICC(A,1) of Agatston and volume, linear kappa and confusion matrix of risk, Bland-Altman of Agatston."""
        n_categories = len(categories(self.options.risk_scheme))
        ref_risk = [c.reference.risk.index for c in self.cases]
        pred_risk = [c.predicted.risk.index for c in self.cases]
        agatston_ref, agatston_pred = self._scores("agatston")
        volume_ref, volume_pred = self._scores("volume_mm3")
        return {"patients": len(self.cases),
                "icc_a1_agatston": icc_a1(np.stack([agatston_ref, agatston_pred], axis=1)),
                "icc_a1_volume": icc_a1(np.stack([volume_ref, volume_pred], axis=1)),
                "risk_kappa_linear": weighted_kappa(ref_risk, pred_risk, n_categories, "linear"),
                "risk_categories": [c.label for c in categories(self.options.risk_scheme)],
                "risk_confusion_matrix": confusion_matrix(ref_risk, pred_risk, n_categories).tolist(),
                "risk_agreement": float(np.mean(np.equal(ref_risk, pred_risk))) if self.cases else None,
                "bland_altman_agatston": bland_altman(agatston_ref, agatston_pred).to_dict() if self.cases else None}

    def pooled(self) -> dict[str, Any]:
        """Lesion counts and volumes summed over patients, overall and per artery."""
        overall = reduce(lambda a, b: a + b, (c.match for c in self.cases), LesionMatch())
        per_artery = None
        if self.cases and all(c.per_artery for c in self.cases):
            per_artery = {name: reduce(lambda a, b: a + b, (c.per_artery[name] for c in self.cases)).to_dict()
                          for name in REFERENCE_LABELS.values()}
        return {"lesions": overall.to_dict(), "per_artery": per_artery}

    def per_patient_rows(self) -> list[dict[str, Any]]:
        """One flat row per patient (for CSV and terminal tables)."""
        rows = []
        for c in self.cases:
            m = c.match.metrics()
            rows.append({"case_id": c.case_id, "agatston_reference": c.reference.agatston,
                         "agatston_predicted": c.predicted.agatston, "volume_reference_mm3": c.reference.volume_mm3,
                         "volume_predicted_mm3": c.predicted.volume_mm3, "risk_reference": c.reference.risk.label,
                         "risk_predicted": c.predicted.risk.label, "reference_lesions": c.match.reference_lesions,
                         "predicted_lesions": c.match.predicted_lesions,
                         "detected_reference_lesions": c.match.detected_reference_lesions,
                         "true_positive_lesions": c.match.true_positive_lesions} | m)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready evaluation of the set."""
        import tqgd

        return {"tqgd_version": tqgd.__version__, "options": self.options.to_dict(), **self.pooled(),
                "agreement": self.agreement(), "patients": [c.to_dict() for c in self.cases]}


def evaluate_cohort(pairs: Sequence[tuple[OrcaCase, Path]], options: ScoringOptions,
                    on_case: Callable[[str], None] | None = None) -> CohortEvaluation:
    """Evaluate every (case, prediction) pair; ``on_case(case_id)`` is called after each (progress bars)."""
    from tqgd.data.readers import read_ct

    evaluations = []
    for case, prediction in pairs:
        if case.reference is None:
            raise DatasetError(f"case {case.case_id} has no reference label file; evaluation needs one", case.image)
        volume = read_ct(case.image)
        evaluations.append(evaluate_scan(volume, case.reference, prediction, options, case_id=case.case_id))
        if on_case is not None:
            on_case(case.case_id)
    return CohortEvaluation(cases=evaluations, options=options)
