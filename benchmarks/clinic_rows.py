"""The clinic benchmark's rows and how each one is run and scored on held-out scans (``clinic_quality.py``).

Every row ends in the same place: per test scan a ``DetectionResult`` (boxes in full-slice pixels) that goes through
``tqgd.scoring.cohort.evaluate_scan`` (the box rule -> calcium voxels -> OrCaScore lesion matching and Agatston, i.e.
``tqgd evaluate``), and per slice ranked boxes that go through ``tqgd.engine.coco_eval.evaluate_boxes`` against the
reference labels' per-slice boxes. What differs is only where the boxes come from:

- detectors: ``tqgd.engine.detect.detect_volume`` with ``DetectOptions`` (the user's path: the preprocessing recorded
  in the weights, the physics filter), once at the row's operating confidence (the scored boxes) and once at
  ``RANKING_CONF`` (every box, for mAP). Each trained row's operating confidence is chosen after training as the
  shipped weights' is (``tqgd.engine.operating_point``: best pooled lesion F1) on the fold-0 validation patients of
  its training set; the shipped rows use the one recorded in them, as tqgd detect does;
- HU threshold: ``tqgd.baselines.threshold``'s rule (voxels > 130 HU, 4-connected components per slice, confidence
  from the peak HU) inside the heart ROI, components under Agatston's minimum area (1 mm^2) dropped;
- shipped: the weights inside the package (``tqgd.weights``), trained once on other phantom patients by
  ``tools/ship_weights.py``, not by this benchmark; ``shipped-heart`` also replaces the oracle heart ROI with the
  shipped heart detector, i.e. exactly ``tqgd detect`` without ``--weights``;
- U-Net: ``tqgd baseline unet`` weights on the same model images the converter wrote for training
  (``tqgd.data.model_input.slice_images`` with the dataset's ``InputSpec``), probability >= 0.5, 4-connected
  components with their mean probability, then detect's own box post-processing with ``DetectOptions``' defaults
  (``detect_postprocess``: physics filter, snapping to the calcium), as the detectors' boxes get it.

The heart ROI of every scan is the phantom's ground-truth heart boxes + 10 mm (``phantom_heart_crop``: an oracle heart
detector), so rows differ only by the calcium detector; the trained rows see it as the dataset's model crop
(``crop_box``: the fixed square around it), the threshold the ROI itself.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.io import write_json

#: tqgd detect's confidence for weights that record no operating point: the boxes a user gets, scored.
CLINIC_CONF = 0.25
#: Confidence of the second detection pass, whose boxes rank detections for mAP (ultralytics' validation value).
RANKING_CONF = 0.001
#: Rounding slack when an area in mm^2 becomes whole pixels (a 1.0000001 px area is 1 px).
AREA_TOLERANCE = 1e-6
#: Written last by every run; a run folder holding it is finished and is skipped.
RESULT_JSON = "result.json"
#: Written after a training finishes, so a run whose evaluation failed is re-evaluated without training again.
TRAINED_JSON = "trained.json"


@dataclass(frozen=True)
class Row:
    """A benchmarked method: its table label, kind (threshold, unet, detector) and, for detectors, the model spec."""

    label: str
    kind: str
    spec: str | None = None

    @property
    def trained_here(self) -> bool:
        """Whether the benchmark trains this row (once per training seed); the others run once."""
        return self.kind in ("unet", "detector")


ROWS = {
    "threshold": Row("HU threshold (> 130 HU, components >= 1 mm²)", "threshold"),
    "unet": Row("U-Net (EfficientNet-B0)", "unet"),
    "yolov5b-panet": Row("YOLOv5*B-n (yolov5b-panet-n)", "detector", "yolov5b-panet-n"),
    "tqgdnet": Row("TQGDNet-n (tqgdnet-n)", "detector", "tqgdnet-n"),
    "tqgdnet-faithful": Row("TQGDNet-faithful-n (tqgdnet-faithful-n)", "detector", "tqgdnet-faithful-n"),
    "tqgdnet-faithful-p2": Row("TQGDNet-faithful-P2-n (tqgdnet-faithful-p2-n)", "detector", "tqgdnet-faithful-p2-n"),
    "tqgdnet-p2": Row("TQGDNet-P2-n (tqgdnet-p2-n)", "detector", "tqgdnet-p2-n"),
    "yolo11n": Row("YOLO11n (ultralytics yolo11n.yaml)", "detector", "yolo11n.yaml"),
    "yolo26n": Row("YOLO26n (ultralytics yolo26n.yaml)", "detector", "yolo26n.yaml"),
    "yolo26n-p2": Row("YOLO26n-P2 (ultralytics yolo26-p2.yaml, scale n)", "detector", "yolo26n-p2.yaml"),
    "shipped": Row("tqgd's shipped weights (tqgd/weights, not trained here)", "shipped"),
    "shipped-heart": Row("shipped weights + shipped heart detector (the user's path)", "shipped-heart"),
}


def row_for(name: str) -> tuple[str, Row]:
    """(key, row) for a registered key, or for any other model spec a detector row named after it."""
    if name in ROWS:
        return name, ROWS[name]
    kind, sep, folder = name.partition(":")
    if sep and kind in ("shipped", "shipped-heart"):  # candidate weights laid out as tqgd/weights (ship_weights.py)
        key = f"{kind}@" + re.sub(r"[^A-Za-z0-9._-]+", "_", str(Path(folder).resolve()).strip("/"))  # unique
        label = f"weights and heart detector in {folder}" if kind == "shipped-heart" else \
            f"weights in {folder} (oracle heart ROI)"
        return key, Row(label, kind, folder)
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name.removesuffix(".yaml"))
    return key, Row(f"{name}", "detector", name)


# --- boxes on one scan -------------------------------------------------------------------------------------------


def oracle_roi(volume) -> tuple[int, int, int, int]:
    """The phantom's heart boxes + 10 mm (the converter's crop hook for the training data), as pixel edges."""
    from tqgd.baselines.roi import phantom_heart_crop

    return tuple(int(v) for v in phantom_heart_crop()(volume))  # type: ignore[return-value]


def model_box(volume, roi: tuple[int, int, int, int], spec) -> tuple[int, int, int, int]:
    """The region a detector trained on ``spec`` sees for ``roi`` (``crop_box``: the ROI, or the fixed square)."""
    from tqgd.data.model_input import crop_box

    return crop_box(roi, volume.shape[1:], spec.crop_size)


def reference_boxes(labels: np.ndarray, box: tuple[int, int, int, int]) -> dict[int, np.ndarray]:
    """Slice -> (N, 4) full-slice boxes of the reference calcium inside ``box``, cut as the converter cuts them
    (one box per 2D piece of a 3D 6-connected lesion, clipped to the crop); every slice has an entry."""
    from tqgd.data.boxes import mask_to_boxes

    x0, y0, x1, y1 = box
    out = {z: np.zeros((0, 4)) for z in range(labels.shape[0])}
    rows: dict[int, list[tuple[int, int, int, int]]] = {}
    for piece in mask_to_boxes(labels != 0, 6):
        clipped = piece.in_crop(x0, y0, x1, y1)
        if clipped is not None:
            rows.setdefault(piece.slice_index, []).append((clipped.x0 + x0, clipped.y0 + y0, clipped.x1 + x0,
                                                           clipped.y1 + y0))
    out.update({z: np.asarray(r, dtype=np.float64) for z, r in rows.items()})
    return out


def result_from_rows(volume, rows_by_slice: dict[int, np.ndarray], roi: tuple[int, int, int, int],
                     model: dict[str, Any]):
    """A ``DetectionResult`` from per-slice (N, 5+) rows ``x0 y0 x1 y1 score`` in full-slice pixels."""
    from tqgd.detections import Detection, DetectionResult, SliceDetections
    from tqgd.engine.detect import box_patient_mm

    slices = []
    for z in sorted(rows_by_slice):
        detections = []
        for row in rows_by_slice[z]:
            box = tuple(round(float(v), 3) for v in row[:4])
            detections.append(Detection(box_xyxy=box, confidence=round(float(row[4]), 5),  # type: ignore[arg-type]
                                        box_patient_mm=box_patient_mm(volume, z, box)))
        if detections:
            slices.append(SliceDetections(z, detections))
    return DetectionResult(source=None, shape_zyx=volume.shape, spacing_mm=volume.spacing_mm,
                           origin_mm=volume.origin_mm, direction=volume.direction.flatten().tolist(), slices=slices,
                           series_uid=volume.meta.series_uid, study_uid=volume.meta.study_uid,
                           scan_id=volume.meta.scan_id, heart_roi_xyxy=roi, model=model)


def rows_of(result) -> dict[int, np.ndarray]:
    """Slice -> (N, 5) ``x0 y0 x1 y1 confidence`` of a ``DetectionResult``."""
    return {s.slice_index: np.array([[*d.box_xyxy, d.confidence] for d in s.detections], dtype=np.float64)
            .reshape(-1, 5) for s in result.slices}


def _in_slice(rows: np.ndarray, offset_xy: tuple[int, int], height: int, width: int) -> np.ndarray:
    """Crop-pixel rows shifted to full-slice pixels, clipped to the slice; boxes wholly outside it dropped."""
    rows = np.array(rows, dtype=np.float64, copy=True).reshape(-1, 6)
    rows[:, [0, 2]] = (rows[:, [0, 2]] + offset_xy[0]).clip(0, width)
    rows[:, [1, 3]] = (rows[:, [1, 3]] + offset_xy[1]).clip(0, height)
    return rows[(rows[:, 2] > rows[:, 0]) & (rows[:, 3] > rows[:, 1])]


# --- the three kinds of row ----------------------------------------------------------------------------------------

#: predictor(volume, roi) -> (scored DetectionResult, ranked DetectionResult, notes dict)
Predictor = Callable[[Any, tuple[int, int, int, int]], tuple[Any, Any, dict[str, Any]]]


def threshold_predictor() -> Predictor:
    """The 130 HU threshold baseline's rule (``tqgd.baselines.threshold``: voxels > 130 HU, 4-connected components per
    slice, confidence from the peak HU) inside the heart ROI, dropping components under the Agatston minimum area
    (``ScoringOptions.min_lesion_area_mm2``, 1 mm^2) as a calcium-scoring workstation does."""
    from tqgd.baselines.mask_eval import MaskToBoxOptions, mask_boxes
    from tqgd.baselines.threshold import CONFIDENCE_SPAN_HU, ThresholdOptions
    from tqgd.scoring.options import ScoringOptions

    options = ThresholdOptions()
    min_area_mm2 = ScoringOptions().min_lesion_area_mm2

    def predict(volume, roi):
        x0, y0, x1, y1 = roi
        _, height, width = volume.shape
        pixel_mm2 = float(volume.spacing_mm[1]) * float(volume.spacing_mm[2])
        min_area_px = max(options.min_area_px, math.ceil(min_area_mm2 / pixel_mm2 - AREA_TOLERANCE))
        boxing = MaskToBoxOptions(threshold=1.0, confidence="max", connectivity=options.connectivity,
                                  min_area_px=min_area_px)
        rows = {}
        for z in range(volume.shape[0]):
            hu = volume.hu[z, y0:y1, x0:x1]
            mask = hu > options.threshold_hu
            if mask.any():
                confidence = np.clip((hu - options.threshold_hu) / CONFIDENCE_SPAN_HU, 0.0, 1.0)
                rows[z] = _in_slice(mask_boxes(mask, confidence, boxing), (x0, y0), height, width)
        result = result_from_rows(volume, rows, roi, {"method": "HU threshold", "threshold_hu": options.threshold_hu,
                                                      "connectivity": options.connectivity,
                                                      "min_area_px": min_area_px})
        return result, result, {}

    return predict


def unet_inputs(pixels: np.ndarray, channels: int) -> list[np.ndarray]:
    """Model images (B, H, W) or (B, H, W, 3) RGB -> U-Net inputs (C, H, W) in 0..1, read exactly as training read the
    converter's PNGs (``unet_data.read_image``: PNG-encoded, then decoded grey or colour by OpenCV)."""
    import cv2

    from tqgd.data.convert.writer import encode_png

    out = []
    for image in pixels:
        buffer = np.frombuffer(encode_png(image), dtype=np.uint8)
        decoded = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
        decoded = decoded[..., None] if decoded.ndim == 2 else decoded[..., ::-1]
        out.append(np.ascontiguousarray(decoded.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0))
    return out


