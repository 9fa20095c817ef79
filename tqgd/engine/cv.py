"""Patient-grouped k-fold cross-validation of a converted dataset, summarised like the paper's Table 4.

``cross_validate(data_dir, folds=5)`` trains one model per fold (``tqgd.engine.train``), validates its best.pt on the
fold's held-out patients (``tqgd.engine.val``), chooses detect's confidence for it on the same patients and records it
in best.pt as ``tqgd train`` does (``tqgd.engine.operating_point``; datasets without their source scans skip this)
and writes ``cv.md`` and ``cv.csv`` (one row per fold, then mean and standard deviation) and ``cv.json``. Folds are
the converter's own (``fold<i>.yaml``) when their count matches; otherwise patients are re-split from
``manifest.csv`` with ``make_patient_folds`` (weighted by positive slices), and the new fold lists and YAMLs are
written into the cross-validation folder, leaving the dataset untouched.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tqgd.data.convert.dataset_yaml import CONVERT_JSON
from tqgd.data.convert.manifest import MANIFEST_NAME, read_manifest
from tqgd.data.folds import make_patient_folds
from tqgd.engine.train import Callbacks
from tqgd.errors import DatasetError, TQGDError
from tqgd.io import write_json, write_text

DEFAULT_PROJECT = Path("runs") / "cv"
DEFAULT_RUN_NAME = "exp"
#: Metric columns: (header, block of a fold's metrics.json, key). ultralytics' numbers as in Table 4, then
#: pycocotools' mAP, the numbers ``evaluate_boxes`` gives other methods (e.g. segmentation baselines).
TABLE_METRICS = (("Precision", "ultralytics", "precision"), ("Recall", "ultralytics", "recall"),
                 ("F1", "ultralytics", "f1"), ("mAP50", "ultralytics", "map50"),
                 ("mAP50-95", "ultralytics", "map50_95"), ("COCO mAP50", "pycocotools", "map50"),
                 ("COCO mAP50-95", "pycocotools", "map50_95"))

#: Called as progress(fold_index, folds, stage) with stage "train", "val", "operating point" or "done".
FoldProgress = Callable[[int, int, str], None]


@dataclass
class FoldResult:
    """One fold: its data YAML, held-out patients, training run folder and validation metrics.json content."""

    index: int
    data_yaml: Path
    val_patients: list[str]
    train_dir: Path
    val_dir: Path
    metrics: dict[str, Any]
    operating_point: dict[str, Any] | None = None  # the sweep's record, {"skipped": why}, or None when not asked


@dataclass
class CVResult:
    """The cross-validation folder, per-fold results, the table files and mean/std per metric."""

    out: Path
    folds: list[FoldResult] = field(default_factory=list)
    table_md: Path | None = None
    table_csv: Path | None = None
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)


def _fold_patients(data_dir: Path, index: int) -> list[str]:
    """Patients the converter's fold ``index`` validates on (manifest.csv ``val_fold``), sorted."""
    manifest = data_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise DatasetError(f"no {MANIFEST_NAME} next to the fold YAMLs; pass the output folder of 'tqgd convert'",
                           data_dir)
    return sorted({row.patient for row in read_manifest(manifest) if row.val_fold == index})


def _refold(data_dir: Path, k: int, seed: int, out: Path) -> list[tuple[Path, list[str]]]:
    """Split the manifest's patients into k folds and write their lists and YAMLs under ``out``."""
    manifest = data_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise DatasetError(f"no {MANIFEST_NAME} here, so patients cannot be re-split into {k} folds; pass the "
                           "output folder of 'tqgd convert'", data_dir)
    rows = read_manifest(manifest)
    positives: dict[str, int] = {}
    for row in rows:
        positives[row.patient] = positives.get(row.patient, 0) + (row.n_boxes > 0)
    names = _dataset_names(data_dir)
    yamls = []
    for fold in make_patient_folds(positives, k, seed):
        lists = {}
        for split, patients in (("train", set(fold.train)), ("val", set(fold.val))):
            images = sorted(str((data_dir / r.image).resolve()) for r in rows if r.patient in patients)
            lists[split] = write_text(out / "folds" / f"fold{fold.index}_{split}.txt",
                                      "".join(f"{image}\n" for image in images))
        body = {"path": str(data_dir), "train": str(lists["train"]), "val": str(lists["val"]), "names": names}
        header = (f"# Fold {fold.index} of {k}, re-split from {manifest} (seed {seed}).\n"
                  f"# Validation patients: {', '.join(fold.val)}\n")
        target = write_text(out / f"fold{fold.index}.yaml", header + yaml.safe_dump(body, sort_keys=False))
        yamls.append((target, list(fold.val)))
    return yamls


