"""Calcium detection in the clinic's terms, on held-out phantom patients: lesions, Agatston, risk, boxes, time.

Data, per set (gated, OrCaScore-like; non-gated, Concord-like): a training set and a test set of phantom patients
generated from different set seeds (``TRAIN_SEEDS``, ``TEST_SEEDS``; no patient seed of a test set occurs in its
training set, checked). The training set is converted once with the schedule's input options (window, 2.5D context,
fixed native-pixel crop, negatives) around the phantom's heart boxes + 10 mm; every trained row learns from fold 0 of
that conversion (4/5 of the training patients; the rest is ultralytics' validation split, unused for scoring) and is
scored with its last epoch's weights on the whole test scans: ``clinic_rows`` (how each row makes its boxes),
``clinic_tables`` (what each column means).

Rows (``DEFAULT_ROWS``): HU threshold, U-Net, YOLOv5*B-n, TQGDNet-n, TQGDNet-faithful-n and ultralytics' YOLO11n,
YOLO26n and YOLO26n-P2 built from scratch; the weights shipped inside tqgd (``shipped``: oracle heart ROI;
``shipped-heart``: with the shipped heart detector, i.e. ``tqgd detect`` as installed); ``--models`` takes other row keys (``clinic_rows.ROWS``: also
``tqgdnet-p2``, ``tqgdnet-faithful-p2``), ``shipped:DIR`` / ``shipped-heart:DIR`` (candidate weights laid out as
tqgd/weights, e.g. from ``tools/ship_weights.py`` on a GPU, scored as the shipped rows are) or any model spec ``tqgd
train`` accepts. Every trained row runs once per
``--seeds`` value (the training seed).

Each run writes ``WORK/runs/<set>/<row>/seed<k>/result.json`` last (rows without training: ``.../<row>/``); runs with one
are skipped, so an interrupted benchmark resumes; a run whose training finished (``trained.json``) but whose evaluation
did not is only re-evaluated; ``--test-sets`` scores the rows on more held-out sets (``set_key``: folders
``<set>@<seed>``), trained rows with their training for the main test set (``borrow_training``); ``--rechoose``
re-opens trained rows whose operating point an older sweep chose (``reopen_stale_choices``). ``--jobs`` runs in
parallel, each in its own process.

Usage:
    python benchmarks/clinic_quality.py --work /tmp/tqgd-clinic --update             # cpu schedule, 3 seeds
    python benchmarks/clinic_quality.py --work /tmp/c --models threshold tqgdnet yolo26n --datasets non-gated
    python benchmarks/clinic_quality.py --work /tmp/c --schedule paper --device 0 --jobs 1   # GPU, 200 epochs
    python benchmarks/clinic_quality.py --work /tmp/c --models tqgdnet yolo26n --block clinic_quality_seeds --update
    python benchmarks/clinic_quality.py --work /tmp/c --models shipped-heart --datasets gated --test-sets 20 40 42
    python benchmarks/clinic_quality.py --work /tmp/c-smoke --smoke                  # 1-3 minutes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import tqgd  # noqa: F401  - before ultralytics: it configures ultralytics (offline) at import

# isort: split
from bench_common import log, run_record, update_block
from clinic_rows import RESULT_JSON, ROWS, Row, row_for, run_row
from clinic_tables import report

from tqgd.engine.recipe import CPU_RECIPE
from tqgd.errors import ConfigError, TQGDError
from tqgd.io import write_json

BLOCK_NAME = "clinic_quality"
DATASETS = {"non-gated": "non-gated phantom (Concord-like)", "gated": "gated phantom (OrCaScore-like)"}
#: Phantom set seeds: training and test patients come from different sets (and differ from the ablation's 0 and 1).
TRAIN_SEEDS = {"non-gated": 11, "gated": 10}
TEST_SEEDS = {"non-gated": 21, "gated": 20}
#: Seed of the patient folds of the training conversion.
SPLIT_SEED = 0
#: The table's rows by default: the baselines, the paper's pair, the faithful TQGDNet and ultralytics' references.
DEFAULT_ROWS = ["threshold", "unet", "yolov5b-panet", "tqgdnet", "tqgdnet-faithful", "yolo11n", "yolo26n",
                "yolo26n-p2", "shipped", "shipped-heart"]
#: --smoke: one row of each kind (threshold, segmentation, detector).
SMOKE_ROWS = ["threshold", "unet", "yolov5b-panet"]

#: The CPU schedule's ultralytics train args: tqgd's CPU recipe (``tqgd.engine.recipe.CPU_RECIPE``: AdamW, an optimiser
#: step per batch, light scale jitter, 30 epochs), the one the demo and the shipped weights use. No imgsz: with a
#: fixed crop the crop is the image size. Its ``seed`` is replaced by each run's training seed.
CPU_TRAIN: dict[str, Any] = dict(CPU_RECIPE)


@dataclass(frozen=True)
class Schedule:
    """What every row of one benchmark shares: data sizes, input options and the training args."""

    name: str
    train_patients: int
    test_patients: int
    image_size: int  # phantom slice size in px
    train: dict[str, Any]  # ultralytics train args (epochs, batch, optimizer, ...; imgsz when no fixed crop)
    # Dataset input, by default the demo's (tqgd.engine.demo.DemoSettings): calcium window, 2.5D, the native-pixel
    # crop, half as many calcium-free slices as calcium slices.
    window: str = "calcium"
    context: int = 3  # 1: the slice alone; 3: 2.5D (slices z-1, z, z+1 as channels)
    context_step: int = 1  # 2.5D neighbours z-k, z, z+k
    train_metal_share: float | None = None  # per-patient probability of each metal kind in training sets; None: default
    crop_size: int | str | None = "auto"  # fixed native-pixel crop ('auto': largest ROI rounded up to 32 px)
    negatives: str = "0.5"
    folds: int = 5  # training patients split; fold 0 trains
    unet_epochs: int | None = None  # None: the detectors' epochs (the U-Net costs the most CPU per epoch)
    roi_crop: bool | None = None  # DetectOptions.roi_crop: True / False for every detector; None: as the weights say
    device: str = "cpu"
    tiny_phantom: bool = False  # short scans with the heart inside the slice (smoke runs)


SCHEDULES = {
    # 24 training + 10 test patients per set, 512 px slices, 30 epochs at the native-pixel heart crop.
    "cpu": Schedule("cpu", train_patients=24, test_patients=10, image_size=512, train=CPU_TRAIN),
    # The paper's recipe (200 epochs, SGD, batch 4) on a GPU, same data.
    "paper": Schedule("paper", train_patients=24, test_patients=10, image_size=512, train={"epochs": 200, "batch": 4},
                      device="0"),
    # Seconds per run: tiny phantoms, one epoch.
    "smoke": Schedule("smoke", train_patients=4, test_patients=2, image_size=128, folds=2, tiny_phantom=True,
                      train={**CPU_TRAIN, "epochs": 1}),
}


def patient_seeds(set_seed: int, n: int) -> set[int]:
    """The phantom patient seeds of a set (``write_phantom_set``'s rule)."""
    from tqgd.data.phantom.layout import patient_seed

    return {patient_seed(set_seed, i) for i in range(n)}


def set_key(dataset: str, test_seed: int | None = None) -> str:
    """Name of one held-out set: the dataset for its main test set (``TEST_SEEDS``), ``dataset@seed`` for another."""
    return dataset if test_seed in (None, TEST_SEEDS[dataset]) else f"{dataset}@{test_seed}"


def parse_set_key(key: str) -> tuple[str, int]:
    """(dataset, test set seed) of a ``set_key``."""
    dataset, _, seed = key.partition("@")
    return dataset, int(seed) if seed else TEST_SEEDS[dataset]


def make_data(work: Path, dataset: str, schedule: Schedule, test_seed: int | None = None) -> tuple[Path, Path]:
    """(converted training dataset, test phantom root) of one set, the test patients from phantom set ``test_seed``
    (default: the set's main test set); reused when complete."""
    from tqgd.baselines.roi import phantom_heart_crop
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.config import PhantomConfig, with_metal_share
    from tqgd.data.phantom.layout import write_phantom_set

    test_seed = TEST_SEEDS[dataset] if test_seed is None else test_seed
    shared = patient_seeds(TRAIN_SEEDS[dataset], schedule.train_patients) & \
        patient_seeds(test_seed, schedule.test_patients)
    if shared:
        raise ConfigError(f"{dataset}: the training set (set seed {TRAIN_SEEDS[dataset]}) and the test set (set seed "
                          f"{test_seed}) share phantom patient seeds {sorted(shared)}; choose another test set seed")
    config = PhantomConfig(clip_heart=True, scan_length_mm=(40.0, 50.0)) if schedule.tiny_phantom else None
    roots = {}
    test_dir = "test" if set_key(dataset, test_seed) == dataset else f"test-{test_seed}"
    for part, seed, count, folder in (("train", TRAIN_SEEDS[dataset], schedule.train_patients, "train"),
                                      ("test", test_seed, schedule.test_patients, test_dir)):
        root = work / "phantom" / dataset / folder
        part_config = config
        if part == "train" and schedule.train_metal_share is not None:
            part_config = with_metal_share(config or PhantomConfig(), schedule.train_metal_share)
        if not (root / "phantom" / "phantom.json").is_file():
            log(f"phantom: {count} {dataset} {part} patients (set seed {seed}) at {schedule.image_size} px")
            write_phantom_set(root, count, seed=seed, gated=dataset == "gated", image_size=schedule.image_size,
                              config=part_config, overwrite=True)
        roots[part] = root
    converted = work / "datasets" / dataset
    if not (converted / "convert.json").is_file():
        log(f"convert: {dataset} training set, window {schedule.window}, context {schedule.context} (step "
            f"{schedule.context_step}), crop {schedule.crop_size}, negatives {schedule.negatives}")
        options = OrcaConvertOptions(window=schedule.window, folds=schedule.folds, seed=SPLIT_SEED,
                                     negatives=schedule.negatives, masks=True, context=schedule.context,
                                     crop_size=schedule.crop_size, context_step=schedule.context_step)
        convert_orcascore(roots["train"], converted, options, crop=phantom_heart_crop())
    return converted, roots["test"]


def run_dir(work: Path, test_set: str, key: str, row: Row, seed: int) -> Path:
    """Folder of one run on one held-out set (``set_key``; rows not trained here, the threshold and the shipped
    weights, have no training seed)."""
    base = work / "runs" / test_set / key
    return base / f"seed{seed}" if row.trained_here else base


def planned_runs(work: Path, test_sets: list[str], rows: dict[str, Row], seeds: list[int]
                 ) -> list[tuple[str, str, int | None, Path]]:
    """(held-out set, row key, seed, folder) of every run of the table, seed by seed (a benchmark cut short has every
    row on the same seeds)."""
    runs, seen = [], set()
    for seed in seeds:
        for dataset in test_sets:
            for key, row in rows.items():
                folder = run_dir(work, dataset, key, row, seed)
                if folder not in seen:
                    seen.add(folder)
                    runs.append((dataset, key, seed if row.trained_here else None, folder))
    return runs


def run_all(runs: list[tuple[str, str, int | None, Path]], rows: dict[str, Row], data: dict[str, tuple[Path, Path]],
            schedule: Schedule, jobs: int) -> None:
    """Run every run without a result.json, ``jobs`` at a time in fresh processes; failures are raised together."""
    pending = [run for run in runs if not (run[3] / RESULT_JSON).is_file()]
    log(f"{len(pending)} of {len(runs)} run(s) to do, {jobs} at a time")
    if not pending:
        return
    failures = []
    context = multiprocessing.get_context("spawn")  # fresh interpreter per run: no state leaks between models
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_row, rows[key].kind, rows[key].spec, str(data[dataset][0]), str(data[dataset][1]),
                               str(folder), asdict(schedule), seed): (dataset, key, seed)
                   for dataset, key, seed, folder in pending}
        for done, future in enumerate(as_completed(futures), start=1):
            dataset, key, seed = futures[future]
            try:
                record = future.result()
            except Exception as exc:  # noqa: BLE001 - one failed run must not throw away hours of the others
                failures.append(f"{dataset} {key} seed {seed}: {type(exc).__name__}: {exc}")
                log(f"[{done}/{len(pending)}] FAILED {failures[-1]}")
                continue
            log(f"[{done}/{len(pending)}] {dataset} {key} seed {seed}: mAP50 {record['boxes']['map50']:.3f}, "
                f"train {record['train_s'] / 60:.1f} min, evaluate {record['evaluate_s'] / 60:.1f} min")
    if failures:
        listed = "\n  ".join(failures)
        raise TQGDError(f"{len(failures)} run(s) failed (finished runs are kept):\n  {listed}")


