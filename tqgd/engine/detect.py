"""One scan -> calcium detections in full-slice pixels and patient millimetres (``detect_volume``: ``model_pass``, the
model on every slice, then ``finish_pass``, every step after the model, at a confidence at least the pass's).

Slices become model images exactly as the training slices did (``tqgd.data.model_input`` with the ``InputSpec`` recorded
in the weights: window, 2.5D context, fixed native-pixel crop around the heart ROI), and go through the model in
batches, one call per batch; only one batch of images exists at a time.

Physics filter (on by default, ``DetectOptions.physics_filter``): a box that holds no voxel at or above the calcium
threshold (130 HU) cannot be calcium and is dropped, and neither can a box whose (snapped) deposit reaches metal
density (``metal_hu``, 2500 HU: coronary calcium stays under about 1500-2000 HU at 120 kVp, while wires, clips and
pacemaker leads saturate a 12-bit scanner at 3071 HU; OrCaScore-style references do not score metal), nor a box whose
calcium component runs on past the snapping window (``drop_spilling``: the box sits on part of a structure more
than twice its size, such as a rib or the aortic wall, not on a deposit it encloses); the result records how many
of each were dropped. With the filter on, slices whose crop holds no voxel >= the threshold are not sent through the
model at all (no box there could survive; 7-17 % of the phantom's slices). Box snapping (on by
default, ``DetectOptions.snap_boxes``): a kept box is replaced by the tight box of the calcium (>= threshold,
8-connected) that holds its brightest pixel, searched within the box grown by half its size: the reference boxes
are exactly such tight boxes, and a 2 px deposit needs sub-pixel box edges to reach IoU 0.5. Boxes that snap to the
same deposit are merged (the most confident is kept). 3D completion (with the physics filter, on by default,
``DetectOptions.complete_tips``): a found lesion's small end slices get boxes too (``tqgd.engine.lesion_tips``).
Lesion verification (with the physics filter, on by default, ``DetectOptions.verify``): before completion, a small 3D
network looks at the whole >= 130 HU component under each box and the boxes of components it rejects (aortic wall,
bone, metal look-alikes) are dropped (``tqgd.verify``); a component it scores at least
``DetectOptions.whole_lesion_score`` is then completed on every slice, not only at its small ends, and with
``DetectOptions.bridge_gaps`` (on by default) every kept component's pieces between two of its boxed slices are boxed.
Boxes come back in crop pixels and are shifted by the crop offset to full-slice pixel edges (``crop_to_full``),
then mapped to patient millimetres with ``CTVolume.index_to_patient`` (``box_patient_mm``): pixel edge ``x`` is
continuous index ``x - 0.5``, as ``tqgd.detections`` defines.

Which crop (``choose_crop``): the one the model was trained with. Weights converted with a heart cropper record it
(heart weights and ROI settings, in the embedded convert.json): ``--heart-weights`` replaces the recorded path,
otherwise the recorded heart weights are used; weights trained on full slices run on full slices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.volume import CTVolume
from tqgd.detections import Detection, DetectionResult, SliceDetections
from tqgd.data.model_input import crop_box, cut, roi_box, slice_images
from tqgd.engine.detect_model import SliceDetector, model_pixels, predict, to_bgr
from tqgd.engine.heart_crop import HeartCropper, HeartCropSettings, HeartROI
from tqgd.engine.lesion_tips import TIP_MAX_AREA_PX, WHOLE_LESION_SCORE, complete_tips
from tqgd.errors import CheckpointError, ConfigError
from tqgd.verify.rescue import RESCUE_MIN_VOXELS, RESCUE_SCORE, rescue_rows
from tqgd.verify.runtime import load_verifier, verify_rows

#: Confidence of weights that record no operating point (ultralytics' usual value).
DEFAULT_CONF = 0.25
#: Called as progress(slices_done, slices_total) after each batch.
SliceProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class DetectOptions:
    """Calcium detection settings: keep boxes with ``conf`` or more; ``batch`` slices per model call;
    ``include_identifiers`` writes source paths and patient identifiers into the outputs (left out by default);
    ``physics_filter`` drops boxes without a voxel >= ``physics_threshold_hu`` and boxes reaching ``metal_hu``
    (scans with HU only)."""

    conf: float | None = None  # None: the operating confidence recorded in the weights, else DEFAULT_CONF
    batch: int = 16
    include_identifiers: bool = False
    physics_filter: bool = True
    physics_threshold_hu: float = 130.0
    metal_hu: float = 2500.0
    snap_boxes: bool = True
    drop_spilling: bool = True  # with snapping: drop boxes whose calcium runs on past twice the box (bone, aorta)
    # run on the heart ROI rounded up to 32 px instead of the square crop the model trained on; None: when the weights
    # record an operating point for it (``uses_roi_crop``)
    roi_crop: bool | None = None
    # with the physics filter: boxes for a found lesion's small end slices (``tqgd.engine.lesion_tips``)
    complete_tips: bool = True
    tip_max_area_px: int = TIP_MAX_AREA_PX
    # with 3D completion: a lesion's pieces of any size on slices between two of its boxed slices get boxes too
    bridge_gaps: bool = True
    # with the physics filter: drop boxes whose 3D component the lesion verifier rejects (``tqgd.verify``); None
    # verifier: the shipped one; None threshold: the one recorded in the verifier
    verify: bool = True
    verifier: str | None = None
    verify_threshold: float | None = None
    # with the verifier and 3D completion: a component it scores at least this is completed whole (pieces of any
    # size), not only its small end slices; None: tips only
    whole_lesion_score: float | None = WHOLE_LESION_SCORE
    # with the verifier: an unboxed component of ``rescue_min_voxels`` or more that it scores at least this is seeded
    # as a detection and completed whole (``tqgd.verify.rescue``); None: only boxed components are judged
    rescue_score: float | None = RESCUE_SCORE
    rescue_min_voxels: int = RESCUE_MIN_VOXELS

    def __post_init__(self) -> None:
        if self.conf is not None and not 0.0 <= self.conf < 1.0:
            raise ConfigError(f"--conf must lie in [0, 1), got {self.conf}")
        if self.batch < 1:
            raise ConfigError(f"--batch must be 1 or more, got {self.batch}")
        if self.tip_max_area_px < 1:
            raise ConfigError(f"the largest end-slice piece must be 1 px or more, got {self.tip_max_area_px}")
        if self.verify_threshold is not None and not 0.0 <= self.verify_threshold < 1.0:
            raise ConfigError(f"--verify-threshold must lie in [0, 1), got {self.verify_threshold}")
        if self.whole_lesion_score is not None and not 0.0 <= self.whole_lesion_score <= 1.0:
            raise ConfigError(f"--whole-lesion-score must lie in [0, 1], got {self.whole_lesion_score}")
        if self.rescue_score is not None and not 0.0 <= self.rescue_score <= 1.0:
            raise ConfigError(f"--rescue-score must lie in [0, 1], got {self.rescue_score}")
        if self.rescue_min_voxels < 1:
            raise ConfigError(f"--rescue-min-voxels must be 1 or more, got {self.rescue_min_voxels}")


def box_patient_mm(volume: CTVolume, slice_index: int, box_xyxy: tuple[float, float, float, float]
                   ) -> dict[str, list[float]]:
    """A full-slice pixel-edge box on slice ``slice_index`` in patient (LPS) mm: its four corners and its centre."""
    x0, y0, x1, y1 = box_xyxy
    points = {"x0y0_mm": (x0, y0), "x1y0_mm": (x1, y0), "x1y1_mm": (x1, y1), "x0y1_mm": (x0, y1),
              "centre_mm": ((x0 + x1) / 2, (y0 + y1) / 2)}
    index = np.array([[slice_index, y - 0.5, x - 0.5] for x, y in points.values()], dtype=np.float64)
    mm = volume.index_to_patient(index)
    return {name: [round(float(v), 4) for v in row] for name, row in zip(points, mm, strict=True)}


def crop_to_full(rows: np.ndarray, offset_xy: tuple[int, int]) -> np.ndarray:
    """Prediction rows (N, 6) with boxes in crop pixels -> the same rows in full-slice pixels."""
    shifted = np.array(rows, dtype=np.float64, copy=True).reshape(-1, 6)
    shifted[:, [0, 2]] += offset_xy[0]
    shifted[:, [1, 3]] += offset_xy[1]
    return shifted


def recorded_crop(detector: SliceDetector) -> dict[str, Any] | str | None:
    """The crop the calcium weights were trained with (their convert.json ``crop``): None for full slices."""
    return detector.preprocess.get("crop")


def choose_crop(detector: SliceDetector, heart_weights: str | Path | None, device: str | None = None,
                trust: bool | None = None, backend: str = "torch") -> tuple[HeartCropper | None, list[str]]:
    """The heart cropper detection must use with ``detector`` (None: full slices), its model on ``backend``, and
    notes saying why.

    Raises:
        CheckpointError: the weights were trained on heart crops, but no usable heart weights are known.
    """
    record = recorded_crop(detector)
    settings = HeartCropSettings()
    if isinstance(record, dict) and isinstance(record.get("settings"), dict):
        settings = HeartCropSettings.from_json(record["settings"])
    if heart_weights is not None:
        notes = [] if record else ["the calcium model was trained on full slices, but a heart crop was asked for "
                                   "(--heart-weights); results may differ from validation"]
        return HeartCropper(heart_weights, settings, device, trust, backend), notes
    if not record:
        return None, ["calcium model trained on full slices: detecting on full slices (no heart crop)"]
    recorded = Path(record["heart_weights"]) if isinstance(record, dict) and record.get("heart_weights") else None
    if recorded is None or not recorded.is_file():
        where = f" (recorded: {recorded}, not found)" if recorded else ""
        raise CheckpointError(f"these weights were trained on heart-cropped slices{where}; pass --heart-weights with "
                              "the heart detector used for that conversion", detector.weights)
    note = f"heart crop with the heart weights recorded in the calcium weights: {recorded}"
    return HeartCropper(recorded, settings, device, trust, backend), [note]


def uses_roi_crop(detector: SliceDetector, options: DetectOptions) -> bool:
    """``options.roi_crop``, else whether the weights record an operating point for the ROI crop."""
    if options.roi_crop is not None:
        return options.roi_crop
    return getattr(detector, "operating_conf_roi", None) is not None


def operating_conf(detector: SliceDetector, options: DetectOptions) -> float:
    """``options.conf``, else the weights' operating confidence recorded for the crop in use, else their other
    recorded one, else ``DEFAULT_CONF``."""
    if options.conf is not None:
        return options.conf
    recorded = [getattr(detector, "operating_conf", None), getattr(detector, "operating_conf_roi", None)]
    if uses_roi_crop(detector, options):
        recorded.reverse()
    return next((float(conf) for conf in recorded if conf is not None), DEFAULT_CONF)


def box_peak_hu(hu_slice: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per box row (full-slice pixel edges), the highest HU of the pixels it touches (-inf for an empty box): (N,)."""
    peaks = np.full(len(rows), -np.inf)
    for i, (x0, y0, x1, y1) in enumerate(rows[:, :4]):
        region = hu_slice[int(np.floor(y0)):int(np.ceil(y1)), int(np.floor(x0)):int(np.ceil(x1))]
        if region.size:
            peaks[i] = float(region.max())
    return peaks


