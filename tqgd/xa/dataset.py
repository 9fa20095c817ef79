"""A YOLO detection dataset from synchronised angiography pairs, grouped by patient into folds.

For every run (``RUN.dcm`` with its ``RUN.npz`` calcium masks) in a folder: read the frames, synchronise them
(``tqgd.xa.sync``), take ``frames_per_run`` of the pairs (evenly spaced over the non-contrast frames, leaving out
the half beat before the detected contrast onset; 0 = all),
make the three-channel pair image (``tqgd.xa.pair_image``), and turn the non-contrast frame's calcium mask into
boxes with tqgd's mask-to-box tool (2D connected components, ``tqgd.data.boxes``). With ``patches`` each pair
becomes the paper's five overlapping patches, boxes clipped to each.

Layout of OUT::

    images/<RUN>_f<i>[_p<k>].png   RGB: non-contrast, contrast, difference
    labels/<RUN>_f<i>[_p<k>].txt   YOLO boxes, class 0 = calcium (empty file: no calcium)
    folds/fold<k>_{train,val}.txt  patient-grouped image lists (no patient in both)
    fold<k>.yaml, xa.yaml          dataset YAMLs for 'tqgd train' (xa.yaml = fold 0)
    manifest.csv                   image -> run, patient, frames paired, patch corner, boxes, validation fold
    xa_dataset.json                options and, per run, the synchronisation found (and its error, for phantoms)

A run that cannot be synchronised (too few beats, no contrast onset found) is left out and listed under
``skipped`` with the reason; the dataset fails only when no run is left.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from tqgd.data.boxes import mask_to_boxes
from tqgd.data.convert.dataset_yaml import write_dataset_yaml, write_fold_list
from tqgd.data.folds import make_patient_folds, validation_fold_of
from tqgd.data.formats.yolo import format_yolo_labels
from tqgd.errors import DatasetError, LabelError, OutputError, ScanReadError
from tqgd.io import atomic_path, write_json, write_text
from tqgd.xa.pair_image import PATCH_SIZE, five_patches, pair_image, run_window
from tqgd.xa.reader import read_xa
from tqgd.xa.sync import synchronise
from tqgd.xa.sync_eval import score_sync
from tqgd.xa.truth import load_truth

NAMES = {0: "calcium"}
DATASET_JSON = "xa_dataset.json"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("image", "run", "patient", "noncontrast_frame", "contrast_frame", "patch", "x0", "y0", "size",
                    "n_boxes", "val_fold")


@dataclass(frozen=True)
class DatasetOptions:
    """Pairs per run (0 = all), the five-patch option and its size, folds (0 = one per patient with a synchronised run:
    leave-one-patient-out), fold seed, smallest box (mask pixels)."""

    frames_per_run: int = 8
    patches: bool = False
    patch_size: int = PATCH_SIZE
    folds: int = 5
    seed: int = 0
    min_area_px: int = 1


def choose_pairs(pairs: np.ndarray, count: int) -> np.ndarray:
    """``count`` rows of ``pairs`` (P, 2) evenly spaced over the non-contrast frames (all of them for 0)."""
    if count <= 0 or count >= len(pairs):
        return pairs
    return pairs[np.unique(np.round(np.linspace(0, len(pairs) - 1, count)).astype(int))]


def _write_png(path: Path, rgb: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[..., ::-1])):
            raise OutputError("cannot write the image (OpenCV refused it)", path)


class _Unsynchronised(Exception):
    """A run whose frames could not be synchronised; the dataset leaves it out."""


def _run_samples(path: Path, out: Path, options: DatasetOptions) -> tuple[list[dict], dict]:
    """Write one run's images and labels; return (manifest rows without fold, run record)."""
    seq = read_xa(path)
    truth = load_truth(path, seq.num_frames, seq.frames.shape[1:])
    try:
        sync = synchronise(seq.frames, seq.frame_rate_fps)
    except ScanReadError as exc:
        raise _Unsynchronised(exc.detail) from exc
    record = {"run": path.stem, "period_frames": sync.period_frames, "contrast_start": sync.contrast_start,
              "contrast_full": sync.contrast_full, "pairs": len(sync.pairs)}
    if truth.phase is not None:
        score = score_sync(sync, truth)
        record.update(period_error_frames=score.period_error, pairs_within_1_frame=score.within_one_frame)
    patient = str(truth.record.get("patient") or seq.patient_id or path.stem)
    window = run_window(seq.frames)
    height, width = seq.frames.shape[1:]
    corners = five_patches(height, width, options.patch_size) if options.patches else [(0, 0)]
    side = options.patch_size if options.patches else None
    rows = []
    # the last half beat before the detected onset may already hold the first contrast: leave it out
    usable = sync.pairs[sync.pairs[:, 0] < sync.contrast_start - int(np.ceil(sync.period_frames / 2))]
    for i, j in choose_pairs(usable if len(usable) else sync.pairs, options.frames_per_run):
        image = pair_image(seq.frames[i], seq.frames[j], window)
        boxes = mask_to_boxes(truth.calcium[i] > 0, min_area_px=options.min_area_px, source=truth_source(path))
        for k, (x0, y0) in enumerate(corners):
            w, h = (side, side) if side else (width, height)
            stem = f"{path.stem}_f{i:03d}" + (f"_p{k}" if side else "")
            crop = [b for b in (box.in_crop(x0, y0, x0 + w, y0 + h) for box in boxes) if b is not None]
            _write_png(out / "images" / f"{stem}.png", image[y0:y0 + h, x0:x0 + w])
            write_text(out / "labels" / f"{stem}.txt", format_yolo_labels(crop, w, h))
            rows.append({"image": f"images/{stem}.png", "run": path.stem, "patient": patient,
                         "noncontrast_frame": int(i), "contrast_frame": int(j), "patch": k if side else "",
                         "x0": x0, "y0": y0, "size": f"{w}x{h}", "n_boxes": len(crop)})
    return rows, {**record, "patient": patient}


