"""Choose the confidence at which ``tqgd detect`` keeps a calcium detector's boxes, on validation patients.

A detector's operating point belongs to the detector: a short CPU schedule leaves most true deposits under
ultralytics' usual 0.25. ``sweep_confidence`` runs the user's path on each patient (heart crop, the model once at the
lowest candidate, ``tqgd.engine.detect.model_pass``), then for each candidate confidence ``c`` the steps after the
model on the boxes of ``c`` or more (``finish_pass``: physics filter, snapping, verifier, 3D completion), which is
exactly ``tqgd detect --no-rescue`` with ``c`` (a box below ``c`` never suppresses a more confident one in NMS). Rescue
is left out of the choice: it is the verifier's safety net, not the detector, and seeded at ``c`` it finds the same
lesions at every confidence on a few validation patients, so the highest confidence won every tie (stop 39: two of
three demos then chose 0.4 and put the test patient a risk category low). Each candidate is scored by OrCaScore's
lesion rules (``tqgd.scoring.cohort.evaluate_scan``); ``best_point`` takes the highest pooled lesion F1.

The chosen value is written into the weights (``OPERATING_CONF_KEY``) and read by ``tqgd detect`` when no ``--conf``
is given; detect then rescues on top of it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqgd.engine.detect_model import OPERATING_CONF_KEY

#: Candidate confidences: 19 from 0.002 to 0.05 (17 geometric, 1.22x apart, plus 0.005, 0.01, 0.02), then 0.1-0.4.
#: A short CPU schedule leaves many detectors' boxes in a narrow band below 0.05 (TQGDNet-n: median 0.008-0.023); on
#: the coarser grid of stop 37 (0.005, 0.01, 0.02, 0.05, ...) such a model's validation lesions went from 25 at 0.005
#: to none at 0.01 (BENCHMARKS.md, "Reading the three seeds").
CANDIDATE_CONFS = (0.002, 0.0024, 0.003, 0.0037, 0.0045, 0.005, 0.0055, 0.0067, 0.0082, 0.01, 0.0122, 0.015, 0.0183,
                   0.02, 0.0224, 0.0273, 0.0334, 0.0409, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
#: How ``sweep_confidence`` makes a row, recorded with each choice (a choice recorded without it, before stop 39,
#: kept one detect pass's boxes at each candidate, rescue seeds at 0.25 included).
SWEEP_METHOD = "model once per patient; every step after it but rescue at each candidate"


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


def sweep_confidence(cases: Iterable, weights: Path, heart: Path | Callable | None = None, device: str = "cpu",
                     confs: tuple[float, ...] = CANDIDATE_CONFS, roi_crop: bool = False) -> list[ConfPoint]:
    """Pooled lesion counts per candidate confidence over ``cases`` (``tqgd.data.orcascore.OrcaCase`` with references).

    ``heart``: heart detector weights, a function volume -> ``HeartROI`` (e.g. an oracle ROI), or None for the crop
    ``tqgd detect`` chooses without --heart-weights (the heart weights recorded in ``weights``, or full slices).
    ``roi_crop``: detect on the heart ROI itself (``DetectOptions.roi_crop``), whose confidences differ.
    """
    from tqgd.data.readers import read_ct
    from tqgd.detections import save_detections
    from tqgd.engine.detect import DetectOptions, choose_crop, finish_pass, model_pass
    from tqgd.engine.detect_model import load_slice_detector
    from tqgd.engine.heart_crop import HeartCropper
    from tqgd.scoring.cohort import evaluate_scan
    from tqgd.scoring.options import ScoringOptions

    detector = load_slice_detector(weights, device=device)
    if heart is None:
        cropper = choose_crop(detector, None, device)[0]
        roi_of = cropper.roi if cropper is not None else (lambda volume: None)
    else:
        roi_of = heart if callable(heart) else HeartCropper(heart, device=device).roi
    scoring = ScoringOptions()
    totals = {conf: [0, 0, 0, 0] for conf in confs}
    with tempfile.TemporaryDirectory(prefix="tqgd-conf-") as tmp:
        for case in cases:
            volume = read_ct(case.image)
            run = model_pass(volume, detector, roi_of(volume), DetectOptions(conf=min(confs), roi_crop=roi_crop))
            for conf in confs:
                result = finish_pass(volume, detector, run, DetectOptions(conf=conf, roi_crop=roi_crop,
                                                                          rescue_score=None))
                path = save_detections(result, Path(tmp) / f"{case.case_id}_{conf}.json")
                match = evaluate_scan(volume, case.reference, path, scoring, case_id=case.case_id).match
                for i, key in enumerate(("reference_lesions", "detected_reference_lesions", "predicted_lesions",
                                         "true_positive_lesions")):
                    totals[conf][i] += int(getattr(match, key))
    return [ConfPoint(conf, *counts) for conf, counts in totals.items()]


def best_point(points: list[ConfPoint]) -> ConfPoint:
    """The highest pooled lesion F1 (ties: the higher confidence, i.e. fewer boxes)."""
    return max(points, key=lambda p: (round(p.f1, 6), p.conf))


def dataset_fold(data_yaml: Path) -> tuple[Path, int]:
    """The converted dataset folder of a dataset YAML and the fold its ``val`` list is (``folds/fold<k>_val.txt``, as
    ``tqgd convert`` writes; 0 when the YAML names no fold list)."""
    import re

    import yaml

    from tqgd.errors import DatasetError

    try:
        spec = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read the dataset YAML: {exc}", data_yaml) from exc
    if not isinstance(spec, dict):
        raise DatasetError("not a dataset YAML (expected path:, train:, val:)", data_yaml)
    folder = Path(spec.get("path") or Path(data_yaml).parent)
    if not folder.is_absolute():
        folder = Path(data_yaml).parent / folder
    match = re.search(r"fold(\d+)_val", str(spec.get("val", "")))
    return folder, int(match.group(1)) if match else 0


def listed_patients(data_yaml: Path, dataset: Path) -> list[str] | None:
    """The patients of the images a dataset YAML validates on, when its ``val`` list is not the converter's own fold
    list (``tqgd cv`` writes re-split folds elsewhere): read through the dataset's manifest.csv. None for the
    converter's own lists, whose patients ``convert.json`` records.

    Raises:
        DatasetError: the list cannot be read, or names an image the manifest does not hold.
    """
    import yaml

    from tqgd.data.convert.dataset_yaml import FOLDS_DIR
    from tqgd.data.convert.manifest import MANIFEST_NAME, read_manifest
    from tqgd.errors import DatasetError

    val = (yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8")) or {}).get("val")
    listed = Path(str(val)) if Path(str(val)).is_absolute() else Path(dataset) / str(val)
    if listed.resolve().parent == (Path(dataset) / FOLDS_DIR).resolve():
        return None
    try:
        lines = [line.strip() for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise DatasetError(f"cannot read its validation list {listed} ({exc.strerror})", data_yaml) from exc
    rows = {str((Path(dataset) / row.image).resolve()): row.patient
            for row in read_manifest(Path(dataset) / MANIFEST_NAME)}
    images = [str((listed.parent / line).resolve()) for line in lines]
    unknown = [image for image in images if image not in rows]
    if unknown:
        raise DatasetError(f"its validation list {listed} names {len(unknown)} image(s) that {dataset / MANIFEST_NAME} "
                           f"does not hold (first: {unknown[0]}); it does not belong to this dataset", data_yaml)
    return sorted({rows[image] for image in images})


def validation_cases(dataset: Path, fold: int = 0, patients: Iterable[str] | None = None) -> list:
    """The validation patients of fold ``fold`` of a ``tqgd convert orcascore`` dataset (or ``patients``, a re-split
    fold's), as ``OrcaCase`` of the scans it was converted from.

    Raises:
        DatasetError: the dataset records no source scans or folds (not written by ``tqgd convert orcascore``), its
            source folder is gone, or the fold does not exist.
    """
    from tqgd.data.orcascore import discover_cases
    from tqgd.errors import DatasetError

    record, source = conversion_source(dataset)
    folds = {int(f["index"]): f for f in record["fold_patients"]}
    if patients is None and fold not in folds:
        raise DatasetError(f"has no fold {fold} (folds {sorted(folds)})", Path(dataset) / "convert.json")
    val = set(folds[fold]["val"] if patients is None else patients)
    return [case for case in discover_cases(source) if case.case_id in val]


def conversion_source(dataset: Path) -> tuple[dict[str, Any], Path]:
    """(convert.json, the folder of scans it was converted from) of a ``tqgd convert orcascore`` dataset; a dataset
    that cannot be swept is refused by name (``validation_cases``' errors)."""
    import json

    from tqgd.errors import DatasetError

    record_path = Path(dataset) / "convert.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the conversion record: {exc}", record_path) from exc
    if not record.get("source") or not record.get("fold_patients"):
        raise DatasetError("records no source scans and patient folds: only a dataset written by tqgd convert "
                           "orcascore names the validation scans to choose the confidence on", record_path)
    source = Path(record["source"])
    if not source.is_dir():
        raise DatasetError(f"the scans this dataset was converted from are gone ({source}); restore them there to "
                           "choose the operating point", record_path)
    return record, source


def validation_operating_point(dataset: Path, weights: Path, heart: Path | Callable | None = None,
                               device: str = "cpu", fold: int = 0, roi_crop: bool = False,
                               patients: Iterable[str] | None = None) -> dict[str, Any] | None:
    """The operating-point record of ``weights`` trained on fold ``fold`` of a ``tqgd convert orcascore`` dataset (or
    on a re-split fold validating ``patients``): the sweep over those validation patients (``validation_cases``; never
    test patients) and its best confidence (for the heart-ROI crop with ``roi_crop``). None when those patients hold
    no reference lesion or no confidence finds one."""
    cases = validation_cases(dataset, fold, patients)
    points = sweep_confidence(cases, weights, heart, device, roi_crop=roi_crop)
    best = best_point(points)
    if not best.reference_lesions or best.f1 == 0:
        return None
    return {"conf": best.conf, "f1": round(best.f1, 4), "fold": fold, "method": SWEEP_METHOD,
            "patients": sorted(case.case_id for case in cases),
            "rule": f"highest pooled lesion F1 (OrCaScore rules) of tqgd detect on the fold-{fold} validation patients",
            "sweep": [point.to_json() for point in points]}


def record_operating_point(weights: Path, data_yaml: Path, out: Path, heart: Path | None = None,
                           device: str = "cpu") -> dict[str, Any] | None:
    """Sweep ``weights`` on the validation patients of the dataset and fold ``data_yaml`` names (the patients of its
    ``val`` list for a fold ``tqgd cv`` re-split, ``listed_patients``); when a confidence
    finds lesions, write ``out`` (the checkpoint with the confidence under the key ``tqgd detect`` reads for the crop
    it will use: ``OPERATING_CONF_ROI_KEY`` for weights that already record a heart-ROI point, else
    ``OPERATING_CONF_KEY``) and ``<out stem>_operating_point.json`` (the record). Returns the record, or None
    (nothing written)."""
    from tqgd.engine.detect import DetectOptions, uses_roi_crop
    from tqgd.engine.detect_model import OPERATING_CONF_ROI_KEY, load_slice_detector
    from tqgd.engine.weights import save_with_keys
    from tqgd.io import write_json

    dataset, fold = dataset_fold(data_yaml)
    conversion_source(dataset)  # a dataset that cannot be swept is refused first, by name
    patients = listed_patients(data_yaml, dataset)  # a re-split fold (tqgd cv) validates other patients
    validation_cases(dataset, fold, patients)  # ... and a missing fold, before the weights are loaded
    roi_crop = uses_roi_crop(load_slice_detector(weights, device=device), DetectOptions())
    record = validation_operating_point(dataset, weights, heart, device, fold, roi_crop, patients)
    if record is None:
        return None
    record = {"weights": str(out), "swept_weights": str(weights), "dataset": str(dataset),
              "crop": "heart ROI (roi_crop)" if roi_crop else "square training crop",
              "heart_weights": str(heart) if heart else "as tqgd detect chooses (recorded in the weights)", **record}
    save_with_keys(weights, out, {OPERATING_CONF_ROI_KEY if roi_crop else OPERATING_CONF_KEY: record["conf"]})
    write_json(Path(out).with_name(f"{Path(out).stem}_operating_point.json"), record)
    return record