def holds_calcium(hu_slice: np.ndarray, rows: np.ndarray, threshold_hu: float) -> np.ndarray:
    """Per box row, whether any pixel it touches is >= ``threshold_hu``: bool (N,)."""
    return box_peak_hu(hu_slice, rows) >= threshold_hu


def below_metal(hu_slice: np.ndarray, rows: np.ndarray, metal_hu: float) -> np.ndarray:
    """Per box row, whether every pixel it touches stays under ``metal_hu`` (metal is not calcium): bool (N,)."""
    return box_peak_hu(hu_slice, rows) < metal_hu


#: The counts ``postprocess_rows`` returns, as recorded under ``model.physics_filter`` of a detections file.
DROP_COUNTS = ("dropped_boxes", "dropped_metal_boxes", "dropped_spilling_boxes")


def postprocess_rows(hu_slice: np.ndarray, rows: np.ndarray, options: DetectOptions) -> tuple[np.ndarray, dict[str, int]]:
    """The steps after the model on one slice's full-slice rows (N, 6) with HU: physics filter (no voxel >= the
    threshold), snapping, then boxes on metal and (``drop_spilling``) boxes on larger structures dropped; returns the
    rows and the count of each drop (``DROP_COUNTS``)."""
    counts = dict.fromkeys(DROP_COUNTS, 0)
    if options.physics_filter and len(rows):
        keep = holds_calcium(hu_slice, rows, options.physics_threshold_hu)
        counts["dropped_boxes"], rows = int((~keep).sum()), rows[keep]
    if options.snap_boxes and len(rows):
        rows, spills = snap_rows(hu_slice, rows, options.physics_threshold_hu)
        if options.physics_filter and options.drop_spilling:
            counts["dropped_spilling_boxes"], rows = int(spills.sum()), rows[~spills]
    if options.physics_filter and len(rows):
        keep = below_metal(hu_slice, rows, options.metal_hu)
        counts["dropped_metal_boxes"], rows = int((~keep).sum()), rows[keep]
    return rows, counts