def detect_postprocess(hu_slice: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, int]:
    """``detect_volume``'s steps after the model (``postprocess_rows``) with ``DetectOptions``' defaults, on
    full-slice rows (N, 6); returns (rows, boxes dropped)."""
    from tqgd.engine.detect import DetectOptions, postprocess_rows

    rows, counts = postprocess_rows(hu_slice, rows, DetectOptions())
    return rows, sum(counts.values())


def unet_predictor(weights: Path, spec, device: str) -> Predictor:
    """U-Net probability >= 0.5 -> 4-connected components -> boxes (mean probability), physics filter."""
    import torch

    from tqgd.baselines.mask_eval import MaskToBoxOptions, mask_boxes
    from tqgd.baselines.unet import load_checkpoint, probability_map
    from tqgd.data.model_input import slice_images

    model, checkpoint = load_checkpoint(weights)
    model.to(device)
    channels = int(checkpoint["in_channels"])
    boxing = MaskToBoxOptions()

    def predict(volume, roi):
        box = model_box(volume, roi, spec)
        _, height, width = volume.shape
        rows, dropped = {}, 0
        with torch.inference_mode():
            for start in range(0, volume.shape[0], 16):
                z_range = range(start, min(start + 16, volume.shape[0]))
                images = unet_inputs(slice_images(volume.hu, z_range, box, spec), channels)
                for z, image in zip(z_range, images, strict=True):
                    probability = probability_map(model, image, device)
                    found = _in_slice(mask_boxes(probability >= boxing.threshold, probability, boxing), box[:2],
                                      height, width)
                    found, lost = detect_postprocess(volume.hu[z], found)
                    dropped += lost
                    if len(found):
                        rows[z] = found
        result = result_from_rows(volume, rows, roi, {"method": "U-Net", "weights": str(weights),
                                                      "model_crop_xyxy": list(box),
                                                      "physics_filter": {"dropped_boxes": dropped}})
        return result, result, {"physics_dropped": dropped}

    return predict


