"""``tqgd detect`` end to end: find the scans in SOURCE, detect calcium on each, write its outputs.

SOURCE is one scan (a ``.dcm`` file, a DICOM series folder, ``.mhd``/``.mha``, ``.nii``/``.nii.gz``, or a 2D PNG/JPEG
export) or a folder of scans (sub-folders holding DICOM series, and scan files). A folder that holds DICOM files
itself is one series. One scan writes into OUT; several write ``OUT/<name>/`` each, ``<name>`` being the file's scan
ID or, for DICOM, the SeriesInstanceUID: never a patient name. A scan that fails is reported and the others go on.

Per scan: ``detections.json`` (``tqgd.detections``), ``detections.csv`` (one row per box), ``overlays/slice_<z>.png``,
and, when the scan holds HU, ``score.json`` and ``report.png`` from ``tqgd.scoring``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqgd.detections import DetectionResult, save_detections
from tqgd.engine.detect import DetectOptions, choose_crop, detect_volume, operating_conf, uses_roi_crop
from tqgd.engine.detect_model import SliceDetector, load_slice_detector
from tqgd.engine.heart_crop import HeartCropper
from tqgd.errors import (
    CheckpointError,
    ConfigError,
    OutputError,
    ScanReadError,
    TQGDError,
)
from tqgd.io import check_writable, write_json, write_text

CSV_COLUMNS = ("slice_index", "class_id", "class_name", "confidence", "x0_px", "y0_px", "x1_px", "y1_px",
               "centre_x_mm", "centre_y_mm", "centre_z_mm", "origin")
#: File endings read as scans when SOURCE is a folder of scans (.raw/.zraw are MetaImage data, not scans).
_NOT_SCANS = (".raw", ".zraw", ".json", ".txt", ".csv", ".md")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class DetectSetup:
    """What every scan of a run shares: the calcium detector, the heart cropper (None: full slices), options."""

    detector: SliceDetector
    cropper: HeartCropper | None
    options: DetectOptions
    notes: list[str] = field(default_factory=list)


@dataclass
class ScanOutcome:
    """One scan's result: where its outputs went, or why it failed."""

    source: Path
    name: str
    out: Path | None = None
    error: str | None = None
    result: DetectionResult | None = None
    score: Any = None  # tqgd.scoring.ScoreReport when the scan holds HU
    notes: list[str] = field(default_factory=list)

    @property
    def detections(self) -> int:
        """Number of boxes found."""
        return len(self.result.all_detections()) if self.result is not None else 0


def make_setup(weights: Path, heart_weights: Path | None, options: DetectOptions, device: str | None = None,
               trust: bool | None = None, backend: str = "torch") -> DetectSetup:
    """Load the calcium and heart detectors (restricted loading unless ``trust``) on ``backend`` ("torch", "onnx",
    "openvino": ``tqgd.engine.backends``) and decide the crop."""
    detector = load_slice_detector(weights, device=device, trust=trust, backend=backend)
    cropper, notes = choose_crop(detector, heart_weights, device, trust, backend)
    if cropper is not None and cropper.detector.backend != "torch":
        notes.append(cropper.detector.notes[-1])  # which export the heart detector runs
    roi_crop = uses_roi_crop(detector, options)
    if options.conf is None and (detector.operating_conf is not None or detector.operating_conf_roi is not None):
        roi_point = detector.operating_conf is None or (roi_crop and detector.operating_conf_roi is not None)
        notes.append(f"confidence {operating_conf(detector, options):g}: the operating point recorded in the weights "
                     f"for the {'heart-ROI' if roi_point else 'square'} crop (--conf overrides it)")
    options = replace(options, conf=operating_conf(detector, options), roi_crop=roi_crop)
    return DetectSetup(detector=detector, cropper=cropper, options=options, notes=[*detector.notes, *notes])


def _is_dicom_file(path: Path) -> bool:
    from tqgd.data.readers import looks_like_dicom

    return path.suffix.lower() in (".dcm", ".dicom", ".ima") or looks_like_dicom(path)


def find_scans(source: Path) -> tuple[list[Path], bool]:
    """The scans in ``source`` and whether there are several (a folder of scans) or one.

    Raises:
        ScanReadError: a folder with neither DICOM files nor scans in it.
    """
    if not source.is_dir():
        return [source], False
    children = sorted(p for p in source.iterdir() if not p.name.startswith("."))
    if any(p.is_file() and _is_dicom_file(p) for p in children):
        return [source], False
    scans = [p for p in children if p.is_dir() or not p.name.lower().endswith(_NOT_SCANS)]
    if not scans:
        raise ScanReadError("no scans here: expected DICOM files, or sub-folders and scan files (.dcm, .mhd, "
                            ".nii.gz, .png)", source)
    return scans, True