def borrow_training(work: Path, runs: list[tuple[str, str, int | None, Path]], rows: dict[str, Row]) -> int:
    """Give the runs of trained rows on another test set (``dataset@seed``) the training of the same row and seed on
    the dataset's main test set (its trained.json, with ``trained_for`` naming that run): a row is trained once per
    dataset and seed. Returns how many were given; raises naming the trainings still missing."""
    from clinic_rows import TRAINED_JSON

    given, missing = 0, []
    for test_set, key, seed, folder in runs:
        dataset, _ = parse_set_key(test_set)
        if test_set == dataset or not rows[key].trained_here or (folder / TRAINED_JSON).is_file():
            continue
        main = run_dir(work, dataset, key, rows[key], seed)
        if not (main / TRAINED_JSON).is_file():
            missing.append(f"{dataset} {key} seed {seed}")
            continue
        trained = json.loads((main / TRAINED_JSON).read_text(encoding="utf-8"))
        write_json(folder / TRAINED_JSON, {**trained, "trained_for": str(main)})
        given += 1
    if missing:
        raise ConfigError(f"trained rows score other test sets with the training of the main test set, and these are "
                          f"not trained yet: {', '.join(missing)}; run the same command without --test-sets first")
    return given


def reopen_stale_choices(runs: list[tuple[str, str, int | None, Path]], rows: dict[str, Row]) -> int:
    """Re-open the finished runs of trained detector rows whose operating point was chosen by an older sweep (no
    ``SWEEP_METHOD`` or another one, or other candidates): the choice moves to ``previous_operating_points`` in
    trained.json and result.json to result_previous.json, so ``run_all`` chooses again on the same weights and
    re-evaluates. Returns how many were re-opened."""
    from clinic_rows import TRAINED_JSON

    from tqgd.engine.operating_point import CANDIDATE_CONFS, SWEEP_METHOD

    reopened = 0
    for _, key, _, folder in runs:
        path = folder / TRAINED_JSON
        if rows[key].kind != "detector" or not path.is_file():
            continue
        trained = json.loads(path.read_text(encoding="utf-8"))
        point = trained.get("operating_point")
        if point is None or (point.get("method") == SWEEP_METHOD
                             and [p["conf"] for p in point.get("sweep", [])] == list(CANDIDATE_CONFS)):
            continue
        trained["previous_operating_points"] = [*trained.get("previous_operating_points", []), trained.pop(
            "operating_point")]
        if (folder / RESULT_JSON).is_file():
            (folder / RESULT_JSON).replace(folder / "result_previous.json")
        write_json(path, trained)
        reopened += 1
    return reopened


