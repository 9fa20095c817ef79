"""Calcium scores of one scan: per slice-lesion, per 3D lesion, per slice, per artery and per patient.

``score_mask`` scores a label/mask volume (a reference or any model's segmentation); ``score_detections``
scores tqgd's box detections through the box rule (``tqgd.scoring.boxes``). Both return a ``ScoreReport``.

Per per-slice lesion: area (mm^2) = pixels x pixel area; density weight from its peak HU; Agatston = area x
weight x slice factor (see ``options``); volume (mm^3) = area x slice spacing; mass (mg) = calibration factor
(mg/cm^3 per HU) x volume (cm^3) x mean HU, only when a calibration factor is given. Everything else is a sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.orcascore import REFERENCE_LABELS
from tqgd.data.volume import CTVolume
from tqgd.detections import DetectionResult
from tqgd.errors import LabelError, ScanReadError
from tqgd.scoring.boxes import BoxCalcium, calcium_from_boxes
from tqgd.scoring.density import density_weights
from tqgd.scoring.lesions import LesionComponents, find_lesions
from tqgd.scoring.masks import check_mask_matches, resolve_label_mode
from tqgd.scoring.options import ResolvedConventions, ScoringOptions, resolve
from tqgd.scoring.risk import RiskCategory, risk_category

MM3_PER_CM3 = 1000.0
#: Keys of ``ScoreReport.scan`` / ``.input`` left out of score.json unless identifiers are asked for: the patient's
#: name and IDs, and file paths (hospital folders are often named after the patient).
IDENTIFYING_KEYS = ("patient", "source", "path")


@dataclass
class SliceLesion:
    """One lesion on one slice: the unit Agatston scores."""

    lesion_id: int
    slice_index: int
    artery: str | None
    pixel_count: int
    area_mm2: float
    peak_hu: float
    mean_hu: float
    density_weight: int
    agatston: float
    volume_mm3: float
    mass_mg: float | None
    centroid_yx: tuple[float, float]


@dataclass
class Lesion:
    """A 3D lesion: its per-slice lesions and their sums."""

    lesion_id: int
    artery: str | None
    slices: list[SliceLesion]

    @property
    def agatston(self) -> float:
        """Sum of the per-slice Agatston scores."""
        return float(sum(s.agatston for s in self.slices))

    @property
    def volume_mm3(self) -> float:
        """Sum of the per-slice volumes."""
        return float(sum(s.volume_mm3 for s in self.slices))

    @property
    def mass_mg(self) -> float | None:
        """Sum of the per-slice masses; None without a calibration factor."""
        masses = [s.mass_mg for s in self.slices]
        return None if any(m is None for m in masses) else float(sum(masses))  # type: ignore[arg-type]

    @property
    def peak_hu(self) -> float:
        """Brightest voxel of the lesion."""
        return max(s.peak_hu for s in self.slices)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lesion with its slices."""
        return {"lesion_id": self.lesion_id, "artery": self.artery, "agatston": self.agatston,
                "volume_mm3": self.volume_mm3, "mass_mg": self.mass_mg, "peak_hu": self.peak_hu,
                "voxel_count": int(sum(s.pixel_count for s in self.slices)),
                "slice_range": [self.slices[0].slice_index, self.slices[-1].slice_index],
                "slices": [vars(s) | {"centroid_yx": list(s.centroid_yx)} for s in self.slices]}