def truth_source(path: Path) -> Path:
    """The mask file of a run, for error messages."""
    return path.with_suffix(".npz")


def _manifest_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def build_xa_dataset(runs_dir: str | Path, out: str | Path, options: DatasetOptions = DatasetOptions(),
                     progress: Callable[[str], None] | None = None) -> dict:
    """Build the dataset described in the module docstring; return the ``xa_dataset.json`` record."""
    runs_dir, out = Path(runs_dir).expanduser().resolve(), Path(out).expanduser().resolve()
    runs = sorted(p for p in runs_dir.glob("*.dcm") if p.is_file())
    if not runs:
        raise DatasetError("no XA runs (*.dcm) in this folder; make some with 'tqgd xa phantom'", runs_dir)
    if out == runs_dir:
        raise OutputError("the dataset folder is the runs folder; choose another", out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError("exists and is not an empty folder; choose a new folder for the dataset", out)
    rows: list[dict] = []
    records, skipped = [], []
    for path in runs:
        try:
            run_rows, record = _run_samples(path, out, options)
        except _Unsynchronised as exc:
            skipped.append({"run": path.stem, "reason": str(exc)})
        else:
            rows += run_rows
            records.append(record)
        if progress is not None:
            progress(path.stem)
    if not records:
        reasons = "; ".join(f"{s['run']}: {s['reason']}" for s in skipped)
        raise DatasetError(f"no run could be synchronised ({reasons}); check that each run holds a contrast "
                           "injection after at least two beats without contrast", runs_dir)
    positives: dict[str, int] = {}
    for row in rows:
        positives[row["patient"]] = positives.get(row["patient"], 0) + (row["n_boxes"] > 0)
    n_folds = options.folds or len(positives)
    if len(positives) < max(n_folds, 2):
        fix = f"use --folds {max(len(positives), 2)} or fewer, or add runs" if options.folds else "add runs"
        raise DatasetError(f"{len(positives)} patient(s) with a synchronised run cannot fill {max(n_folds, 2)} "
                           f"patient-grouped folds; {fix}", runs_dir)
    if not any(positives.values()):
        raise LabelError("no calcium in any paired frame: nothing to detect", runs_dir)
    folds = make_patient_folds(positives, k=n_folds, seed=options.seed)
    fold_of = validation_fold_of(folds)
    for row in rows:
        row["val_fold"] = fold_of[row["patient"]]
    for fold in folds:
        train = [r["image"] for r in rows if r["patient"] in fold.train]
        val = [r["image"] for r in rows if r["patient"] in fold.val]
        write_fold_list(out, f"fold{fold.index}_train", train)
        write_fold_list(out, f"fold{fold.index}_val", val)
        comment = (f"Paired-frame XA calcium dataset, fold {fold.index} of {n_folds} (patient-grouped).\n"
                   f"Made by: tqgd xa dataset {runs_dir} {out}\nUsage: tqgd train --data {out}/fold{fold.index}.yaml")
        for name in (f"fold{fold.index}.yaml",) + (("xa.yaml",) if fold.index == 0 else ()):
            write_dataset_yaml(out / name, out, f"folds/fold{fold.index}_train.txt",
                               f"folds/fold{fold.index}_val.txt", NAMES, comment)
    write_text(out / MANIFEST, _manifest_text(rows))
    summary = {"runs_dir": str(runs_dir), "options": asdict(options),
               "images": len(rows), "images_with_calcium": int(sum(r["n_boxes"] > 0 for r in rows)),
               "boxes": int(sum(r["n_boxes"] for r in rows)), "patients": len(positives),
               "folds": [{"index": f.index, "train": f.train, "val": f.val} for f in folds], "runs": records,
               "skipped": skipped,
               "channels": ["non-contrast", "contrast", "128 + 2 (non-contrast - contrast)"]}
    write_json(out / DATASET_JSON, summary)
    return summary