def collect(runs: list[tuple[str, str, int | None, Path]]) -> dict[str, dict[str, list[dict]]]:
    """dataset -> row key -> finished runs' result.json contents (rows without any finished run kept, empty)."""
    results: dict[str, dict[str, list[dict]]] = {}
    for dataset, key, _, folder in runs:
        found = results.setdefault(dataset, {}).setdefault(key, [])
        if (folder / RESULT_JSON).is_file():
            found.append(json.loads((folder / RESULT_JSON).read_text(encoding="utf-8")))
    return results


def data_lines(data: dict[str, tuple[Path, Path]], schedule: Schedule) -> list[str]:
    """One line per set: training conversion counts and seeds, test set seeds."""
    lines = []
    for test_set, (converted, _) in data.items():
        dataset, test_seed = parse_set_key(test_set)
        convert = json.loads((converted / "convert.json").read_text(encoding="utf-8"))
        counts = convert["counts"]
        lines.append(f"{DATASETS[dataset]}: training set {schedule.train_patients} patients (phantom set seed "
                     f"{TRAIN_SEEDS[dataset]}; {counts['images']} images with {counts['boxes']} boxes; fold 0 of "
                     f"{schedule.folds} trains), test set {schedule.test_patients} patients (set seed "
                     f"{test_seed}, no patient seed shared with training), input "
                     f"{json.dumps(convert.get('input'))}.")
    return lines