@dataclass
class ScoreReport:
    """Scores of one scan plus every convention used; ``lesion_map`` (Z, Y, X) int32 is kept for figures and DICOM SEG
    only, and is None once released (``without_lesion_map``)."""

    lesions: list[Lesion]
    risk: RiskCategory
    options: ScoringOptions
    conventions: ResolvedConventions
    scan: dict[str, Any]
    input: dict[str, Any]
    arteries: bool
    lesion_map: np.ndarray | None = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def without_lesion_map(self) -> ScoreReport:
        """The same scores without the voxel lesion map (one int32 volume): what a run over many scans keeps."""
        return replace(self, lesion_map=None)

    @property
    def agatston(self) -> float:
        """Total Agatston score."""
        return float(sum(lesion.agatston for lesion in self.lesions))

    @property
    def volume_mm3(self) -> float:
        """Total calcium volume."""
        return float(sum(lesion.volume_mm3 for lesion in self.lesions))

    @property
    def mass_mg(self) -> float | None:
        """Total calcium mass; None without a calibration factor."""
        if self.options.mass_calibration_mg_per_cm3_hu is None:
            return None
        return float(sum(lesion.mass_mg or 0.0 for lesion in self.lesions))

    def per_artery(self) -> dict[str, dict[str, Any]] | None:
        """Totals per artery (LAD incl. left main, LCX, RCA, and ``undetermined`` for label 4: calcium whose artery
        the observer could not determine); None when the input has no artery labels."""
        if not self.arteries:
            return None
        return {name: _totals([lesion for lesion in self.lesions if lesion.artery == name], self.mass_mg is not None)
                for name in REFERENCE_LABELS.values()}

    def per_slice(self) -> list[dict[str, Any]]:
        """Totals per slice that holds calcium, by slice index."""
        by_slice: dict[int, list[SliceLesion]] = {}
        for lesion in self.lesions:
            for s in lesion.slices:
                by_slice.setdefault(s.slice_index, []).append(s)
        with_mass = self.mass_mg is not None
        return [{"slice_index": z, "lesion_count": len(items), "area_mm2": sum(s.area_mm2 for s in items),
                 "peak_hu": max(s.peak_hu for s in items), "agatston": sum(s.agatston for s in items),
                 "volume_mm3": sum(s.volume_mm3 for s in items),
                 "mass_mg": sum(s.mass_mg or 0.0 for s in items) if with_mass else None}
                for z, items in sorted(by_slice.items())]

    def to_dict(self, include_identifiers: bool = False) -> dict[str, Any]:
        """JSON-ready report (the ``score.json`` layout); patient identifiers and file paths only when asked for."""
        import tqgd

        scan, given = dict(self.scan), dict(self.input)
        if not include_identifiers:
            for key in IDENTIFYING_KEYS:
                scan.pop(key, None)
                given.pop(key, None)
        return {"tqgd_version": tqgd.__version__, "scan": scan, "input": given,
                "agatston": self.agatston, "volume_mm3": self.volume_mm3, "mass_mg": self.mass_mg,
                "risk_category": self.risk.label, "risk_category_index": self.risk.index,
                "risk_scheme": self.options.risk_scheme, "lesion_count": len(self.lesions),
                "per_artery": self.per_artery(), "options": self.options.to_dict(),
                "conventions": self.conventions.to_dict(), "per_slice": self.per_slice(),
                "lesions": [lesion.to_dict() for lesion in self.lesions], "notes": list(self.notes)}


def _totals(lesions: list[Lesion], with_mass: bool) -> dict[str, Any]:
    """Agatston, volume, mass (None without calibration) and count of ``lesions``."""
    return {"agatston": float(sum(x.agatston for x in lesions)),
            "volume_mm3": float(sum(x.volume_mm3 for x in lesions)),
            "mass_mg": float(sum(x.mass_mg or 0.0 for x in lesions)) if with_mass else None,
            "lesion_count": len(lesions)}


def check_has_hu(volume: CTVolume) -> None:
    """Raise ``ScanReadError`` when the volume holds grey values rather than Hounsfield units."""
    if not volume.meta.has_hu:
        raise ScanReadError(f"calcium scoring needs Hounsfield units, but this {volume.meta.format} input holds grey "
                            "values (a 2D image export has no HU); score the CT itself (DICOM, MetaImage or NIfTI)",
                            volume.meta.source)


def conventions_for(volume: CTVolume, options: ScoringOptions) -> ResolvedConventions:
    """Resolve ``options`` against the scan's kVp and slice geometry."""
    spacing = volume.meta.slice_spacing_mm or volume.spacing_mm[0]
    return resolve(options, kvp=volume.meta.kvp, slice_spacing_mm=spacing,
                   slice_thickness_mm=volume.meta.slice_thickness_mm)


def score_labels(volume: CTVolume, labels: np.ndarray, options: ScoringOptions, *, arteries: bool,
                 input_info: dict[str, Any], notes: list[str] | None = None) -> ScoreReport:
    """Score a label volume already checked against ``volume`` (the shared core of both entry points)."""
    check_has_hu(volume)
    conventions = conventions_for(volume, options)
    components = find_lesions(volume.hu, labels, volume.spacing_mm, calcium_floor_hu=conventions.calcium_floor_hu,
                              connectivity_2d=options.connectivity_2d, min_area_mm2=options.min_lesion_area_mm2,
                              arteries=arteries)
    lesions = _build_lesions(components, volume.spacing_mm, conventions, options)
    notes = list(notes or [])
    if components.dropped_small:
        notes.append(f"{components.dropped_small} per-slice components smaller than "
                     f"{options.min_lesion_area_mm2:g} mm^2 were not counted (minimum-area rule)")
    total = float(sum(lesion.agatston for lesion in lesions))
    return ScoreReport(lesions=lesions, risk=risk_category(total, options.risk_scheme), options=options,
                       conventions=conventions, scan=volume.meta.public_dict(include_identifiers=True),
                       input=input_info, arteries=arteries,
                       lesion_map=components.lesion_map, notes=notes)


