"""The TQGDNet paper's ablation (Tables 2 and 3, recall per lesion size as in Fig. 2) on a fixed phantom benchmark.

Data: a non-gated (Concord-like) and a gated (OrCaScore-like) phantom set with fixed seeds, each converted once with
the same settings for every model (paper window, one class, calcium slices only, patient-grouped folds) and cut to
the phantom's own heart boxes + 10 mm: a ground-truth heart crop, i.e. an oracle heart detector. Models: every config
of the ablation family (``ablation_tables.MODELS``) and ultralytics' yolov8n as an outside reference, all trained
from scratch by ``tqgd.engine.train`` with the paper's recipe and one schedule, then validated on the held-out fold
by ``tqgd.engine.val`` (last epoch's weights, so no checkpoint is picked on the fold it is scored on).

Each run (dataset x fold x model) writes ``WORK/runs/<dataset>/<model>/fold<k>/metrics.json`` last; runs whose
metrics.json exists are skipped, so an interrupted benchmark resumes where it stopped. ``--jobs`` runs trainings in
parallel, each in its own process.

Usage:
    python benchmarks/ablation_quality.py --work /tmp/tqgd-ablation --update   # CPU schedule, writes BENCHMARKS.md
    python benchmarks/ablation_quality.py --work /tmp/ab --schedule paper --device 0 --jobs 1   # 200 epochs, GPU
    python benchmarks/ablation_quality.py --work /tmp/ab-smoke --smoke         # seconds: tiny data, 1 epoch
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import tqgd  # noqa: F401  - before ultralytics: it configures ultralytics (offline) at import

# isort: split
from ablation_tables import DATASETS, MODELS, report
from bench_common import log, run_record, update_block

from tqgd.errors import ConfigError, TQGDError
from tqgd.io import write_json

BLOCK_NAME = "ablation_quality"
METRICS_JSON = "metrics.json"
#: Phantom seed per dataset: fixed, so every run of the benchmark sees the same patients.
PHANTOM_SEEDS = {"non-gated": 1, "gated": 0}
#: Seed of the patient folds and of training.
SPLIT_SEED = 0


@dataclass(frozen=True)
class Schedule:
    """What every model of one benchmark shares: data size, folds and the training schedule."""

    name: str
    patients: int
    image_size: int  # phantom slice size in px
    folds: int
    epochs: int
    imgsz: int  # training / validation size in px
    batch: int
    device: str
    optimizer: str = "SGD"  # the paper's, with its lr 0.01 and 3 warm-up epochs
    lr0: float = 0.01
    warmup_epochs: float = 3.0
    nbs: int = 64  # ultralytics' nominal batch: gradients are accumulated over nbs / batch batches per step


#: The short CPU schedule changes three of the paper's settings, the same for every model, because with them nothing
#: was learnt. Measured on the gated set, fold 0, YOLOv5*B-n, 256 px, batch 4 (validation mAP50 of the last epoch):
#: 15 epochs 0.000 with the paper's SGD or with AdamW; 40 epochs AdamW 0.11, or 0.29 when every batch is an optimizer
#: step (nbs = batch; ultralytics' default nbs 64 leaves ~2 steps per epoch on ~140 images). AdamW lr 0.002 with one
#: warm-up epoch is tqgd demo's measured CPU setting (tqgd.engine.demo.DemoSettings).
CPU_TRAINING = {"optimizer": "AdamW", "lr0": 0.002, "warmup_epochs": 1.0, "nbs": 4}
SCHEDULES = {
    # About three hours on a 2-core CPU shared with other jobs, two trainings at a time (10-20 s per epoch and run at
    # 256 px, batch 4, ~140 training images).
    "cpu": Schedule("cpu", patients=32, image_size=512, folds=2, epochs=30, imgsz=256, batch=4, device="cpu",
                    **CPU_TRAINING),
    # The paper's: 200 epochs, batch 4, SGD, 5-fold cross-validation; 512 px input (the paper does not state it).
    "paper": Schedule("paper", patients=32, image_size=512, folds=5, epochs=200, imgsz=512, batch=4, device="0"),
    # A dry run of the whole pipeline in seconds (tests and --smoke).
    "smoke": Schedule("smoke", patients=4, image_size=128, folds=2, epochs=1, imgsz=64, batch=4, device="cpu",
                      **CPU_TRAINING),
}


def make_dataset(work: Path, dataset: str, schedule: Schedule) -> Path:
    """Phantom set and its converted dataset for ``dataset`` ('gated' / 'non-gated'); reused when complete."""
    from tqgd.baselines.roi import phantom_heart_crop
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.config import PhantomConfig
    from tqgd.data.phantom.layout import write_phantom_set

    phantom, converted = work / "phantom" / dataset, work / "datasets" / dataset
    if not (phantom / "phantom" / "phantom.json").is_file():
        log(f"phantom: {schedule.patients} {dataset} patients at {schedule.image_size} px")
        config = PhantomConfig(clip_heart=True, scan_length_mm=(40.0, 50.0)) if schedule.name == "smoke" else None
        write_phantom_set(phantom, schedule.patients, seed=PHANTOM_SEEDS[dataset], gated=dataset == "gated",
                          image_size=schedule.image_size, config=config, overwrite=True)
    if not (converted / "convert.json").is_file():
        log(f"convert: {dataset} -> YOLO boxes, ground-truth heart-box crop, {schedule.folds} folds")
        convert_orcascore(phantom, converted, OrcaConvertOptions(folds=schedule.folds, seed=SPLIT_SEED),
                          crop=phantom_heart_crop())
    return converted


def run_dir(work: Path, dataset: str, model_key: str, fold: int) -> Path:
    """Folder of one run; its metrics.json marks it finished."""
    return work / "runs" / dataset / model_key / f"fold{fold}"


def train_and_validate(data_yaml: str, model: str, folder: str, schedule: dict) -> dict:
    """One run in its own process: train from scratch, validate the last epoch's weights, write metrics.json.

    A spawned process runs this script's imports first, so ``import tqgd`` has configured ultralytics.
    """
    from tqgd.engine.train import train
    from tqgd.engine.val import validate

    out = Path(folder)
    started = time.perf_counter()
    run = train(data_yaml, model, epochs=schedule["epochs"], imgsz=schedule["imgsz"], batch=schedule["batch"],
                device=schedule["device"], project=out, name="train",
                options={**{key: schedule[key] for key in ("optimizer", "lr0", "warmup_epochs", "nbs")},
                         "workers": 0, "seed": SPLIT_SEED, "plots": False, "val": False, "exist_ok": True})
    trained = time.perf_counter()
    checked = validate(run.last, data_yaml, imgsz=schedule["imgsz"], batch=schedule["batch"],
                       device=schedule["device"], project=out, name="val", options={"exist_ok": True})
    record = {**checked.metrics, "model": model, "train_s": trained - started,
              "val_s": time.perf_counter() - trained, "epochs": schedule["epochs"]}
    write_json(out / METRICS_JSON, record)
    return record


def pending_runs(work: Path, datasets: dict[str, Path], schedule: Schedule, model_keys: list[str]
                 ) -> list[tuple[str, str, int, Path]]:
    """(dataset, model key, fold, data YAML) of every run without a metrics.json; fold by fold, so a benchmark cut
    short still has every model on the same folds."""
    runs = []
    for fold in range(schedule.folds):
        for dataset, converted in datasets.items():
            for key in model_keys:
                if not (run_dir(work, dataset, key, fold) / METRICS_JSON).is_file():
                    runs.append((dataset, key, fold, converted / f"fold{fold}.yaml"))
    return runs


def run_all(work: Path, datasets: dict[str, Path], schedule: Schedule, model_keys: list[str], jobs: int) -> None:
    """Train and validate every pending run, ``jobs`` at a time, each in a fresh process.

    A failed run is logged and the others go on; the failures are raised together at the end (re-running the
    benchmark retries only them).
    """
    runs = pending_runs(work, datasets, schedule, model_keys)
    log(f"{len(runs)} run(s) to do, {jobs} at a time")
    failures = []
    context = multiprocessing.get_context("spawn")  # fresh interpreter per run: no state leaks between models
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {pool.submit(train_and_validate, str(data), MODELS[key].spec, str(run_dir(work, dataset, key, fold)),
                               asdict(schedule)): (dataset, key, fold) for dataset, key, fold, data in runs}
        for done, future in enumerate(as_completed(futures), start=1):
            dataset, key, fold = futures[future]
            try:
                record = future.result()
            except Exception as exc:  # noqa: BLE001 - one failed training must not throw away hours of the others
                failures.append(f"{dataset} {key} fold {fold}: {type(exc).__name__}: {exc}")
                log(f"[{done}/{len(runs)}] FAILED {failures[-1]}")
                continue
            log(f"[{done}/{len(runs)}] {dataset} {key} fold {fold}: mAP50 {record['ultralytics']['map50']:.3f}, "
                f"train {record['train_s'] / 60:.1f} min")
    if failures:
        listed = "\n  ".join(failures)
        raise TQGDError(f"{len(failures)} run(s) failed (finished runs are kept in {work}):\n  {listed}")


def collect(work: Path, datasets: list[str], schedule: Schedule, model_keys: list[str]) -> dict:
    """dataset -> model key -> list of per-fold metrics.json contents."""
    results: dict[str, dict[str, list[dict]]] = {}
    for dataset in datasets:
        for key in model_keys:
            for fold in range(schedule.folds):
                path = run_dir(work, dataset, key, fold) / METRICS_JSON
                if path.is_file():
                    results.setdefault(dataset, {}).setdefault(key, []).append(
                        {**json.loads(path.read_text()), "fold": fold})
    return results


def main(argv: list[str] | None = None) -> str:
    """Prepare data, run what is missing, print the tables (and write them into BENCHMARKS.md with --update)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="working folder; finished runs in it are reused")
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="cpu",
                        help="preset: cpu (this machine, ~3 h), paper (200 epochs, 5 folds, GPU), smoke (seconds)")
    parser.add_argument("--smoke", action="store_true", help="same as --schedule smoke with two models")
    for field_name in ("patients", "folds", "epochs", "imgsz", "batch"):
        parser.add_argument(f"--{field_name}", type=int, help=f"override the preset's {field_name}")
    parser.add_argument("--device", help="override the preset's device (cpu, 0, 0,1)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), help="subset of models (default: all)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), help="subset of datasets (default: both)")
    parser.add_argument("--jobs", type=int, default=2, help="trainings in parallel (default 2: one per CPU core)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: report the finished runs in WORK (a benchmark cut short; the folds "
                             "column says how many each row has)")
    parser.add_argument("--update", type=Path, nargs="?", const=Path("BENCHMARKS.md"),
                        help="write the tables into this Markdown file's ablation_quality block")
    parser.add_argument("--block", default=BLOCK_NAME,
                        help="name of the Markdown block to write (default ablation_quality); another name keeps "
                             "that table, e.g. a subset re-run on new data next to the full one")
    args = parser.parse_args(argv)
    schedule = SCHEDULES["smoke" if args.smoke else args.schedule]
    overrides = {k: getattr(args, k) for k in ("patients", "folds", "epochs", "imgsz", "batch", "device")
                 if getattr(args, k) is not None}
    schedule = replace(schedule, **overrides)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be 1 or more, got {args.jobs}")
    model_keys = args.models or (["yolov5b-panet", "tqgdnet"] if args.smoke else list(MODELS))
    record = run_record("ablation_quality.py")
    started = time.perf_counter()
    work = args.work.expanduser().resolve()
    datasets = {name: make_dataset(work, name, schedule) for name in args.datasets or DATASETS}
    if not args.report_only:
        run_all(work, datasets, schedule, model_keys, args.jobs)
    results = collect(work, list(datasets), schedule, model_keys)
    block = report(results, datasets, asdict(schedule), record, (time.perf_counter() - started) / 60)
    write_json(work / "ablation.json", {"record": record, "schedule": asdict(schedule), "results": results})
    print(block)
    if args.update:
        update_block(args.block, block, args.update)
    return block


if __name__ == "__main__":
    main()