def set_label(test_set: str) -> str:
    """Heading of one held-out set in the report."""
    dataset, seed = parse_set_key(test_set)
    return DATASETS[dataset] if test_set == dataset else f"{DATASETS[dataset]}, test set seed {seed}"


def schedule_line(schedule: Schedule) -> str:
    """The schedule in one line."""
    train = ", ".join(f"{k} {v}" for k, v in schedule.train.items() if k != "seed") + ", seed = the training seed"
    k = schedule.context_step
    step = f" (slices z-{k}, z, z+{k})" if k != 1 else ""
    metal = "" if schedule.train_metal_share is None else \
        f"; training patients draw each kind of metal with probability {schedule.train_metal_share:g}"
    crop = {None: "", True: "; every detector runs on the heart ROI rounded up to 32 px (--crop roi)",
            False: "; every detector runs on its square training crop (--crop square)"}[schedule.roi_crop]
    return (f"Schedule ({schedule.name}): ultralytics train args {train}; otherwise tqgd's paper recipe (from scratch, "
            f"mosaic, flips, HSV, translation), the same for every detector; U-Net: "
            f"{schedule.unet_epochs or 'same'} epochs, same batch, Adam lr 1e-3 (UNetConfig), crops of the model "
            f"crop size; device {schedule.device}. Dataset: window {schedule.window}, context "
            f"{schedule.context}{step}, crop {schedule.crop_size}, negatives {schedule.negatives}, one class{metal}{crop}.")