def detector_predictor(weights: Path, device: str, heart_weights: Path | None = None, conf: float | None = CLINIC_CONF,
                       roi_crop: bool | None = None) -> Predictor:
    """``detect_volume`` with ``DetectOptions`` at ``conf`` (scored; None: the operating confidence recorded in the
    weights, as ``tqgd detect`` does) and at ``RANKING_CONF`` (ranked); the heart ROI is the oracle's, or
    ``heart_weights``' when given (then the returned ROI notes record it); ``roi_crop``: ``DetectOptions.roi_crop``."""
    from tqgd.engine.detect import DetectOptions, detect_volume
    from tqgd.engine.detect_model import load_slice_detector
    from tqgd.engine.heart_crop import HeartCropper

    detector = load_slice_detector(weights, device=device)
    cropper = HeartCropper(heart_weights, device=device) if heart_weights is not None else None

    def predict(volume, roi):
        heart = cropper.roi(volume) if cropper is not None else oracle_heart(volume)  # oracle: phantom heart boxes
        scored = detect_volume(volume, detector, heart, DetectOptions(conf=conf, roi_crop=roi_crop))
        ranked = detect_volume(volume, detector, heart, DetectOptions(conf=RANKING_CONF, roi_crop=roi_crop))
        dropped = (scored.model.get("physics_filter") or {}).get("dropped_boxes")
        return scored, ranked, {"physics_dropped": dropped, "heart_roi": list(heart.xyxy)}

    return predict