def _dataset_names(data_dir: Path) -> dict[int, str]:
    convert = data_dir / CONVERT_JSON
    if convert.is_file():
        names = json.loads(convert.read_text(encoding="utf-8")).get("names")
        if names:
            return {int(k): str(v) for k, v in names.items()}
    for candidate in sorted(data_dir.glob("*.yaml")):
        content = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
        if isinstance(content, dict) and content.get("names"):
            raw = content["names"]
            return {int(k): str(v) for k, v in (raw.items() if isinstance(raw, dict) else enumerate(raw))}
    raise DatasetError("cannot find the class names (no convert.json or dataset YAML with names)", data_dir)


def fold_datasets(data_dir: str | Path, k: int, seed: int, out: Path) -> list[tuple[Path, list[str]]]:
    """(data YAML, validation patients) per fold: the converter's own when it made k folds, else re-split."""
    data_dir = Path(data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise DatasetError("not a folder; pass the output folder of 'tqgd convert orcascore'", data_dir)
    convert = data_dir / CONVERT_JSON
    made = json.loads(convert.read_text(encoding="utf-8")).get("folds") if convert.is_file() else None
    own = [data_dir / f"fold{i}.yaml" for i in range(k)]
    if made == k and all(p.is_file() for p in own):
        return [(path, _fold_patients(data_dir, index)) for index, path in enumerate(own)]
    return _refold(data_dir, k, seed, out)


def summarise(folds: list[FoldResult]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample standard deviation (ddof=1; 0 for one fold) over folds, keyed by column header."""
    mean, std = {}, {}
    for header, block, key in TABLE_METRICS:
        values = np.array([f.metrics[block][key] for f in folds], dtype=np.float64)
        mean[header] = float(values.mean())
        std[header] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return mean, std


def lesion_f1s(folds: list[FoldResult]) -> list[float] | None:
    """Each fold's validation lesion F1 at its chosen confidence, or None unless every fold has one."""
    values = [(f.operating_point or {}).get("f1") for f in folds]
    return None if not values or None in values else [float(v) for v in values]


def table_rows(result: CVResult) -> list[list[str]]:
    """Header, one row per fold, then Average and Std (3 decimals, as Table 4); the last two columns are detect's
    chosen confidence and the validation lesion F1 there ("-" where none was chosen)."""
    rows = [["Fold", "Val patients", "Val images", *[header for header, _, _ in TABLE_METRICS], "Detect conf",
             "Lesion F1"]]
    for fold in result.folds:
        values = [f"{fold.metrics[block][key]:.3f}" for _, block, key in TABLE_METRICS]
        point = fold.operating_point or {}
        chosen = [f"{point['conf']:g}", f"{point['f1']:.3f}"] if "conf" in point else ["-", "-"]
        rows.append([f"Group{fold.index + 1}", str(len(fold.val_patients)), str(fold.metrics["counts"]["images"]),
                     *values, *chosen])
    f1s = lesion_f1s(result.folds)
    spread = {"Average": np.mean(f1s), "Std": np.std(f1s, ddof=1) if len(f1s) > 1 else 0.0} if f1s else {}
    for label, stats in (("Average", result.mean), ("Std", result.std)):
        f1 = f"{spread[label]:.3f}" if label in spread else "-"
        rows.append([label, "", "", *[f"{stats[header]:.3f}" for header, _, _ in TABLE_METRICS], "", f1])
    return rows


def write_tables(result: CVResult) -> None:
    """Write cv.md, cv.csv and cv.json into the cross-validation folder."""
    rows = table_rows(result)
    markdown = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    markdown += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    result.table_md = write_text(result.out / "cv.md", "\n".join(markdown) + "\n")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    result.table_csv = write_text(result.out / "cv.csv", buffer.getvalue())
    write_json(result.out / "cv.json", {
        "folds": [{"index": f.index, "data": str(f.data_yaml), "val_patients": f.val_patients,
                   "train_dir": str(f.train_dir), "val_dir": str(f.val_dir), "ultralytics": f.metrics["ultralytics"],
                   "pycocotools": f.metrics["pycocotools"], "operating_point": f.operating_point}
                  for f in result.folds],
        "mean": result.mean, "std": result.std})


def fold_operating_point(best: Path, data_yaml: Path, device: str | None) -> dict[str, Any]:
    """Detect's confidence for one fold's best.pt, chosen on the fold's own validation patients and recorded in
    best.pt (``record_operating_point``); ``{"skipped": why}`` when the dataset cannot be swept (no source scans) or
    no confidence finds a validation lesion: the fold's training still counts."""
    from tqgd.engine.operating_point import record_operating_point

    try:
        record = record_operating_point(best, data_yaml, best, device=str(device).split(",")[0] if device else "cpu")
    except TQGDError as exc:
        return {"skipped": str(exc)}
    return record or {"skipped": "no confidence found a lesion on the validation patients (or they hold none)"}


def cross_validate(data_dir: str | Path, folds: int = 5, model: str | Path = "tqgdnet-n", *,
                   epochs: int | None = None, imgsz: int | None = None, batch: int | None = None,
                   device: str | None = None, project: str | Path | None = None, name: str | None = None,
                   seed: int = 0, options: Mapping[str, Any] | None = None, callbacks: Callbacks | None = None,
                   progress: FoldProgress | None = None, trust: bool | None = None,
                   operating_point: bool = True) -> CVResult:
    """Train and validate ``folds`` patient-grouped folds of the converted dataset ``data_dir`` (module docstring);
    ``operating_point=False`` records no detect confidence in the folds' weights.

    Raises:
        DatasetError / ConfigError: bad folder or options (before any training).
        TQGDError: a fold failed; the message names the fold, the cause is chained.
    """
    from ultralytics.utils.files import increment_path

    from tqgd.engine.recipe import check_options
    from tqgd.engine.train import load_model, train
    from tqgd.engine.val import validate

    options = check_options(options or {})
    load_model(model, trust)  # a bad model name or weights file fails here, before any fold starts
    out = Path(increment_path(Path(project or DEFAULT_PROJECT).expanduser().resolve() / (name or DEFAULT_RUN_NAME)))
    splits = fold_datasets(data_dir, folds, seed, out)  # bad folders and fold counts fail before out is made
    out.mkdir(parents=True, exist_ok=True)
    result = CVResult(out=out)
    for index, (data_yaml, patients) in enumerate(splits):
        try:
            if progress:
                progress(index, folds, "train")
            run = train(data_yaml, model, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                        project=result.out, name=f"fold{index}", options=options, callbacks=callbacks, trust=trust)
            if progress:
                progress(index, folds, "val")
            checked = validate(run.best, data_yaml, imgsz=imgsz, device=device, project=result.out,
                               name=f"fold{index}_val", trust=trust)
            point = None
            if operating_point:
                if progress:
                    progress(index, folds, "operating point")
                point = fold_operating_point(run.best, data_yaml, device)
        except Exception as exc:  # any failure inside a fold fails the whole run, naming the fold
            raise TQGDError(f"fold {index} of {folds} failed ({type(exc).__name__}: {exc}); finished folds are in "
                            f"{result.out}") from exc
        result.folds.append(FoldResult(index, data_yaml, patients, run.save_dir, checked.save_dir, checked.metrics,
                                       point))
        if progress:
            progress(index, folds, "done")
    result.mean, result.std = summarise(result.folds)
    write_tables(result)
    return result
