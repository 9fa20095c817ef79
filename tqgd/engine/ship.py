"""Train the weights that ship inside tqgd (``tqgd/weights/``): a heart detector and a calcium detector on the phantom.

One command (``python tools/ship_weights.py --work DIR``) runs every step into DIR, each skipped when its output is
complete, so a run killed midway resumes where it stopped (an unfinished training resumes from its ``last.pt``):

1. phantom sets: gated (OrCaScore-like) and non-gated (chest CT) patients from fixed seeds (``ShipSettings``), never
   the seeds of the held-out benchmark patients;
2. heart datasets from the phantom's heart boxes, merged; the heart detector (yolov8n, 128 px);
3. calcium datasets, every scan cut by that heart detector exactly as ``tqgd detect`` cuts it, one model input for
   both sets (window, 2.5D context, fixed native-pixel crop), merged;
4. the calcium detector with ``tqgd.engine.recipe.CPU_RECIPE`` (or the settings' overrides), or one trained
   elsewhere on this dataset (e.g. on a GPU machine) and adopted (``build(..., trained=X.pt)``);
5. its operating confidences, chosen on the fold-0 validation patients of both sets (never trained on) by pooled
   lesion F1 (``tqgd.engine.operating_point``) for the square training crop and for the heart-ROI crop
   (``DetectOptions.roi_crop``), in ``operating_point.json``;
6. ``install``: both weights marked as phantom weights, the calcium weights with their operating confidences, copied
   into ``tqgd/weights/`` with ``card.json`` (data, seeds, recipe, versions, git commit, training time, the sweeps).

``record_operating_points`` repeats step 5 for weights already installed (phantoms regenerated from the card's seeds,
the validation patients its card names) and writes the confidences into them and their card.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Written by the operating-point step (the confidence sweep on validation patients).
OPERATING_POINT_JSON = "operating_point.json"
#: operating_point.json's record of the calcium weights it was swept on (a changed checkpoint is swept again).
SWEPT_SHA_KEY = "calcium_sha256"
#: In the calcium run folder when its weights were trained elsewhere and adopted: source, sha256, train args.
ADOPTED_JSON = "adopted.json"
#: Seeds of the shipped training sets; benchmarks hold out other seeds.
SHIP_GATED_SEED = 7001
SHIP_NON_GATED_SEED = 7002


@dataclass(frozen=True)
class ShipSettings:
    """Every choice of the shipped weights' training (defaults: the measured CPU recipe)."""

    gated_patients: int = 16
    non_gated_patients: int = 16
    gated_seed: int = SHIP_GATED_SEED
    non_gated_seed: int = SHIP_NON_GATED_SEED
    image_size: int = 512
    heart_slice_step: int = 3
    heart_epochs: int = 40
    heart_imgsz: int = 128
    heart_batch: int = 16
    heart_conf: float = 0.25  # the crop's confidence: tqgd detect's default; lower only for tiny test runs
    model: str = "tqgdnet-n"
    window: str = "calcium"
    context: int = 3
    crop_size: int = 384
    negatives: str = "0.5"
    folds: int = 4
    recipe: dict[str, Any] = field(default_factory=dict)  # over CPU_RECIPE
    device: str = "cpu"
    metal_share: float | None = None  # per-patient probability of every metal kind in the training phantoms
    heart_weights: str | None = None  # reuse these heart weights instead of training a heart detector

    def train_args(self) -> dict[str, Any]:
        """ultralytics arguments of the calcium training: CPU_RECIPE with this run's overrides."""
        from tqgd.engine.recipe import CPU_RECIPE

        return {**CPU_RECIPE, **self.recipe}