def shipped_record(roi_crop: bool | None = None, folder: str | None = None) -> dict[str, Any]:
    """The shipped weights' paths, card and the confidence detect keeps their boxes at (for ``roi_crop``:
    ``DetectOptions.roi_crop``); ``folder``: candidate weights laid out as tqgd/weights (calcium.pt, heart.pt,
    card.json) instead of the installed ones. ``TQGDError`` when the weights are missing."""
    from tqgd.errors import TQGDError
    from tqgd.weights import CALCIUM_WEIGHTS, CARD_JSON, HEART_WEIGHTS, model_card, shipped_weights

    if folder is None:
        found, card = shipped_weights(), model_card()
    else:
        root = Path(folder)
        found = (root / CALCIUM_WEIGHTS, root / HEART_WEIGHTS)
        found = found if all(p.is_file() for p in found) else None
        card = json.loads((root / CARD_JSON).read_text(encoding="utf-8")) if (root / CARD_JSON).is_file() else {}
    if found is None:
        raise TQGDError(f"the 'shipped' rows need calcium.pt and heart.pt in {folder or 'tqgd/weights'}: run "
                        "tools/ship_weights.py (--install) first")
    from tqgd.engine.detect import DetectOptions, operating_conf
    from tqgd.engine.detect_model import load_slice_detector

    conf = operating_conf(load_slice_detector(found[0], device="cpu"), DetectOptions(roi_crop=roi_crop))
    return {"weights": str(found[0]), "heart_weights": str(found[1]), "train_s": 0.0, "operating_conf": conf,
            "card": {k: v for k, v in card.items() if k in ("settings", "git_commit", "date")}}


