"""The heart detector: a dataset of full slices with heart boxes (``build_heart_dataset``) and its training.

Sources: a phantom folder (``phantom/<ID>.json`` sidecars hold a heart box per slice, None outside the heart; the
scan is read from the sidecar's MetaImage or DICOM files) or a user's YOLO-labelled slices (``SRC/images/<stem>.*``
with ``SRC/labels/<stem>.txt``, one class; a missing label file means no heart on that slice; slices group into
patients by the stem before ``_z<index>``, else before its last ``_``). Slices are subsampled (every
``slice_step``-th, as heart cropping samples them) and windowed with the same ``tqgd.data.windowing`` window that
detection uses; slices without heart are kept as negatives. Output: ``images/``, ``labels/``, patient-grouped
``folds/`` with ``fold<i>.yaml`` and ``heart.yaml`` (= fold 0), ``manifest.csv`` and ``convert.json`` (the window;
training embeds it into the weights).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqgd.data.boxes import Box
from tqgd.data.convert.dataset_yaml import write_convert_json, write_dataset_yaml, write_fold_list
from tqgd.data.convert.manifest import MANIFEST_NAME, write_manifest
from tqgd.data.convert.output import prepare_output, remove_stale
from tqgd.data.convert.slices import slice_stem
from tqgd.data.convert.writer import DatasetWriter
from tqgd.data.folds import make_patient_folds, validation_fold_of
from tqgd.data.windowing import parse_window
from tqgd.engine.heart_crop import slices_to_run
from tqgd.errors import ConfigError, DatasetError, LabelError

HEART_NAMES = {0: "heart"}
HEART_YAML = "heart.yaml"
PHANTOM_SIDECAR_DIR = "phantom"
#: Defaults of the heart detector: a small stock ultralytics detector trained from scratch at a small image size
#: (the heart fills a third of the slice), without flips (the heart sits left of centre) or mosaic (a heart is one
#: large box per slice). AdamW at lr 0.003 with one warm-up epoch: on 8 phantom patients (153 slices at 128 px) it
#: reached mAP50 0.94 in 40 epochs, where the paper's SGD recipe had not started to learn after 15.
HEART_MODEL = "yolov8n.yaml"
HEART_IMGSZ = 128
HEART_EPOCHS = 40
HEART_BATCH = 16
HEART_TRAIN_OPTIONS: dict[str, Any] = {"optimizer": "AdamW", "lr0": 0.003, "warmup_epochs": 1.0, "mosaic": 0.0,
                                       "fliplr": 0.0, "plots": False}
_STEM_PATIENT_RE = re.compile(r"^(?P<patient>.+)_z\d+$")
#: Called as progress(patient, done, total) after each patient (or image folder) is written.
HeartDatasetProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class HeartDatasetOptions:
    """``slice_step``: keep every n-th slice; ``window``: HU window (as detection); patient-grouped ``folds``."""

    slice_step: int = 3
    window: str = "paper"
    folds: int = 5
    seed: int = 0


@dataclass
class HeartDatasetReport:
    """What ``build_heart_dataset`` wrote."""

    out: Path
    source_kind: str
    patients: int = 0
    images: int = 0
    images_with_heart: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def yaml(self) -> Path:
        """The dataset YAML for ``tqgd heart train --data``."""
        return self.out / HEART_YAML


def _phantom_sidecars(src: Path) -> list[Path]:
    folder = src / PHANTOM_SIDECAR_DIR
    return sorted(p for p in folder.glob("*.json") if p.name != "phantom.json") if folder.is_dir() else []


def _sidecar_scan(src: Path, sidecar: Path) -> tuple[str, Any, list]:
    """(case ID, volume, per-slice heart boxes) of one phantom patient."""
    from tqgd.data.readers import read_ct

    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        case, files, boxes = record["case_id"], record["files"], record["heart_boxes_xyxy"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"not a tqgd phantom sidecar ({exc}); expected case_id, files and heart_boxes_xyxy",
                           sidecar) from exc
    scan = files.get("image") or files.get("dicom")
    if not scan:
        raise DatasetError("the sidecar names no image (files.image or files.dicom)", sidecar)
    volume = read_ct(src / scan)
    if len(boxes) != volume.shape[0]:
        raise LabelError(f"{len(boxes)} heart boxes for a scan of {volume.shape[0]} slices ({scan}); regenerate the "
                         "phantom set", sidecar)
    return str(case), volume, boxes


def _patient_of(stem: str) -> str:
    match = _STEM_PATIENT_RE.match(stem)
    if match:
        return match["patient"]
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def _yolo_slices(src: Path) -> dict[str, list[Path]]:
    from tqgd.data.readers import supported_suffixes

    suffixes = tuple(supported_suffixes())
    images = sorted(p for p in (src / "images").iterdir() if p.is_file() and p.name.lower().endswith(suffixes))
    if not images:
        raise DatasetError(f"no images in {src / 'images'}; expected slices readable by tqgd ({', '.join(suffixes)})",
                           src)
    by_patient: dict[str, list[Path]] = {}
    for image in images:
        by_patient.setdefault(_patient_of(image.stem), []).append(image)
    return by_patient


def _yolo_boxes(label: Path, width: int, height: int, z: int) -> list[Box]:
    from tqgd.data.formats.yolo import read_yolo_labels

    if not label.is_file():
        return []
    boxes = []
    for row in read_yolo_labels(label, num_classes=1):
        x0, y0, x1, y1 = row.to_xyxy(width, height)
        boxes.append(Box(max(0, round(x0)), max(0, round(y0)), min(width, round(x1)), min(height, round(y1)),
                         slice_index=z))
    return boxes


def _write_slice(writer: DatasetWriter, stem: str, values, has_hu: bool, windowing, boxes: list[Box], patient: str,
                 z: int, source: str) -> None:
    from tqgd.engine.detect_model import window_pixels

    writer.add_pixels(stem, window_pixels(values, windowing, has_hu, source), boxes, patient=patient, slice_index=z,
                      source=source)


def build_heart_dataset(src: str | Path, out: str | Path, options: HeartDatasetOptions = HeartDatasetOptions(),
                        progress: HeartDatasetProgress | None = None) -> HeartDatasetReport:
    """Write a heart-box dataset from a phantom folder or YOLO-labelled slices (see the module docstring).

    Raises:
        DatasetError / LabelError / ScanReadError: unusable source, naming the file. ConfigError: bad options.
        OutputError: ``out`` overlaps ``src`` or holds unrelated files.
    """
    from tqgd.data.readers import read_ct

    started = time.perf_counter()
    if options.slice_step < 1:
        raise ConfigError(f"--every must be 1 or more (keep every n-th slice), got {options.slice_step}")
    windowing = parse_window(options.window)
    src = Path(src).resolve()
    sidecars = _phantom_sidecars(src)
    if sidecars:
        kind = "phantom"
    elif (src / "images").is_dir() and (src / "labels").is_dir():
        kind = "yolo"
    else:
        raise DatasetError("not a heart-box source: expected a phantom folder (phantom/<ID>.json sidecars) or "
                           "YOLO-labelled slices (images/ and labels/ folders)", src)
    out = prepare_output(out, [src])
    writer = DatasetWriter(out, HEART_NAMES, formats=("yolo",), description=f"heart boxes from {src.name}")
    report = HeartDatasetReport(out=out, source_kind=kind)
    grey_images = 0
    if kind == "phantom":
        for i, sidecar in enumerate(sidecars):
            case, volume, boxes = _sidecar_scan(src, sidecar)
            for z in slices_to_run(volume.shape[0], options.slice_step):
                heart = [Box(*boxes[z], slice_index=z)] if boxes[z] else []
                _write_slice(writer, slice_stem(case, z, volume.shape[0]), volume.hu[z], True, windowing, heart, case,
                             z, str(sidecar.relative_to(src)))
            if progress:
                progress(case, i + 1, len(sidecars))
    else:
        by_patient = _yolo_slices(src)
        for i, (patient, images) in enumerate(sorted(by_patient.items())):
            for image in images[::options.slice_step]:
                volume = read_ct(image)
                if volume.shape[0] != 1:
                    raise DatasetError(f"expected one slice per image, got {volume.shape[0]}", image)
                height, width = volume.shape[1:]
                heart = _yolo_boxes(src / "labels" / f"{image.stem}.txt", width, height, 0)
                grey_images += not volume.meta.has_hu
                _write_slice(writer, image.stem, volume.hu[0], volume.meta.has_hu, windowing, heart, patient, 0,
                             str(image.relative_to(src)))
            if progress:
                progress(patient, i + 1, len(by_patient))
    if grey_images:
        report.notes.append(f"{grey_images} images hold grey values, not HU: used as exported, so they must have been "
                            f"exported with the window '{windowing.name}' that detection will apply to CT")
    _finish(out, src, writer, options, windowing, kind, report)
    report.seconds = time.perf_counter() - started
    return report


def _finish(out: Path, src: Path, writer: DatasetWriter, options: HeartDatasetOptions, windowing, kind: str,
            report: HeartDatasetReport) -> None:
    """Folds, YAMLs, manifest and (last) convert.json."""
    per_patient: dict[str, int] = {}
    for row in writer.rows:
        per_patient[row.patient] = per_patient.get(row.patient, 0) + (row.n_boxes > 0)
    if len(per_patient) < 2:
        raise DatasetError(f"heart boxes of {len(per_patient)} patient(s) found; a patient-grouped train/validation "
                           "split needs at least 2", src)
    folds = make_patient_folds(per_patient, min(options.folds, len(per_patient)), options.seed)
    val_fold = validation_fold_of(folds)
    for row in writer.rows:
        row.val_fold = val_fold[row.patient]
    keep = set(writer.written) | {out / MANIFEST_NAME, out / "convert.json"}
    for fold in folds:
        for split, patients in (("train", set(fold.train)), ("val", set(fold.val))):
            keep.add(write_fold_list(out, f"fold{fold.index}_{split}",
                                     [r.image for r in writer.rows if r.patient in patients]))
    remove_stale(out, keep | {out / f"fold{fold.index}.yaml" for fold in folds})
    write_manifest(out / MANIFEST_NAME, writer.rows)
    for fold in folds:
        comment = (f"Heart boxes from {src.name}, fold {fold.index} of {len(folds)} (patient-grouped).\n"
                   f"Validation patients: {', '.join(fold.val)}")
        for target in [out / f"fold{fold.index}.yaml"] + ([out / HEART_YAML] if fold.index == 0 else []):
            write_dataset_yaml(target, out, f"folds/fold{fold.index}_train.txt", f"folds/fold{fold.index}_val.txt",
                               HEART_NAMES, comment)
    report.patients, report.images = len(per_patient), len(writer.rows)
    report.images_with_heart = sum(row.n_boxes > 0 for row in writer.rows)
    write_convert_json(out, {
        "command": "tqgd heart dataset", "task": "heart", "source": str(src), "source_kind": kind,
        "window": windowing.to_json(), "names": HEART_NAMES, "slice_step": options.slice_step, "folds": len(folds),
        "seed": options.seed, "fold_patients": [{"index": f.index, "train": list(f.train), "val": list(f.val)}
                                                for f in folds],
        "counts": {"patients": report.patients, "images": report.images,
                   "images_with_heart": report.images_with_heart},
    })


def train_heart(data: str | Path, model: str | Path = HEART_MODEL, *, epochs: int = HEART_EPOCHS,
                imgsz: int = HEART_IMGSZ, batch: int = HEART_BATCH, device: str | None = None,
                project: str | Path | None = None, name: str | None = None,
                options: Mapping[str, Any] | None = None, callbacks=None):
    """Train the heart detector on ``data`` (a ``heart.yaml``); returns ``tqgd.engine.train.TrainResult``.

    Uses ``tqgd.engine.train.train`` (run record, preprocessing embedded in the weights) with the heart defaults
    above; ``options`` are extra ultralytics arguments laid over ``HEART_TRAIN_OPTIONS``.
    """
    from tqgd.engine.train import train

    return train(data, model, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                 project=project or Path("runs") / "heart", name=name or "heart",
                 options={**HEART_TRAIN_OPTIONS, **(options or {})}, callbacks=callbacks)