def _log(message: str) -> None:
    print(f"[ship {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _phantoms(work: Path, settings: ShipSettings) -> dict[str, Path]:
    from tqgd.data.phantom.config import PhantomConfig, with_metal_share
    from tqgd.data.phantom.layout import write_phantom_set

    sets = {"gated": (settings.gated_patients, settings.gated_seed, True),
            "non-gated": (settings.non_gated_patients, settings.non_gated_seed, False)}
    folders = {}
    for name, (count, seed, gated) in sets.items():
        folder = work / "phantom" / name
        if not (folder / "phantom" / "phantom.json").is_file():
            _log(f"phantom: {count} {name} patients (seed {seed})")
            config = None if settings.metal_share is None else with_metal_share(PhantomConfig(), settings.metal_share)
            write_phantom_set(folder, count, seed, gated=gated, image_size=settings.image_size, config=config,
                              overwrite=True)
        folders[name] = folder
    return folders


def _finished(run: Path) -> bool:
    return (run / "weights" / "best.pt").is_file() and (run / "results.csv").is_file() and not _resumable(run)


def _resumable(run: Path) -> bool:
    """A run with a last.pt that still holds its optimizer (ultralytics strips it when a run ends)."""
    last = run / "weights" / "last.pt"
    if not last.is_file():
        return False
    from tqgd.engine.weights import load_checkpoint

    return load_checkpoint(last).get("optimizer") is not None


def _heart(work: Path, phantoms: dict[str, Path], settings: ShipSettings) -> Path:
    from tqgd.data.convert.merge import merge_datasets
    from tqgd.engine.heart import HeartDatasetOptions, build_heart_dataset, train_heart
    from tqgd.engine.train import train

    if settings.heart_weights is not None:
        heart = Path(settings.heart_weights).resolve()
        if not heart.is_file():
            from tqgd.errors import ConfigError

            raise ConfigError(f"heart weights {heart} not found; give a heart detector's .pt or leave heart_weights "
                              "out to train one")
        return heart
    run = work / "runs" / "heart"
    if _finished(run):
        return run / "weights" / "best.pt"
    yamls = []
    for name, folder in phantoms.items():
        out = work / "heart_dataset" / name
        if not (out / "convert.json").is_file():
            _log(f"heart dataset: {name}")
            build_heart_dataset(folder, out, HeartDatasetOptions(slice_step=settings.heart_slice_step,
                                                                 folds=settings.folds))
        yamls.append(out / "fold0.yaml")
    merged = merge_datasets(yamls, work / "heart_dataset" / "merged")
    if _resumable(run):
        _log("heart detector: resuming")
        train(resume=run, device=settings.device)
    else:
        _log(f"heart detector: {settings.heart_epochs} epochs")
        train_heart(merged, epochs=settings.heart_epochs, imgsz=settings.heart_imgsz, batch=settings.heart_batch,
                    device=settings.device, project=run.parent, name=run.name,
                    options={"exist_ok": True, "seed": 0, "workers": 0, "val": False, "plots": False, "amp": False})
    return run / "weights" / "best.pt"


def _calcium_data(work: Path, phantoms: dict[str, Path], heart: Path, settings: ShipSettings) -> Path:
    from tqgd.data.convert.merge import MERGED_YAML, merge_datasets
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.engine.heart_crop import HeartCropper, HeartCropSettings

    merged = work / "dataset" / "merged"
    if (merged / MERGED_YAML).is_file():
        return merged / MERGED_YAML
    cropper = HeartCropper(heart, HeartCropSettings(conf=settings.heart_conf), device=settings.device)
    options = OrcaConvertOptions(window=settings.window, context=settings.context, crop_size=settings.crop_size,
                                 negatives=settings.negatives, folds=settings.folds)
    yamls = []
    for name, folder in phantoms.items():
        out = work / "dataset" / name
        if not (out / "convert.json").is_file():
            _log(f"calcium dataset: {name}, heart-cropped, {settings.crop_size} px, context {settings.context}")
            convert_orcascore(folder, out, options, crop=cropper)
        yamls.append(out / "fold0.yaml")
    return merge_datasets(yamls, merged)


def adopt(run: Path, data: Path, checkpoint: Path) -> dict[str, Any]:
    """Make ``checkpoint`` (a calcium detector trained elsewhere, e.g. on a GPU machine, on this work folder's
    dataset ``data``) the calcium run's weights, and return what ``ADOPTED_JSON`` records of it.

    Raises:
        CheckpointError: the file cannot be loaded.
        ConfigError: it was trained on another model input (window, 2.5D context, crop) than ``data``'s.
    """
    import shutil

    from tqgd.engine.export_cache import file_sha256
    from tqgd.engine.run_record import dataset_preprocess, preprocess_info
    from tqgd.engine.weights import load_checkpoint
    from tqgd.errors import ConfigError
    from tqgd.io import atomic_path, write_json

    digest = file_sha256(checkpoint)
    record_path = run / ADOPTED_JSON
    earlier = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    if earlier.get("sha256") == digest:
        return earlier
    trained, wanted = preprocess_info(checkpoint).get("input"), (dataset_preprocess(data) or {}).get("input")
    if json.dumps(trained, sort_keys=True) != json.dumps(wanted, sort_keys=True):
        raise ConfigError(f"these weights were trained on model input {trained}, but the calcium dataset of this "
                          f"work folder is {wanted}; train them on {data} (or give the settings they were made with)",
                          checkpoint)
    (run / "weights").mkdir(parents=True, exist_ok=True)
    for name in ("last.pt", "best.pt"):
        with atomic_path(run / "weights" / name) as tmp:
            shutil.copyfile(checkpoint, tmp)
    args = load_checkpoint(checkpoint).get("train_args") or {}
    record = {"file": checkpoint.name, "sha256": digest,
              "train_args": {k: v for k, v in args.items() if isinstance(v, (str, int, float, bool, type(None)))}}
    write_json(record_path, record)
    _log(f"calcium detector: adopted {checkpoint} ({record['train_args'].get('epochs')} epochs, device "
         f"{record['train_args'].get('device')})")
    return record


def build(work: str | Path, settings: ShipSettings = ShipSettings(),
          callbacks: dict[str, list[Callable]] | None = None, trained: str | Path | None = None) -> dict[str, Path]:
    """Run (or resume) every step into ``work``; returns the heart and calcium ``best.pt``. ``trained``: calcium
    weights trained elsewhere on this work folder's dataset, adopted instead of training (``adopt``)."""
    from tqgd.engine.train import train

    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    phantoms = _phantoms(work, settings)
    heart = _heart(work, phantoms, settings)
    data = _calcium_data(work, phantoms, heart, settings)
    run = work / "runs" / "calcium"
    started = time.perf_counter()
    adopted = adopt(run, data, Path(trained)) if trained is not None else None
    if adopted is None and _resumable(run):
        _log("calcium detector: resuming")
        train(resume=run, device=settings.device, callbacks=callbacks)
    elif adopted is None and not _finished(run):
        args = settings.train_args()
        _log(f"calcium detector: {settings.model}, {args}")
        epochs = args.pop("epochs")
        batch = args.pop("batch")
        train(data, settings.model, epochs=epochs, batch=batch, device=settings.device, project=run.parent,
              name=run.name, options={**args, "exist_ok": True}, callbacks=callbacks)
    (work / "ship.json").write_text(json.dumps({"settings": asdict(settings),
                                                "train_args": adopted["train_args"] if adopted else
                                                settings.train_args(), "adopted": adopted,
                                                "calcium_train_s_this_session": time.perf_counter() - started},
                                               indent=1))
    built = {"heart": heart, "calcium": run / "weights" / "last.pt"}
    _operating_point(work, built, settings)
    return built


def _operating_point(work: Path, built: dict[str, Path], settings: ShipSettings) -> dict[str, Any]:
    """Sweep detect's confidence on the fold-0 validation patients of both sets; reused from operating_point.json."""
    from tqgd.data.orcascore import discover_cases
    from tqgd.io import write_json

    from tqgd.engine.export_cache import file_sha256

    path = work / OPERATING_POINT_JSON
    digest = file_sha256(built["calcium"])
    if path.is_file():
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.pop(SWEPT_SHA_KEY, digest) == digest:  # swept on these weights (older records: assumed)
            return record
    cases, names = [], []
    for name in ("gated", "non-gated"):
        record = json.loads((work / "dataset" / name / "convert.json").read_text(encoding="utf-8"))
        val = set(record["fold_patients"][0]["val"])
        cases += [case for case in discover_cases(work / "phantom" / name) if case.case_id in val]
        names += [f"{name}/{case_id}" for case_id in sorted(val)]
    record = _sweep(cases, names, built["calcium"], built["heart"], settings.device)
    write_json(path, {**record, SWEPT_SHA_KEY: digest})
    return record


def _sweep(cases: list, names: list[str], calcium: Path, heart: Path, device: str) -> dict[str, Any]:
    """The operating-point record: the best confidence and the sweep, for the square crop and for the ROI crop."""
    from tqgd.engine.operating_point import best_point, sweep_confidence

    record: dict[str, Any] = {}
    for roi_crop in (False, True):
        _log(f"operating point ({'ROI' if roi_crop else 'square'} crop): detect's confidence swept on {len(cases)} "
             "validation patients")
        points = sweep_confidence(cases, calcium, heart, device, roi_crop=roi_crop)
        best = best_point(points)
        _log(f"operating point: conf {best.conf:g} (lesion F1 {best.f1:.3f})")
        point = {"conf": best.conf, "sweep": [p.to_json() for p in points]}
        if roi_crop:
            record["roi_crop"] = point
        else:
            record.update({"conf": best.conf, "patients": names,
                           "rule": "highest pooled lesion F1 (OrCaScore rules) on the fold-0 validation patients",
                           "sweep": point["sweep"]})
    return record


def operating_keys(operating_point: dict[str, Any] | None) -> dict[str, float] | None:
    """Checkpoint keys of an operating-point record: the square crop's confidence and, when swept, the ROI crop's."""
    from tqgd.engine.detect_model import OPERATING_CONF_KEY, OPERATING_CONF_ROI_KEY

    if not operating_point:
        return None
    keys = {OPERATING_CONF_KEY: float(operating_point["conf"])}
    if operating_point.get("roi_crop"):
        keys[OPERATING_CONF_ROI_KEY] = float(operating_point["roi_crop"]["conf"])
    return keys


def record_operating_points(work: str | Path, target: str | Path) -> Path:
    """Sweep the confidence of the weights installed in ``target`` again, for both crops, on the validation patients
    their card names (phantoms regenerated into ``work`` from the card's settings), and write the chosen confidences
    into the calcium weights and the card; returns the card's path.

    Raises:
        ConfigError: ``target`` holds no card with an operating point (nothing says which patients to use).
    """
    from tqgd.data.orcascore import discover_cases
    from tqgd.engine.demo import mark_phantom_weights
    from tqgd.errors import ConfigError
    from tqgd.io import write_json
    from tqgd.weights import CALCIUM_WEIGHTS, CARD_JSON, HEART_WEIGHTS

    target, work = Path(target), Path(work).resolve()
    card_path = target / CARD_JSON
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    if not (card.get("operating_point") or {}).get("patients"):
        raise ConfigError("no card.json naming the validation patients of an operating point here; train and install "
                          "with tools/ship_weights.py instead", card_path)
    settings = ShipSettings(**card["settings"])
    folders = _phantoms(work, settings)
    names = card["operating_point"]["patients"]
    cases = [case for name in ("gated", "non-gated") for case in discover_cases(folders[name])
             if f"{name}/{case.case_id}" in names]
    record = _sweep(cases, names, target / CALCIUM_WEIGHTS, target / HEART_WEIGHTS, settings.device)
    mark_phantom_weights(target / CALCIUM_WEIGHTS, target / CALCIUM_WEIGHTS, card["warning"], operating_keys(record))
    card["operating_point"] = record
    card["sizes_bytes"][CALCIUM_WEIGHTS] = (target / CALCIUM_WEIGHTS).stat().st_size
    return write_json(card_path, card)


def install(built: dict[str, Path], target: str | Path, settings: ShipSettings, notes: dict[str, Any] | None = None,
            operating_point: dict[str, Any] | None = None, train_args: dict[str, Any] | None = None) -> Path:
    """Copy both weights, marked as phantom weights (the calcium weights with the confidences of ``operating_point``
    when given: ``operating_keys``), into ``target`` with ``card.json``; returns the card's path. ``train_args``:
    what the calcium detector was really trained with when it was not ``settings``' recipe (adopted weights)."""
    import platform

    import torch
    import ultralytics

    import tqgd
    from tqgd.engine.demo import mark_phantom_weights
    from tqgd.io import write_json
    from tqgd.weights import (
        CALCIUM_WEIGHTS,
        CARD_JSON,
        HEART_WEIGHTS,
        PHANTOM_SHIPPED_DATA,
    )

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    mark_phantom_weights(built["calcium"], target / CALCIUM_WEIGHTS, PHANTOM_SHIPPED_DATA,
                         operating_keys(operating_point))
    mark_phantom_weights(built["heart"], target / HEART_WEIGHTS, PHANTOM_SHIPPED_DATA)
    card = {"warning": PHANTOM_SHIPPED_DATA, "settings": asdict(settings),
            "train_args": train_args if train_args is not None else settings.train_args(),
            "versions": {"tqgd": tqgd.__version__, "torch": torch.__version__, "ultralytics": ultralytics.__version__,
                         "python": platform.python_version()},
            "git_commit": _git_commit(), "date": time.strftime("%Y-%m-%d"), "operating_point": operating_point,
            "sizes_bytes": {name: (target / name).stat().st_size for name in (CALCIUM_WEIGHTS, HEART_WEIGHTS)},
            **(notes or {})}
    return write_json(target / CARD_JSON, card)


def read_operating_point(work: str | Path) -> dict[str, Any] | None:
    """The operating-point record ``build`` wrote into ``work`` (None when absent)."""
    path = Path(work) / OPERATING_POINT_JSON
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    record.pop(SWEPT_SHA_KEY, None)
    return record


def _git_commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None