# --- scoring a row on the test scans -------------------------------------------------------------------------------


def evaluate_on_test_set(predict: Predictor, test_root: Path, spec, out: Path, operating_conf: float
                         ) -> dict[str, Any]:
    """Run ``predict`` on every test scan, score it as ``tqgd evaluate`` does, and box-score every slice.

    Returns per-patient lesion counts and Agatston scores (``patients``), box metrics at ``operating_conf``
    (``boxes``: mAP50 over every slice of every scan, recall per Fig. 2 size bucket) and the seconds spent.
    """
    from tqgd.data.orcascore import discover_cases
    from tqgd.data.readers import read_ct
    from tqgd.detections import save_detections
    from tqgd.engine.coco_eval import evaluate_boxes
    from tqgd.scoring.cohort import evaluate_scan
    from tqgd.scoring.masks import read_mask
    from tqgd.scoring.options import ScoringOptions

    options = ScoringOptions()
    started = time.perf_counter()
    patients, gt, preds, notes = [], {}, {}, []
    for case in discover_cases(test_root):
        volume = read_ct(case.image)
        roi = oracle_roi(volume)
        scored, ranked, extra = predict(volume, roi)
        detections = save_detections(scored, out / "detections" / f"{case.case_id}.json")
        evaluation = evaluate_scan(volume, case.reference, detections, options, case_id=case.case_id)
        patients.append({"case_id": case.case_id, "agatston_reference": evaluation.reference.agatston,
                         "agatston_predicted": evaluation.predicted.agatston,
                         "volume_reference_mm3": evaluation.reference.volume_mm3,
                         "volume_predicted_mm3": evaluation.predicted.volume_mm3,
                         "boxes": len(scored.all_detections()), "lesions": evaluation.match.to_dict(), **extra})
        labels, _ = read_mask(case.reference)
        for z, boxes in reference_boxes(labels, model_box(volume, roi, spec)).items():
            gt[(case.case_id, z)] = boxes
        for z, rows in rows_of(ranked).items():
            preds[(case.case_id, z)] = rows
        notes += [f"{case.case_id}: {note}" for note in evaluation.predicted.notes]
    boxes = evaluate_boxes(gt, preds, conf=operating_conf)
    return {"patients": patients, "boxes": boxes.to_dict(), "operating_conf": operating_conf,
            "evaluate_s": time.perf_counter() - started, "scoring_options": options.to_dict(), "notes": notes}


def dataset_spec(dataset: Path):
    """The ``InputSpec`` a converted dataset records (window, 2.5D context, fixed crop)."""
    from tqgd.data.model_input import InputSpec

    return InputSpec.from_record(json.loads((dataset / "convert.json").read_text(encoding="utf-8")))


def run_row(kind: str, spec_name: str | None, dataset: str, test_root: str, folder: str, schedule: dict,
            seed: int | None) -> dict[str, Any]:
    """One run in its own process: train (unless ``trained.json`` is there), evaluate, write result.json last.

    A spawned process runs the benchmark script's imports first, so ``import tqgd`` has configured ultralytics.
    """
    out, data = Path(folder), Path(dataset)
    spec = dataset_spec(data)
    trained = read_trained(out)
    if kind == "threshold":
        predict, conf = threshold_predictor(), 0.0
    elif kind in ("shipped", "shipped-heart"):
        trained = shipped_record(schedule.get("roi_crop"), spec_name)
        heart = Path(trained["heart_weights"]) if kind == "shipped-heart" else None
        predict = detector_predictor(Path(trained["weights"]), schedule["device"], heart, conf=None,
                                     roi_crop=schedule.get("roi_crop"))
        conf = trained["operating_conf"]
    elif kind == "unet":
        trained = trained or train_unet_row(data, out, schedule, seed, spec)
        predict, conf = unet_predictor(Path(trained["weights"]), spec, unet_device(schedule["device"])), 0.0
    else:
        trained = trained or train_detector_row(spec_name, data, out, schedule, seed)
        if "operating_point" not in trained:  # trained before operating points existed, or re-opened (--rechoose)
            trained = {**trained, "operating_point": detector_operating_point(Path(trained["weights"]), data,
                                                                              schedule["device"])}
            write_json(out / TRAINED_JSON, trained)
        conf = trained["operating_point"]["conf"]
        predict = detector_predictor(Path(trained["weights"]), schedule["device"], conf=conf,
                                     roi_crop=schedule.get("roi_crop"))
    record = evaluate_on_test_set(predict, Path(test_root), spec, out, conf)
    record = {"kind": kind, "model": spec_name, "seed": seed, "train_s": (trained or {}).get("train_s", 0.0),
              "trained": trained, **record}
    write_json(out / RESULT_JSON, record)
    return record


