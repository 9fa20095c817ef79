"""Paper 004's Table 2 on the XA phantom: ResUNet-18 baseline vs TQGDNet-n and YOLO26n, leave-one-patient-out.

Steps (each reused when its output already exists in WORK, so an interrupted run can be continued):

1. ``tqgd xa phantom``: ``--sequences`` runs, ``--views-per-patient`` per patient (1: every run its own patient, so
   the folds are leave-one-sequence-out as in the paper);
2. ``tqgd xa dataset --patches``: ``--frames-per-run`` synchronised pairs per run, each cut into the paper's five
   overlapping patches, one fold per patient;
3. per fold (``--only-folds`` picks some, e.g. to run folds in parallel processes after one ``--prepare-only``
   call has written steps 1-2): the ResUNet-18 baseline (``tqgd.xa.baseline_fold``) and each detector
   (``tqgd.engine.train.train`` on ``fold<k>.yaml``, then prediction on the held-out patches), all scored by
   ``tqgd.xa.table2.score_fold``: patch P/R/F1, IoM and Hausdorff distance (mm) of the frame ROIs against the calcium
   masks (detector boxes at ``--det-conf`` filled in as ROIs), and pycocotools mAP of the boxes; each fold's record
   is stored in ``WORK/results`` and reused by a later call with the same options (wall times then count only the
   work done in that call);
4. the table (median and quartiles over folds) goes into ``docs/xa.md`` between ``<!-- xa_table2:begin -->`` and
   ``<!-- xa_table2:end -->``, all fold records into ``docs/xa_table2.json``.

The defaults are a tiny CPU protocol (minutes on a 2-core machine). The paper's scale is about
``--sequences 30 --frames-per-run 0 --epochs 100 --batch 32 --det-epochs 200 --device 0`` on a GPU, where
``--parallel-folds 8`` keeps it busy.

Usage:
    python benchmarks/xa_table2.py --work /tmp/xa_table2
    python benchmarks/xa_table2.py --work /tmp/xa_t2 --sequences 3 --epochs 1 --det-epochs 1 --no-doc
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import REPO_ROOT, log, record_line, run_record, update_block

from tqgd.io import write_json
from tqgd.xa.baseline_data import RunMasks, load_patch_set
from tqgd.xa.baseline_fold import run_baseline_fold
from tqgd.xa.baseline_train import TrainOptions
from tqgd.xa.dataset import DATASET_JSON, DatasetOptions, build_xa_dataset
from tqgd.xa.phantom_set import SET_FILE, write_phantom_set
from tqgd.xa.roi import RoiOptions
from tqgd.xa.table2 import detector_outputs, markdown_table, score_fold

BLOCK = "xa_table2"
PAPER = {"precision": "0.89 (0.81-0.94)", "recall": "0.89 (0.79-0.95)", "f1": "0.87 (0.77-0.94)",
         "iom": "0.64 (0.46-0.86)", "hd_mm": "47.2 (35.1-63.8)", "map50": "-", "map50_95": "-"}
DETECTOR_NAMES = {"tqgdnet-n": "TQGDNet-n", "yolo26n.yaml": "YOLO26n"}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def prepare(args: argparse.Namespace) -> Path:
    """Phantom runs and the patched dataset in WORK (reused when present); returns the dataset folder."""
    runs, data = args.work / "runs", args.work / "data"
    if not (runs / SET_FILE).is_file():
        log(f"phantom: {args.sequences} runs of {args.frames} frames, {args.size} px")
        write_phantom_set(runs, args.sequences, args.seed, n_frames=args.frames, size=args.size,
                          views_per_patient=args.views_per_patient, progress=lambda rid: log(f"  wrote {rid}"))
    if not (data / DATASET_JSON).is_file():
        log(f"dataset: {args.frames_per_run} pairs per run, {args.patch_size} px patches, one fold per patient")
        summary = build_xa_dataset(runs, data, DatasetOptions(frames_per_run=args.frames_per_run, patches=True,
                                                              patch_size=args.patch_size, folds=0, seed=args.seed),
                                   progress=lambda rid: log(f"  paired {rid}"))
        log(f"left out (no synchronisation): {[s['run'] for s in summary['skipped']] or 'none'}")
    return data


def detector_boxes(weights: Path, images: list[Path], imgsz: int, device: str | None) -> list[np.ndarray]:
    """(M, 5) ``x0 y0 x1 y1 score`` per image from trained weights (all boxes scoring >= 0.001, as validation)."""
    from tqgd.engine.train import load_model

    model, _ = load_model(weights, trust=True)
    boxes = []
    for start in range(0, len(images), 16):
        for result in model.predict([str(p) for p in images[start:start + 16]], conf=0.001, imgsz=imgsz,
                                    device=device, verbose=False):
            xyxy, conf = result.boxes.xyxy.cpu().numpy(), result.boxes.conf.cpu().numpy()
            boxes.append(np.concatenate([xyxy, conf[:, None]], axis=1) if len(conf) else np.zeros((0, 5)))
    return boxes


def detector_fold(args: argparse.Namespace, data: Path, fold: int, model: str, patch_set, masks) -> dict:
    """Train ``model`` on fold ``fold`` and score its held-out patches."""
    from tqgd.engine.train import train

    device = None if args.device == "cpu" else args.device
    result = train(data / f"fold{fold}.yaml", model, epochs=args.det_epochs, imgsz=args.patch_size,
                   batch=args.det_batch, device=args.device, project=args.work / "detectors",
                   name=f"{model.replace('.yaml', '')}_fold{fold}",
                   options={"workers": 0, "plots": False, "seed": args.seed, "deterministic": True,
                            "nbs": args.det_batch, "exist_ok": True, "verbose": False})
    _, val = patch_set.split(fold)
    boxes = detector_boxes(result.best, [p.image for p in val], args.patch_size, device)
    outputs = detector_outputs(boxes, [(p.height, p.width) for p in val], args.det_conf)
    return {"fold": fold, "val_patches": len(val), "val_patients": sorted({p.patient for p in val}),
            **score_fold(val, outputs, masks), "weights": str(result.best),
            "ultralytics_val": {k: v for k, v in result.metrics.items() if k.startswith("metrics/")}}


#: Options that do not change a fold's result (the others must match for a stored result to be reused).
NOT_IN_RESULT = ("json", "doc", "no_doc", "only_folds", "models", "prepare_only", "parallel_folds")


def cached(args: argparse.Namespace, path: Path, job) -> tuple[dict, float | None, float | None]:
    """(record, wall s, CPU s) of ``job()``, stored at ``path``; a stored record made with the same options is reused
    with the times it took then (None when they were not stored)."""
    options = {k: str(v) for k, v in vars(args).items() if k not in NOT_IN_RESULT}
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("options") == options:
            log(f"reusing {path}")
            return stored["record"], stored.get("wall_seconds"), stored.get("cpu_seconds")
    wall, cpu = time.time(), cpu_seconds()
    record = job()
    wall, cpu = time.time() - wall, cpu_seconds() - cpu
    write_json(path, {"options": options, "record": record, "wall_seconds": wall, "cpu_seconds": cpu})
    return record, wall, cpu


def epoch_logger(fold: int):
    """A baseline progress function logging the mean loss at the end of each epoch."""
    def progress(stage: str, epoch: int, step: int, steps: int, loss: float) -> None:
        if step == steps:
            log(f"  baseline fold {fold} {stage} epoch {epoch + 1}: loss {loss:.3f}")
    return progress


def run(args: argparse.Namespace) -> dict:
    """All folds of all methods; returns the JSON record."""
    started, cpu_start = time.time(), cpu_seconds()
    record = run_record("xa_table2.py")
    data = prepare(args)
    patch_set = load_patch_set(data)
    masks = RunMasks(patch_set.runs_dir)
    folds = sorted(set(args.only_folds)) if args.only_folds else range(patch_set.folds)
    if any(not 0 <= f < patch_set.folds for f in folds):
        raise SystemExit(f"--only-folds: this dataset has folds 0..{patch_set.folds - 1}")
    train_options = TrainOptions(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                                 schedule=args.schedule, device=args.device)
    roi_options = RoiOptions(step_px=args.dilation_step, min_roi_px=args.min_roi_px)
    results: dict[str, list[dict]] = {"ResUNet-18 (baseline)": []}
    times: dict[str, list[tuple[float | None, float | None]]] = {}
    for fold in folds:
        jobs = [("ResUNet-18 (baseline)", "baseline",
                 lambda f=fold: run_baseline_fold(patch_set, f, train_options, roi_options, masks,
                                                  progress=epoch_logger(f)).record)]
        jobs += [(DETECTOR_NAMES.get(m, m), m.replace(".yaml", ""),
                  lambda f=fold, m=m: detector_fold(args, data, f, m, patch_set, masks)) for m in args.models]
        for name, tag, job in jobs:
            rec, wall, cpu = cached(args, args.work / "results" / f"{tag}_fold{fold}.json", job)
            results.setdefault(name, []).append(rec)
            times.setdefault(name, []).append((wall, cpu))
            log(f"{name} fold {fold}: F1 {rec['f1']:.2f}, IoM {rec['iom']}, HD {rec['hd_mm']}, mAP50 "
                f"{rec['map50']:.3f}")
    summary = json.loads((data / DATASET_JSON).read_text(encoding="utf-8"))
    return {**record, "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "dataset": {k: summary[k] for k in ("images", "images_with_calcium", "boxes", "patients")},
            "runs_left_out": sorted(s["run"] for s in summary.get("skipped", [])),
            "results": results, "fold_seconds": {m: [{"wall": w, "cpu": c} for w, c in t] for m, t in times.items()},
            "call_wall_seconds": time.time() - started, "call_cpu_seconds": cpu_seconds() - cpu_start}


def without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option`` and its value (``--x 4`` or ``--x=4``)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(f"{option}="):
            kept.append(word)
    return kept


def run_folds_side_by_side(args: argparse.Namespace, argv: list[str]) -> None:
    """Write the data once, then run every fold as its own ``--only-folds k`` process, ``--parallel-folds`` at a
    time; their stored results are reused when the table is assembled. A failed fold is reported with its log."""
    import subprocess

    folds = load_patch_set(prepare(args)).folds
    base = [sys.executable, str(Path(__file__).resolve()), *without_option(argv, "--parallel-folds"), "--no-doc"]
    pending, running, failed = list(range(folds)), [], []
    log(f"{folds} folds, {args.parallel_folds} at a time; logs in {args.work}/fold<k>.log")
    while pending or running:
        while pending and len(running) < args.parallel_folds:
            fold = pending.pop(0)
            with open(args.work / f"fold{fold}.log", "w", encoding="utf-8") as out:
                running.append((fold, subprocess.Popen([*base, "--only-folds", str(fold)], stdout=out,
                                                       stderr=subprocess.STDOUT)))
        time.sleep(1)
        for fold, process in [r for r in running if r[1].poll() is not None]:
            running.remove((fold, process))
            log(f"fold {fold}: {'done' if process.returncode == 0 else f'FAILED (exit {process.returncode})'}")
            if process.returncode:
                failed.append(fold)
    if failed:
        raise SystemExit(f"folds {failed} failed; see {args.work}/fold<k>.log (finished folds are stored and reused)")


def compute_line(out: dict) -> str:
    """Per method: wall and CPU minutes summed over its folds (as stored with each fold's result), and this call."""
    parts = []
    for method, folds in out["fold_seconds"].items():
        if any(f["wall"] is None for f in folds):
            parts.append(f"{method} not recorded for {sum(f['wall'] is None for f in folds)} fold(s)")
        else:
            parts.append(f"{method} {sum(f['wall'] for f in folds) / 60:.1f} min wall / "
                         f"{sum(f['cpu'] for f in folds) / 60:.1f} min CPU")
    return (f"Compute summed over folds: {'; '.join(parts)}. This call: {out['call_wall_seconds'] / 60:.1f} min "
            f"wall, {out['call_cpu_seconds'] / 60:.1f} min CPU.")


def block(out: dict) -> str:
    """The Markdown block for docs/xa.md."""
    opts, ds = out["options"], out["dataset"]
    n_folds = len(next(iter(out["results"].values())))
    table = markdown_table(out["results"], PAPER)
    return (f"{record_line(out)}\n\nProtocol: {opts['sequences']} phantom runs of {opts['frames']} frames at "
            f"{opts['size']} px ({opts['views_per_patient']} per patient; left out because the synchronisation failed: "
            f"{', '.join(out['runs_left_out']) or 'none'}), {opts['frames_per_run']} synchronised pairs "
            f"per run, five {opts['patch_size']} px patches each: {ds['images']} patches ({ds['images_with_calcium']} "
            f"with calcium), {n_folds} leave-one-patient-out folds. ROI targets: 4 dilations of "
            f"{opts['dilation_step']} px, islands under {opts['min_roi_px']} px removed. Baseline: {opts['epochs']} epoch(s), "
            f"{opts['schedule']} schedule, batch {opts['batch']}, AdamW lr {opts['lr']}, random init. Detectors: "
            f"{opts['det_epochs']} epoch(s), batch {opts['det_batch']}, ROI = boxes with confidence >= "
            f"{opts['det_conf']}. {compute_line(out)} Median (first-third quartile) over folds; "
            f"`[n/N folds]` = the value was undefined in the other folds.\n\n{table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="Folder for runs, dataset and trained detectors.")
    parser.add_argument("--sequences", type=int, default=3, help="Phantom runs.")
    parser.add_argument("--views-per-patient", type=int, default=1, help="Runs per patient (1: leave-one-run-out).")
    parser.add_argument("--frames", type=int, default=200, help="Frames per run.")
    parser.add_argument("--size", type=int, default=512, help="Frame size in px.")
    parser.add_argument("--frames-per-run", type=int, default=4, help="Synchronised pairs per run (0 = all).")
    parser.add_argument("--patch-size", type=int, default=256, help="Patch side in px (paper: 256).")
    parser.add_argument("--epochs", type=int, default=2, help="Baseline epochs (per stage when sequential).")
    parser.add_argument("--batch", type=int, default=8, help="Baseline batch size (paper: 32).")
    parser.add_argument("--lr", type=float, default=1e-3, help="Baseline AdamW learning rate.")
    parser.add_argument("--schedule", choices=("joint", "sequential"), default="joint", help="Baseline schedule.")
    parser.add_argument("--dilation-step", type=int, default=5, help="ROI target: px per dilation (paper: 5).")
    parser.add_argument("--min-roi-px", type=int, default=1000, help="Smallest ROI island kept (paper: 1000).")
    parser.add_argument("--models", nargs="*", default=["tqgdnet-n", "yolo26n.yaml"], help="Detectors to train.")
    parser.add_argument("--det-epochs", type=int, default=2, help="Detector epochs.")
    parser.add_argument("--det-batch", type=int, default=8, help="Detector batch size.")
    parser.add_argument("--det-conf", type=float, default=0.25, help="Detector confidence for ROIs and positives.")
    parser.add_argument("--only-folds", type=int, nargs="*", default=None,
                        help="Run only these folds and write no table (their results are stored in WORK/results and "
                             "reused by a later full run: folds can run in parallel processes).")
    parser.add_argument("--device", default="cpu", help="cpu, or a CUDA device such as 0.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of phantom, folds and training.")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "docs" / "xa_table2.json", help="Result record.")
    parser.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "xa.md", help="Markdown file of the block.")
    parser.add_argument("--no-doc", action="store_true", help="Write neither the JSON record nor the block.")
    parser.add_argument("--prepare-only", action="store_true",
                        help="Write the phantom runs and the dataset, train nothing (then start --only-folds "
                             "processes side by side: they reuse them instead of each writing its own).")
    parser.add_argument("--parallel-folds", type=int, default=1, metavar="N",
                        help="Run the folds as N processes side by side (e.g. on a GPU: these models leave most of "
                             "it idle), each logging to WORK/fold<k>.log, then assemble the table.")
    args = parser.parse_args()
    args.work = args.work.expanduser().resolve()
    if args.prepare_only:
        log(f"prepared: {prepare(args)}")
        return
    if args.parallel_folds > 1 and not args.only_folds:
        run_folds_side_by_side(args, sys.argv[1:])
    out = run(args)
    text = block(out)
    print(text)
    if not args.no_doc and not args.only_folds:
        write_json(args.json, out)
        update_block(BLOCK, text, args.doc)
        log(f"written: {args.json}, block '{BLOCK}' of {args.doc}")


if __name__ == "__main__":
    main()