def output_name(volume, used: set[str]) -> str:
    """Folder name for a scan's outputs: DICOM SeriesInstanceUID, else the scan ID; unique; never a patient name."""
    meta = volume.meta
    name = (meta.series_uid if meta.format == "dicom" and meta.series_uid else None) or meta.scan_id or "scan"
    name = _UNSAFE_NAME.sub("_", name).strip("._") or "scan"
    identifiers = [part.lower() for value in meta.patient.values() for part in re.split(r"[\^ ,]+", str(value))
                   if len(part) > 2]
    if any(part in name.lower() for part in identifiers):
        name = _UNSAFE_NAME.sub("_", meta.series_uid or "") or "scan"
    unique, n = name, 2
    while unique in used:
        unique, n = f"{name}_{n}", n + 1
    used.add(unique)
    return unique


def detections_csv(result: DetectionResult) -> str:
    """CSV text with one row per detection (``CSV_COLUMNS``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for z, d in result.all_detections():
        centre = d.box_patient_mm.get("centre_mm", [None, None, None])
        writer.writerow([z, d.class_id, d.class_name, d.confidence, *d.box_xyxy, *centre, d.origin])
    return buffer.getvalue()


def write_outputs(volume, result: DetectionResult, setup: DetectSetup, out: Path, outcome: ScanOutcome) -> None:
    """detections.json/.csv, overlays, and score.json + report.png when the scan holds HU."""
    from tqgd.engine.overlay import OVERLAY_DIR, write_overlays
    from tqgd.scoring import score_detections
    from tqgd.scoring.report import write_report_png

    save_detections(result, out / "detections.json")
    write_text(out / "detections.csv", detections_csv(result))
    write_overlays(volume, setup.detector.windowing, result, out / OVERLAY_DIR)
    if volume.meta.has_hu:
        outcome.score = score_detections(volume, result, detections_path=out / "detections.json")
        write_json(out / "score.json", outcome.score.to_dict(include_identifiers=setup.options.include_identifiers))
        write_report_png(outcome.score, volume, out / "report.png")
    else:
        outcome.notes.append("no Hounsfield units (2D image export): no calcium score; score the CT itself")


def detect_scan(path: Path, out: Path, setup: DetectSetup, used: set[str], several: bool,
                progress: Callable[[str, int, int], None] | None = None, series_uid: str | None = None
                ) -> ScanOutcome:
    """Read, crop, detect and write one scan (``out`` is OUT, or the parent of its sub-folder when ``several``)."""
    from tqgd.data.readers import read_ct

    volume = read_ct(path, series_uid=series_uid) if series_uid else read_ct(path)
    outcome = ScanOutcome(source=path, name=output_name(volume, used))
    outcome.out = out / outcome.name if several else out

    def report(stage: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: progress(f"{outcome.name}: {stage}", done, total)) if progress else None

    roi = setup.cropper.roi(volume, report("heart")) if setup.cropper is not None else None
    result = detect_volume(volume, setup.detector, roi, setup.options, report("slices"))
    if setup.cropper is not None:
        result.model["heart_crop"]["heart_model"] = setup.cropper.detector.describe()
    result.model["notes"] = list(setup.notes)
    physics = result.model.get("physics_filter")
    if physics is not None:
        outcome.notes.append(f"physics filter: dropped {physics['dropped_boxes']} boxes without a voxel >= "
                             f"{physics['threshold_hu']:g} HU, {physics.get('dropped_metal_boxes', 0)} on metal "
                             f"(>= {physics.get('metal_hu', 0):g} HU) and {physics.get('dropped_spilling_boxes', 0)} "
                             "on structures larger than twice the box (--no-physics-filter keeps them)")
    checked = result.model.get("verifier")
    if checked is not None:
        outcome.notes.append(f"lesion verifier: rejected {checked['rejected_components']} of "
                             f"{checked['checked_components']} boxed 3D components (score < {checked['threshold']:g}) "
                             f"and dropped their {checked['dropped_boxes']} boxes (--no-verify keeps them)")
        rescue = checked.get("rescue")
        if rescue is not None and "skipped" not in rescue:
            outcome.notes.append(f"rescue: {rescue['rescued_components']} of {rescue['scored_unboxed_components']} "
                                 f"unboxed components scored >= {rescue['min_score']:g} and were reported (origin "
                                 "'verifier'; --no-rescue leaves them)")
        elif rescue is not None:
            outcome.notes.append(f"rescue skipped: {rescue['skipped']}")
    tips = result.model.get("tip_completion")
    if tips is not None and tips["added_boxes"] + tips["raised_boxes"]:
        whole = tips.get("whole_lesion_score")
        where = (f"the end slices (<= {tips['max_area_px']} px) of found lesions" if whole is None else
                 f"the end slices (<= {tips['max_area_px']} px) of found lesions and every slice of those the verifier "
                 f"scores >= {whole:g}")
        if tips.get("bridge_gaps"):
            where += ", and the slices between two boxed slices of a found lesion"
        outcome.notes.append(f"3D completion: added {tips['added_boxes']} boxes on {where} and raised "
                             f"{tips['raised_boxes']} less confident ones there to their lesion's confidence "
                             "(--no-complete-tips leaves them)")
    outcome.result = result
    write_outputs(volume, result, setup, outcome.out, outcome)
    return outcome


def check_output(source: Path, out: Path) -> None:
    """Refuse an output folder inside a source folder (outputs would be mixed into the scans)."""
    source, out = source.resolve(), out.resolve()
    if source.is_dir() and out.is_relative_to(source):
        raise OutputError(f"the output folder lies inside the input folder {source}; choose --out outside it", out)
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose a folder for --out", out)


def run_detect(source: Path, out: Path, setup: DetectSetup,
               progress: Callable[[str, int, int], None] | None = None,
               on_scan: Callable[[ScanOutcome], None] | None = None, series_uid: str | None = None
               ) -> list[ScanOutcome]:
    """Detect on every scan of ``source``; one scan's error propagates, in a folder of scans it is recorded.

    ``series_uid`` picks one series of a DICOM folder holding several. ``on_scan`` is called after each scan (done or
    failed). With several scans, ``OUT/summary.json`` lists them, and each outcome's score drops its voxel lesion map
    after ``on_scan`` (totals, lesions and risk stay), so the outcomes do not hold one volume per scan.
    """
    check_output(source, out)
    check_writable(out)  # a read-only or full --out fails now, not after every scan was read and detected
    scans, several = find_scans(source)
    if several and series_uid:
        raise ConfigError("--series-uid picks one series of a DICOM folder, but SOURCE is a folder of several scans; "
                          "point SOURCE at the DICOM folder that holds the series", source)
    used: set[str] = set()
    outcomes = []
    for path in scans:
        try:
            outcome = detect_scan(path, out, setup, used, several, progress, series_uid)
        except TQGDError as exc:
            if not several:
                raise
            outcome = ScanOutcome(source=path, name=path.name, error=str(exc))
        except Exception as exc:  # one unreadable scan must not stop the others; the summary names it
            if not several:
                raise
            outcome = ScanOutcome(source=path, name=path.name, error=f"unexpected {type(exc).__name__}: {exc}")
        outcomes.append(outcome)
        if on_scan is not None:
            on_scan(outcome)
        if several and outcome.score is not None:
            outcome.score = outcome.score.without_lesion_map()  # else every outcome holds an int32 volume
    if several:
        paths = setup.options.include_identifiers  # source paths may name patients: only when asked for
        write_json(out / "summary.json", {**({"source": str(source)} if paths else {}),
                                          "scans": [summary_row(o, paths) for o in outcomes]})
    return outcomes


def summary_row(outcome: ScanOutcome, include_source: bool = False) -> dict[str, Any]:
    """One scan in summary.json: its name (output folder), source path (when asked for), status, boxes, Agatston
    and risk (when scored)."""
    return {"scan": outcome.name, **({"source": str(outcome.source)} if include_source else {}),
            "output": str(outcome.out) if outcome.out else None,
            "ok": outcome.error is None, "error": outcome.error, "detections": outcome.detections,
            "agatston": outcome.score.agatston if outcome.score is not None else None,
            "risk_category": outcome.score.risk.label if outcome.score is not None else None}


def failed_summary(outcomes: list[ScanOutcome]) -> TQGDError | None:
    """The error ending a run where some scans failed (None when all succeeded)."""
    failed = [o for o in outcomes if o.error is not None]
    if not failed:
        return None
    lines = "\n".join(f"  {o.source}: {o.error}" for o in failed)
    return ScanReadError(f"{len(failed)} of {len(outcomes)} scans failed (the others were written):\n{lines}")


def default_weights() -> tuple[Path, Path | None]:
    """Weights used without ``--weights``: the phantom weights shipped with tqgd (``tqgd.weights``), else the ones
    ``tqgd demo`` left behind.

    Raises:
        CheckpointError: neither exists; says how to get weights.
    """
    from tqgd.engine.demo import demo_weights_dir
    from tqgd.weights import shipped_weights

    shipped = shipped_weights()
    if shipped is not None:
        return shipped
    folder = demo_weights_dir()
    calcium, heart = folder / "calcium.pt", folder / "heart.pt"
    if not calcium.is_file():
        raise CheckpointError("no --weights given, and this install has neither shipped weights nor demo weights; pass "
                              "--weights with a trained model (tqgd train), or run `tqgd demo` to train phantom weights "
                              "(for trying tqgd out, not for patients)", folder)
    return calcium, heart if heart.is_file() else None