def _build_lesions(c: LesionComponents, spacing_mm: tuple[float, float, float], conventions: ResolvedConventions,
                   options: ScoringOptions) -> list[Lesion]:
    """Turn per-slice components into scored ``SliceLesion``s grouped by 3D lesion (see the module docstring)."""
    pixel_area_mm2 = spacing_mm[1] * spacing_mm[2]
    area = c.pixel_count * pixel_area_mm2
    weight = density_weights(c.peak_hu, conventions.calcium_floor_hu)
    agatston = area * weight * conventions.slice_factor
    volume = area * conventions.slice_spacing_mm
    mean_hu = c.sum_hu / np.maximum(c.pixel_count, 1)
    calibration = options.mass_calibration_mg_per_cm3_hu
    lesions: dict[int, Lesion] = {}
    for i in range(len(c.lesion_id)):
        artery = REFERENCE_LABELS.get(int(c.artery_value[i]))
        mass = None if calibration is None else float(calibration * volume[i] / MM3_PER_CM3 * mean_hu[i])
        item = SliceLesion(lesion_id=int(c.lesion_id[i]), slice_index=int(c.slice_index[i]), artery=artery,
                           pixel_count=int(c.pixel_count[i]), area_mm2=float(area[i]), peak_hu=float(c.peak_hu[i]),
                           mean_hu=float(mean_hu[i]), density_weight=int(weight[i]), agatston=float(agatston[i]),
                           volume_mm3=float(volume[i]), mass_mg=mass,
                           centroid_yx=(float(c.centroid_y[i]), float(c.centroid_x[i])))
        lesions.setdefault(item.lesion_id, Lesion(item.lesion_id, artery, [])).slices.append(item)
    return [lesions[k] for k in sorted(lesions)]


def score_mask(volume: CTVolume, mask: np.ndarray, options: ScoringOptions | None = None, *,
               mask_path: str | Path | None = None,
               mask_spacing_mm: tuple[float, float, float] | None = None) -> ScoreReport:
    """Score a calcium label/mask volume (Z, Y, X) on ``volume``; artery labels give per-artery scores."""
    options = options or ScoringOptions()
    check_mask_matches(volume, mask, mask_spacing_mm, mask_path)
    arteries = resolve_label_mode(mask, options.mask_labels, mask_path)
    info = {"kind": "mask", "path": str(mask_path) if mask_path is not None else None,
            "labels": "arteries" if arteries else "binary"}
    return score_labels(volume, np.asarray(mask), options, arteries=arteries, input_info=info)


def check_detections_match(volume: CTVolume, result: DetectionResult, path: str | Path | None = None) -> None:
    """Raise ``LabelError`` unless ``result`` was made on a scan with ``volume``'s grid (and series, when known)."""
    if tuple(result.shape_zyx) != tuple(volume.shape):
        raise LabelError(f"detections are for a scan of shape (z, y, x) = {tuple(result.shape_zyx)} "
                         f"({result.source}), but the CT {volume.meta.source} has shape {tuple(volume.shape)}; run "
                         "tqgd detect on this scan or give the scan the detections were made on", path)
    if not np.allclose(result.spacing_mm, volume.spacing_mm, rtol=1e-3):
        raise LabelError(f"detections were made on voxel spacing {tuple(result.spacing_mm)} mm but the CT has "
                         f"{tuple(round(s, 4) for s in volume.spacing_mm)} mm; give the scan they were made on", path)
    if result.series_uid and volume.meta.series_uid and result.series_uid != volume.meta.series_uid:
        raise LabelError(f"detections are for series {result.series_uid}, the CT is series {volume.meta.series_uid}; "
                         "give the scan the detections were made on", path)


def box_calcium(volume: CTVolume, result: DetectionResult, options: ScoringOptions, *,
                detections_path: str | Path | None = None) -> BoxCalcium:
    """Check ``result`` against ``volume`` and turn its boxes into calcium voxels (``tqgd.scoring.boxes``)."""
    check_has_hu(volume)
    check_detections_match(volume, result, detections_path)
    floor_hu = conventions_for(volume, options).calcium_floor_hu
    return calcium_from_boxes(volume.hu, result, calcium_floor_hu=floor_hu, connectivity_2d=options.connectivity_2d)


def score_box_calcium(volume: CTVolume, found: BoxCalcium, result: DetectionResult, options: ScoringOptions, *,
                      detections_path: str | Path | None = None) -> ScoreReport:
    """Score calcium found by ``box_calcium``, recording the detections and what the box rule did."""
    info = {"kind": "detections", "path": str(detections_path) if detections_path is not None else None,
            "labels": "arteries" if found.arteries else "binary", "boxes": found.boxes_total,
            "boxes_without_calcium": found.boxes_without_calcium, "model": result.model}
    return score_labels(volume, found.labels, options, arteries=found.arteries, input_info=info, notes=found.notes)


def score_detections(volume: CTVolume, result: DetectionResult, options: ScoringOptions | None = None, *,
                     detections_path: str | Path | None = None) -> ScoreReport:
    """Score tqgd box detections on ``volume`` through the box rule (``tqgd.scoring.boxes``)."""
    options = options or ScoringOptions()
    found = box_calcium(volume, result, options, detections_path=detections_path)
    return score_box_calcium(volume, found, result, options, detections_path=detections_path)