def read_trained(out: Path) -> dict[str, Any] | None:
    """The finished training of a run folder, or None."""
    path = out / TRAINED_JSON
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def train_args(schedule: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    """(named, options): the schedule's ultralytics train args split into train()'s own arguments and the rest."""
    args = dict(schedule["train"])
    named = {key: args.pop(key) for key in ("epochs", "imgsz", "batch") if key in args}
    return named, args


def oracle_heart(volume):
    """The oracle heart ROI (``oracle_roi``) as the ``HeartROI`` detect_volume takes."""
    from tqgd.engine.heart_crop import HeartROI

    roi = oracle_roi(volume)
    return HeartROI(xyxy=roi, slices_run=[], slices_found=[], slices_kept=[],
                    median_box=tuple(float(v) for v in roi), margin_px=(0, 0))


def detector_operating_point(weights: Path, data: Path, device: str) -> dict[str, Any]:
    """Detect's confidence for a trained row, chosen as the shipped weights' is (``tqgd.engine.operating_point``:
    pooled lesion F1 over candidate confidences) on the fold-0 validation patients of its training set, never on the
    test set; the heart ROI is the oracle's, as in the scoring. A model that finds no validation lesion at any
    confidence keeps ``tqgd detect``'s default, as its weights would."""
    from tqgd.engine.detect import DEFAULT_CONF
    from tqgd.engine.operating_point import validation_operating_point

    point = validation_operating_point(data, weights, oracle_heart, device)
    return point or {"conf": DEFAULT_CONF, "rule": "no confidence found a validation lesion: tqgd detect's default"}


def train_detector_row(model: str, data: Path, out: Path, schedule: dict, seed: int) -> dict[str, Any]:
    """Train ``model`` from scratch on fold 0 of the training dataset; the last epoch's weights are scored."""
    from tqgd.engine.train import train

    named, options = train_args(schedule)
    started = time.perf_counter()
    run = train(data / "fold0.yaml", model, device=schedule["device"], project=out, name="train",
                options={**options, "workers": 0, "seed": seed, "plots": False, "val": False, "exist_ok": True},
                **named)
    record = {"weights": str(run.last), "train_s": time.perf_counter() - started, "args": {
        k: v for k, v in run.args.items() if isinstance(v, (int, float, str, bool)) or v is None}}
    record["operating_point"] = detector_operating_point(run.last, data, schedule["device"])
    write_json(out / TRAINED_JSON, record)
    return record


def unet_device(device: str) -> str:
    """torch device name for the U-Net (ultralytics' '0' is torch's 'cuda:0')."""
    return device if device == "cpu" or device.startswith("cuda") else f"cuda:{device.split(',')[0]}"


def train_unet_row(data: Path, out: Path, schedule: dict, seed: int, spec) -> dict[str, Any]:
    """Train the U-Net on fold 0 (crops of the dataset's crop size, or of the detectors' image size)."""
    import shutil

    from tqgd.baselines.unet import UNetConfig
    from tqgd.baselines.unet_train import train_unet

    named, _ = train_args(schedule)
    imgsz = spec.crop_size or named.get("imgsz") or 256
    config = UNetConfig(epochs=schedule.get("unet_epochs") or named.get("epochs", 30), imgsz=int(imgsz),
                        batch=named.get("batch", 8), seed=seed, fold=0, device=unet_device(schedule["device"]))
    shutil.rmtree(out / "unet", ignore_errors=True)  # an unfinished earlier attempt of this run
    started = time.perf_counter()
    run = train_unet(data, config, project=out, name="unet")
    record = {"weights": str(run.last), "train_s": time.perf_counter() - started, "config": asdict(config)}
    write_json(out / TRAINED_JSON, record)
    return record