def check_schedule(work: Path, schedule: Schedule) -> None:
    """Record the schedule in ``WORK/schedule.json`` on first use; refuse another one later (finished runs in WORK
    were made with the recorded one and would be mixed into the table)."""
    stamp = work / "schedule.json"
    wanted = json.loads(json.dumps(asdict(schedule)))
    if stamp.is_file():
        # a key added to Schedule after the folder was made counts as its default (older folders stay usable)
        defaults = {f.name: f.default for f in fields(Schedule) if f.default is not MISSING}
        recorded = {**defaults, **json.loads(stamp.read_text(encoding="utf-8"))}
        changed = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        if changed:
            raise ConfigError(f"{work} holds runs of another schedule (differs in {', '.join(changed)}); use a new "
                              "--work folder for this one", stamp)
        return
    write_json(stamp, wanted)


def choose_rows(names: list[str]) -> dict[str, Row]:
    """Row key -> row for the requested names; a model spec outside the registry must build (checked now)."""
    from tqgd.engine.train import load_model

    rows = {}
    for name in names:
        key, row = row_for(name)
        if name not in ROWS and row.kind == "detector":
            load_model(row.spec)  # a typo fails here, not after hours of other runs
        rows[key] = row
    return rows


def main(argv: list[str] | None = None) -> str:
    """Prepare data, run what is missing, print the table (and write it into BENCHMARKS.md with --update)."""
    from tqgd.scoring.options import RISK_SCHEMES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="working folder; finished runs in it are reused")
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="cpu",
                        help="preset: cpu (this machine), paper (200 epochs, GPU), smoke (tiny)")
    parser.add_argument("--smoke", action="store_true", help="same as --schedule smoke, one seed, three rows")
    parser.add_argument("--models", nargs="+", metavar="ROW", help=f"rows: {', '.join(ROWS)} or any model spec "
                        "(default: the ten of DEFAULT_ROWS)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), help="subset of sets (default: both)")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds (default 0 1 2; smoke: 0)")
    parser.add_argument("--test-sets", nargs="+", type=int, metavar="SEED",
                        help="phantom set seeds of the held-out test sets, each scored and reported on its own "
                             f"(default: the main ones, {', '.join(f'{k} {v}' for k, v in TEST_SEEDS.items())}); "
                             "trained rows use their training for the main test set (run that first)")
    parser.add_argument("--device", help="override the preset's device (cpu, 0)")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (a quick look, not the table)")
    parser.add_argument("--window", help="override the dataset's HU window (e.g. -200,1600; default calcium); a work "
                        "folder keeps one schedule, so a new window needs a new --work")
    parser.add_argument("--context-step", type=int, help="2.5D neighbours z-K, z, z+K (default 1); a new --work")
    parser.add_argument("--train-metal-share", type=float,
                        help="per-patient probability of each metal kind in the training patients (test patients keep "
                             "the phantom's default); a new --work")
    parser.add_argument("--crop", choices=("auto", "roi", "square"), default="auto",
                        help="where detectors run: the heart ROI rounded up to 32 px, the square training crop, or "
                             "(auto, default) as tqgd detect does: the ROI crop for weights recording an operating "
                             "point for it; other than auto needs a new --work")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (default 2: one per CPU core)")
    parser.add_argument("--risk-scheme", choices=RISK_SCHEMES, default="five-class",
                        help="risk categories of the kappa column (default five-class)")
    parser.add_argument("--rechoose", action="store_true",
                        help="choose detect's confidence again, with this tqgd's sweep and candidates, for trained "
                             "rows chosen by an older one (same weights, re-evaluated; the old choice and result "
                             "are kept beside)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: report the runs of WORK that have finished (a benchmark cut short)")
    parser.add_argument("--update", type=Path, nargs="?", const=Path("BENCHMARKS.md"),
                        help=f"write the table into this Markdown file's {BLOCK_NAME} block (see --block)")
    parser.add_argument("--block", default=BLOCK_NAME,
                        help=f"name of the block --update writes (default {BLOCK_NAME}); another name keeps a study "
                             "of some rows (e.g. more seeds) beside the main table instead of replacing it")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be 1 or more, got {args.jobs}")
    schedule = SCHEDULES["smoke" if args.smoke else args.schedule]
    if args.device:
        schedule = replace(schedule, device=args.device)
    if args.epochs:
        schedule = replace(schedule, train={**schedule.train, "epochs": args.epochs})
    if args.window:
        schedule = replace(schedule, window=args.window)
    if args.context_step:
        schedule = replace(schedule, context_step=args.context_step)
    if args.train_metal_share is not None:
        schedule = replace(schedule, train_metal_share=args.train_metal_share)
    if args.crop != "auto":
        schedule = replace(schedule, roi_crop=args.crop == "roi")
    seeds = args.seeds or ([0] if args.smoke else [0, 1, 2])
    rows = choose_rows(args.models or (SMOKE_ROWS if args.smoke else DEFAULT_ROWS))
    record = run_record("clinic_quality.py")
    started = time.perf_counter()
    work = args.work.expanduser().resolve()
    check_schedule(work, schedule)
    datasets = args.datasets or list(DATASETS)
    data = {set_key(name, seed): make_data(work, name, schedule, seed)
            for name in datasets for seed in (args.test_sets or [TEST_SEEDS[name]])}
    runs = planned_runs(work, list(data), rows, seeds)
    failed = None
    try:
        if args.rechoose and not args.report_only:
            log(f"{reopen_stale_choices(runs, rows)} run(s) re-opened to choose the operating point again")
        if not args.report_only:
            borrow_training(work, runs, rows)
            run_all(runs, rows, data, schedule, args.jobs)
    except TQGDError as exc:  # write what finished, then fail
        failed = exc
    results = collect(runs)
    context = {"record": record, "schedule_line": schedule_line(schedule), "data_lines": data_lines(data, schedule),
               "datasets": {key: set_label(key) for key in data}, "risk_scheme": args.risk_scheme,
               "minutes": (time.perf_counter() - started) / 60}
    block = report(results, {key: row.label for key, row in rows.items()}, context)
    finished = {d: {key: [r["seed"] for r in runs] for key, runs in found.items()} for d, found in results.items()}
    write_json(work / "clinic.json", {"record": record, "schedule": asdict(schedule), "seeds": seeds,
                                      "finished_seeds": finished})
    print(block)
    if args.update:
        update_block(args.block, block, args.update)
    if failed is not None:
        raise failed
    return block


if __name__ == "__main__":
    main()