def snap_to_calcium(hu_slice: np.ndarray, rows: np.ndarray, threshold_hu: float) -> np.ndarray:
    """Rows (N, 6) with each box replaced by the tight box of the >= ``threshold_hu`` 8-connected component holding its
    brightest pixel, searched in the box grown by half its size (at least 2 px) on every side; duplicates merged.

    A box without such a pixel is kept as it is. Output rows are sorted by confidence, highest first.
    """
    return snap_rows(hu_slice, rows, threshold_hu)[0]


def snap_rows(hu_slice: np.ndarray, rows: np.ndarray, threshold_hu: float) -> tuple[np.ndarray, np.ndarray]:
    """``snap_to_calcium``'s rows (M, 6) and, per output row, whether its component runs on past the search window
    (touches a window side that is not the slice border): part of a structure more than twice the model's box, such
    as bone or the aortic wall, rather than a deposit the box encloses. bool (M,)."""
    from scipy import ndimage

    height, width = hu_slice.shape
    out, spills = [], []
    for row in rows[np.argsort(-rows[:, 4])] if len(rows) else rows:
        x0, y0, x1, y1 = row[:4]
        bx0, by0 = int(np.floor(x0)), int(np.floor(y0))
        bx1, by1 = max(int(np.ceil(x1)), bx0 + 1), max(int(np.ceil(y1)), by0 + 1)
        inner = hu_slice[by0:by1, bx0:bx1]
        if not inner.size or float(inner.max()) < threshold_hu:
            out.append(row)
            spills.append(False)
            continue
        gx, gy = max(2, (bx1 - bx0) // 2), max(2, (by1 - by0) // 2)
        wx0, wy0, wx1, wy1 = max(bx0 - gx, 0), max(by0 - gy, 0), min(bx1 + gx, width), min(by1 + gy, height)
        labels, _ = ndimage.label(hu_slice[wy0:wy1, wx0:wx1] >= threshold_hu, structure=np.ones((3, 3)))
        peak_y, peak_x = np.unravel_index(int(np.argmax(inner)), inner.shape)
        ys, xs = np.nonzero(labels == labels[by0 - wy0 + peak_y, bx0 - wx0 + peak_x])
        snapped = row.copy()
        snapped[:4] = (wx0 + xs.min(), wy0 + ys.min(), wx0 + xs.max() + 1, wy0 + ys.max() + 1)
        if any(np.array_equal(snapped[:4], kept[:4]) for kept in out):
            continue
        out.append(snapped)
        spills.append(bool((xs.min() == 0 < wx0) or (ys.min() == 0 < wy0) or (xs.max() == wx1 - wx0 - 1 and wx1 < width)
                           or (ys.max() == wy1 - wy0 - 1 and wy1 < height)))
    return np.array(out, dtype=np.float64).reshape(-1, 6), np.array(spills, dtype=bool)


def _images(volume: CTVolume, detector: SliceDetector, z_indices: list[int], box: tuple[int, int, int, int]
            ) -> list[np.ndarray]:
    """Model images (BGR) of slices ``z_indices`` cut to ``box``, built as the training slices were."""
    if volume.meta.has_hu:
        return to_bgr(slice_images(volume.hu, z_indices, box, detector.input_spec))
    grey = cut(volume.hu, z_indices, box, pad=0.0)  # a 2D export is used as exported (no HU, no neighbours)
    return model_pixels(grey, detector.windowing, False, volume.meta.source)


def model_crop(roi: HeartROI | None, slice_hw: tuple[int, int], crop_size: int | None, roi_crop: bool
               ) -> tuple[int, int, int, int]:
    """The region of each slice the model sees: the square training crop around the heart ROI (``crop_box``), or with
    ``roi_crop`` the ROI itself rounded up to 32 px per side (``roi_box``: fewer pixels, no context beyond the ROI)."""
    height, width = slice_hw
    if roi is not None and crop_size and roi_crop:
        return roi_box(roi.xyxy, slice_hw)
    return crop_box(roi.xyxy if roi is not None else (0, 0, width, height), slice_hw, crop_size)


@dataclass(frozen=True)
class ModelPass:
    """The model's boxes on one volume at confidence ``conf`` or more: full-slice pixel rows (N, 6) per slice index,
    before the physics filter, and the crop the model saw (``roi`` itself, or the square crop around it)."""

    rows: dict[int, np.ndarray]
    conf: float
    roi: HeartROI | None
    crop_xyxy: tuple[int, int, int, int]
    roi_crop: bool


def detect_volume(volume: CTVolume, detector: SliceDetector, roi: HeartROI | None, options: DetectOptions,
                  progress: SliceProgress | None = None) -> DetectionResult:
    """Detect calcium on every slice of ``volume`` inside ``roi`` (whole slices when None); see the module docstring."""
    return finish_pass(volume, detector, model_pass(volume, detector, roi, options, progress), options)


def model_pass(volume: CTVolume, detector: SliceDetector, roi: HeartROI | None, options: DetectOptions,
               progress: SliceProgress | None = None) -> ModelPass:
    """The model's part of ``detect_volume``: every slice (with the physics filter: every slice whose crop holds a
    voxel >= the threshold) through the model at ``options``' confidence."""
    depth, height, width = volume.shape
    spec = detector.input_spec
    roi_crop = uses_roi_crop(detector, options)
    x0, y0, x1, y1 = model_crop(roi, (height, width), spec.crop_size, roi_crop)
    imgsz = max(x1 - x0, y1 - y0) if spec.crop_size else None
    conf = operating_conf(detector, options)
    rows: dict[int, np.ndarray] = {}
    # with the physics filter a slice whose crop holds no voxel >= the threshold keeps no box: the model skips it
    todo = (np.flatnonzero((volume.hu[:, y0:y1, x0:x1] >= options.physics_threshold_hu).any(axis=(1, 2)))
            if options.physics_filter and volume.meta.has_hu else np.arange(depth))
    for start in range(0, len(todo), options.batch):
        batch = todo[start:start + options.batch].tolist()
        images = _images(volume, detector, batch, (x0, y0, x1, y1))
        for z, found in zip(batch, predict(detector, images, conf, imgsz), strict=True):
            full = crop_to_full(found, (x0, y0))
            full[:, [0, 2]] = full[:, [0, 2]].clip(0, width)
            full[:, [1, 3]] = full[:, [1, 3]].clip(0, height)
            full = full[(full[:, 2] > full[:, 0]) & (full[:, 3] > full[:, 1])]  # boxes wholly in the padding
            if len(full):
                rows[z] = full
        if progress is not None:
            progress(start + len(batch), len(todo))
    return ModelPass(rows, conf, roi, (x0, y0, x1, y1), roi_crop)


def finish_pass(volume: CTVolume, detector: SliceDetector, run: ModelPass, options: DetectOptions) -> DetectionResult:
    """The steps of ``detect_volume`` after the model, on ``run``'s boxes at ``options``' confidence (at least
    ``run.conf``): physics filter and snapping, verifier, rescue, 3D completion. So one model pass at a low confidence
    gives exactly what detect gives at each higher one (``tqgd.engine.operating_point``)."""
    conf = operating_conf(detector, options)
    if conf < run.conf:
        raise ValueError(f"the model pass kept boxes from {run.conf}; it cannot be finished at {conf}")
    roi, roi_crop, (x0, y0, x1, y1) = run.roi, run.roi_crop, run.crop_xyxy
    physics = options.physics_filter and volume.meta.has_hu
    dropped = dict.fromkeys(DROP_COUNTS, 0)
    kept: dict[int, np.ndarray] = {}
    for z in sorted(run.rows):
        full = run.rows[z][run.rows[z][:, 4] >= conf]
        if volume.meta.has_hu:
            full, counts = postprocess_rows(volume.hu[z], full, options)
            dropped = {key: dropped[key] + counts[key] for key in DROP_COUNTS}
        if len(full):
            kept[z] = full
    verified, whole, seeded = None, None, {}
    if physics and options.verify:
        verifier = load_verifier(options.verifier)
        threshold = verifier.threshold if options.verify_threshold is None else options.verify_threshold
        kept, checked, scores = verify_rows(volume.hu, volume.spacing_mm, kept, verifier, threshold,
                                            options.physics_threshold_hu, (x0, y0, x1, y1))
        verified = {**verifier.describe(threshold), **checked}
        if options.whole_lesion_score is not None:
            whole = {z: values >= options.whole_lesion_score for z, values in scores.items()}
        if options.rescue_score is not None:
            kept, whole, seeded, verified["rescue"] = _rescue(volume, detector, options, verifier, kept, whole,
                                                              (x0, y0, x1, y1), conf)
    tips = physics and options.complete_tips
    completed: dict[str, int] = {}
    origins: dict[int, np.ndarray] = {}
    if tips:
        kept, completed, origins = complete_tips(volume.hu, kept, (x0, y0, x1, y1), options.physics_threshold_hu,
                                                 options.tip_max_area_px, whole, options.bridge_gaps)
    slices = [SliceDetections(z, [_detection(volume, z, row, detector.names, _origin(z, i, origins, seeded))
                                  for i, row in enumerate(kept[z])]) for z in sorted(kept)]
    meta = volume.meta
    source = str(meta.source) if options.include_identifiers else None  # folders are often named after the patient
    return DetectionResult(source=source, shape_zyx=volume.shape, spacing_mm=volume.spacing_mm,
                           origin_mm=volume.origin_mm, direction=volume.direction.flatten().tolist(), slices=slices,
                           series_uid=meta.series_uid, study_uid=meta.study_uid, scan_id=meta.scan_id,
                           heart_roi_xyxy=roi.xyxy if roi is not None else None,
                           model={**detector.describe(), "conf": conf,
                                  "heart_crop": roi.to_json() if roi is not None else None,
                                  "model_crop_xyxy": [x0, y0, x1, y1], "roi_crop": roi_crop,
                                  "physics_filter": {"threshold_hu": options.physics_threshold_hu,
                                                     "metal_hu": options.metal_hu,
                                                     "drop_spilling": options.drop_spilling,
                                                     **dropped} if physics else None,
                                  "snap_boxes": bool(options.snap_boxes and volume.meta.has_hu),
                                  "tip_completion": {"max_area_px": options.tip_max_area_px,
                                                     "bridge_gaps": options.bridge_gaps,
                                                     "whole_lesion_score": options.whole_lesion_score if whole is not
                                                     None else None, **completed}
                                  if tips else None,
                                  "verifier": verified})


#: Classes a rescued component is given, in order of preference (the single-class name, then OrCaScore's label 4).
RESCUE_CLASSES = ("calcium", "undetermined")


def _rescue(volume: CTVolume, detector: SliceDetector, options: DetectOptions, verifier, kept: dict[int, np.ndarray],
            whole: dict[int, np.ndarray] | None, crop_xyxy: tuple[int, int, int, int], conf: float
            ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, range], dict[str, Any]]:
    """``kept`` and ``whole`` with the seeds of ``tqgd.verify.rescue`` appended (marked whole), where on each slice
    the seeds sit, and what detections.json records. Seeds take the weights' own operating confidence, so the run at
    a lower ranking confidence sees the same seeds, ranked with the weakest boxes of the operating point."""
    seed_conf = operating_conf(detector, replace(options, conf=None))
    class_id = next((k for name in RESCUE_CLASSES for k, v in detector.names.items() if v == name), None)
    record: dict[str, Any] = {"min_score": options.rescue_score, "min_voxels": options.rescue_min_voxels,
                              "confidence": seed_conf}
    if class_id is None or seed_conf < conf:
        why = "no calcium class in the model" if class_id is None else "the run's confidence is above the seeds'"
        return kept, whole or {}, {}, {**record, "skipped": why}
    seeds, _, counts = rescue_rows(volume.hu, volume.spacing_mm, kept, verifier, crop_xyxy, seed_conf, class_id,
                                   options.rescue_score, options.rescue_min_voxels, options.physics_threshold_hu)
    kept, flags, seeded = dict(kept), dict(whole or {}), {}
    for z, rows in seeds.items():
        base = len(kept.get(z, ()))
        seeded[z] = range(base, base + len(rows))
        kept[z] = np.concatenate([kept[z], rows]) if z in kept else rows
        flags[z] = np.concatenate([flags.get(z, np.zeros(base, dtype=bool)), np.ones(len(rows), dtype=bool)])
    return kept, flags, seeded, {**record, **counts}


def _origin(z: int, index: int, completed: dict[int, np.ndarray], seeded: dict[int, range]) -> str:
    """Where row ``index`` of slice ``z`` came from: a rescued seed, 3D completion, or the model."""
    if index in seeded.get(z, ()):
        return "verifier"
    return "3d-completion" if z in completed and completed[z][index] else "model"


def _detection(volume: CTVolume, z: int, row: np.ndarray, names: dict[int, str], origin: str = "model"
               ) -> Detection:
    box = tuple(round(float(v), 3) for v in row[:4])
    class_id = int(row[5])
    return Detection(box_xyxy=box, confidence=round(float(row[4]), 5), class_id=class_id,  # type: ignore[arg-type]
                     class_name=names.get(class_id, str(class_id)), box_patient_mm=box_patient_mm(volume, z, box),
                     origin=origin)
