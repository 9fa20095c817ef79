"""``tqgd xa``: 2D coronary angiography (paper 004): synthetic XA runs, frame synchronisation, paired-frame datasets,
the ResUNet-18 baseline."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

xa_app = typer.Typer(help="2D coronary angiography (XA cine DICOM): phantom runs, ECG-free frame synchronisation, "
                          "paired-frame calcium datasets, the ResUNet-18 baseline.", no_args_is_help=True)


class Compression(str, Enum):
    """Transfer syntax of the written runs (all lossless)."""

    none = "none"
    rle = "rle"
    jpegls = "jpegls"


class Schedule(str, Enum):
    """Training order of the ResUNet-18 baseline."""

    joint = "joint"
    sequential = "sequential"


@xa_app.command("phantom")
def phantom(
    out: Path = typer.Argument(..., file_okay=False, help="New or empty folder for the runs."),
    sequences: int = typer.Option(6, "--sequences", "-n", min=1, max=2000, help="Number of runs (XA files)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed; the same seed and options give the same files."),
    frames: int = typer.Option(200, "--frames", min=16, max=2000,
                               help="Frames per run at 15 fps; the first half has no contrast."),
    size: int = typer.Option(512, "--size", min=64, max=1024,
                             help="Frame size in px; other sizes keep the field of view (larger pixels)."),
    views: int = typer.Option(3, "--views-per-patient", min=1, max=10,
                              help="Runs per patient (same heart, tree and calcium, other projections)."),
    compression: Compression = typer.Option(Compression.none, "--compression",
                                            help="none (explicit VR little endian), rle or jpegls (lossless)."),
    hrv: float = typer.Option(0.03, "--hrv", min=0.0, max=0.3,
                              help="Largest breathing modulation of the heart rate (fraction); each run draws 0..HRV."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty folder."),
) -> None:
    """Write synthetic 2D coronary angiography runs as X-Ray Angiographic Image Storage DICOM with ground truth.

    Each run is a 3D coronary tree projected by a C-arm at a standard view: cardiac motion at a per-run heart rate,
    contrast filling the tree in the second half, faint calcium deposits moving with their vessel, spine, ribs,
    diaphragm, heart shadow, catheter and quantum noise. Next to each RUN.dcm: RUN.npz (per-frame calcium labels
    and vessel footprint, true cardiac phase and beat) and RUN.json (heart rate, period, contrast timing, C-arm).

    Example: tqgd xa phantom xa_runs --sequences 12 --seed 0
    """
    import numpy as np
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from tqgd.xa.phantom_set import SET_FILE, check_output, write_phantom_set

    check_output(out.expanduser().resolve(), overwrite)
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with bars:
        task = bars.add_task("runs", total=sequences)
        result = write_phantom_set(out, sequences, seed, n_frames=frames, size=size, views_per_patient=views,
                                   compression=compression.value, overwrite=overwrite, hrv_max=hrv,
                                   progress=lambda rid: bars.update(task, advance=1, description=f"runs ({rid})"))
    Console().print(f"{len(result.run_ids)} runs in {out} ({frames} frames, {size} px, {compression.value}); "
                    f"render {np.mean(result.render_s):.1f} s, write {np.mean(result.write_s):.1f} s per run; "
                    f"set file {out / SET_FILE}")


@xa_app.command("sync")
def sync(
    run: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="XA (or XRF) cine DICOM file."),
    out: Path = typer.Option(None, "--out", dir_okay=False,
                             help="Write the signal, period, contrast frames and pairs here as JSON."),
    plot: Path = typer.Option(None, "--plot", dir_okay=False, help="Save the signal and its spectrum as a PNG."),
    min_bpm: float = typer.Option(40.0, "--min-bpm", min=1.0, help="Slowest heart rate searched."),
    max_bpm: float = typer.Option(180.0, "--max-bpm", min=2.0, help="Fastest heart rate searched."),
    contrast_start: int = typer.Option(None, "--contrast-start", min=1,
                                       help="First contrast frame, if the automatic detection fails."),
    whole_run: bool = typer.Option(False, "--whole-run-period",
                                   help="Pair with the period of the whole-run FFT (the paper's literal recipe) "
                                        "instead of the per-phase refinement."),
) -> None:
    """Pair non-contrast and contrast frames in the same cardiac phase without an ECG (paper 004).

    Computes the paper's ECG-like signal (normalised distance of every frame to the first), its FFT period, where
    the contrast arrives and is complete, and pairs each non-contrast frame with the contrast frame a whole number
    of periods later (the period re-read per phase of the run once the contrast is found; --whole-run-period
    keeps the paper's whole-run FFT period). When RUN.npz / RUN.json with the true phase lie next to the file (tqgd xa phantom), prints
    the period error and the share of pairs within one frame of the true phase.

    Example: tqgd xa sync xa_runs/P001V1.dcm --out P001V1.sync.json --plot P001V1.sync.png
    """
    from rich.console import Console

    from tqgd.errors import ConfigError
    from tqgd.io import write_json
    from tqgd.xa.reader import read_xa
    from tqgd.xa.sync import synchronise
    from tqgd.xa.sync_eval import score_sync
    from tqgd.xa.truth import load_truth, truth_paths

    if min_bpm >= max_bpm:
        raise ConfigError(f"--min-bpm ({min_bpm}) must be below --max-bpm ({max_bpm})")
    for target in (out, plot):
        if target is not None and target.resolve() == run.resolve():
            raise ConfigError("an output would overwrite the input run; choose another file name", target)
    console = Console()
    seq = read_xa(run)
    result = synchronise(seq.frames, seq.frame_rate_fps, min_bpm, max_bpm, contrast_start, refine=not whole_run)
    rate = f", {result.heart_rate_bpm:.1f} bpm" if result.heart_rate_bpm else " (no frame rate in the file)"
    console.print(f"{run.name}: {seq.num_frames} frames, period {result.period_frames:.2f} frames{rate} (whole-run "
                  f"FFT {result.period_whole_run:.2f}); contrast "
                  f"from frame {result.contrast_start}, complete at {result.contrast_full}; {len(result.pairs)} pairs")
    record = {"run": str(run), "frames": seq.num_frames, "fps": seq.frame_rate_fps,
              "period_frames": result.period_frames, "period_whole_run_frames": result.period_whole_run,
              "heart_rate_bpm": result.heart_rate_bpm,
              "contrast_start": result.contrast_start, "contrast_full": result.contrast_full,
              "pairs": result.pairs.tolist(), "signal": result.signal.tolist()}
    if truth_paths(run)[0].is_file():
        truth = load_truth(run, seq.num_frames, need_calcium=False)
        if truth.phase is not None:
            score = score_sync(result, truth)
            console.print(f"against the true phase: period {score.true_period:.2f} frames (error "
                          f"{score.period_error:+.3f}), contrast start {score.contrast_start_true} (found "
                          f"{score.contrast_start_found}), pairs within 1 frame {score.within_one_frame:.1%} "
                          f"(chance {score.chance_within_one_frame:.0%}), median |error| "
                          f"{score.median_abs_error:.2f} frames")
            record["truth"] = {"period_frames": score.true_period, "period_error_frames": score.period_error,
                               "pairs_within_1_frame": score.within_one_frame,
                               "median_abs_phase_error_frames": score.median_abs_error,
                               "pair_phase_errors_frames": score.pair_errors.tolist()}
    if out is not None:
        write_json(out, record)
        console.print(f"written: {out}")
    if plot is not None:
        from tqgd.xa.sync_plot import plot_sync

        plot_sync(result, plot, title=run.name)
        console.print(f"written: {plot}")


@xa_app.command("dataset")
def dataset(
    runs: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder of RUN.dcm files with RUN.npz masks."),
    out: Path = typer.Argument(..., file_okay=False, help="New or empty folder for the dataset."),
    frames_per_run: int = typer.Option(8, "--frames-per-run", min=0,
                                       help="Pairs per run, evenly spread over the non-contrast frames (0 = all)."),
    patches: bool = typer.Option(False, "--patches", help="Cut each pair into the paper's five overlapping patches."),
    patch_size: int = typer.Option(256, "--patch-size", min=32, help="Patch side in px (paper: 256)."),
    folds: int = typer.Option(5, "--folds", min=0, help="Patient-grouped folds (0 = one per patient: "
                              "leave-one-patient-out)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the fold assignment (ties only)."),
) -> None:
    """Make a YOLO dataset of synchronised pairs (channels: non-contrast, contrast, difference) for tqgd train.

    Boxes come from the non-contrast frame's calcium mask (2D connected components). Writes images/, labels/,
    patient-grouped folds/, fold<k>.yaml and xa.yaml (= fold 0), manifest.csv and xa_dataset.json.

    Example: tqgd xa dataset xa_runs xa_data --frames-per-run 8 --patches && tqgd train --data xa_data/xa.yaml
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from tqgd.xa.dataset import DatasetOptions, build_xa_dataset

    if folds == 1:
        raise typer.BadParameter("one fold leaves nothing to train on; use 2 or more, or 0 for one per patient",
                                 param_hint="--folds")
    options = DatasetOptions(frames_per_run=frames_per_run, patches=patches, patch_size=patch_size, folds=folds,
                             seed=seed)
    total = len(list(runs.glob("*.dcm")))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as bars:
        task = bars.add_task("runs", total=total)
        summary = build_xa_dataset(runs, out, options,
                                   progress=lambda rid: bars.update(task, advance=1, description=f"runs ({rid})"))
    table = Table(title="synchronisation per run")
    for column in ("run", "patient", "period (frames)", "contrast start", "complete", "pairs", "period error",
                   "pairs within 1 frame"):
        table.add_column(column)
    for rec in summary["runs"]:
        known = "period_error_frames" in rec
        table.add_row(rec["run"], rec["patient"], f"{rec['period_frames']:.2f}", str(rec["contrast_start"]),
                      str(rec["contrast_full"]), str(rec["pairs"]),
                      f"{rec['period_error_frames']:+.2f}" if known else "-",
                      f"{rec['pairs_within_1_frame']:.0%}" if known else "-")
    console = Console()
    console.print(table)
    for skip in summary["skipped"]:
        console.print(f"[yellow]left out {skip['run']}[/yellow]: {skip['reason']}")
    console.print(f"{summary['images']} images ({summary['images_with_calcium']} with calcium, {summary['boxes']} "
                    f"boxes) from {len(summary['runs'])} runs of {summary['patients']} patients; "
                    f"train with: tqgd train --data {out.resolve() / 'xa.yaml'}")


@xa_app.command("baseline")
def baseline(
    data: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder made by 'tqgd xa dataset --patches'."),
    fold: int = typer.Option(0, "--fold", min=0, help="Fold to hold out (its patients are scored)."),
    epochs: int = typer.Option(100, "--epochs", min=1, help="Epochs (per stage with --schedule sequential)."),
    batch: int = typer.Option(32, "--batch", min=1, help="Batch size (paper: 32)."),
    lr: float = typer.Option(1e-3, "--lr", min=1e-8, help="AdamW learning rate."),
    schedule: Schedule = typer.Option(Schedule.joint, "--schedule",
                                 help="joint (one loss) or sequential (classifier first, then the decoder with the "
                                      "classifier frozen, as the paper)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of initialisation and shuffling."),
    device: str = typer.Option("cpu", "--device", help="cpu, or a CUDA device such as cuda:0."),
    dilation_step: int = typer.Option(5, "--dilation-step", min=1, help="ROI target: px per dilation (paper: 5)."),
    dilations: int = typer.Option(4, "--dilations", min=0, help="ROI target: dilation iterations (paper: 4)."),
    min_roi_px: int = typer.Option(1000, "--min-roi-px", min=0, help="Smallest ROI island kept (paper: 1000)."),
    out: Path = typer.Option(None, "--out", dir_okay=False, help="Write the fold's scores and history as JSON."),
    weights: Path = typer.Option(None, "--weights", dir_okay=False, help="Save the trained network here (.pt)."),
) -> None:
    """Train paper 004's ResUNet-18 baseline on one fold and score the held-out patients (Table 2 metrics).

    A double-head ResNet-18 (one head per frame of the pair, random initialisation: nothing is downloaded) classifies
    each patch; a U-Net-style decoder predicts the ROI around calcium, trained on the calcium masks dilated
    DILATIONS times by DILATION_STEP px. Prints patch precision/recall/F1, IoM and Hausdorff distance (mm) of the
    frame ROIs against the calcium, and the mAP of the ROIs' boxes against the dataset's labels.

    Example: tqgd xa baseline xa_data --fold 0 --epochs 20 --batch 8 --out fold0.json --weights fold0.pt
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from tqgd.errors import ConfigError
    from tqgd.io import write_json
    from tqgd.xa.baseline_data import load_patch_set
    from tqgd.xa.baseline_fold import run_baseline_fold
    from tqgd.xa.baseline_train import TrainOptions, save_baseline
    from tqgd.xa.roi import RoiOptions

    for target in (out, weights):
        if target is not None and target.expanduser().resolve().is_relative_to(data.expanduser().resolve()):
            raise ConfigError("outputs go outside the dataset folder (it is an input); choose another path", target)
    patch_set = load_patch_set(data)
    train_options = TrainOptions(epochs=epochs, batch=batch, lr=lr, seed=seed, schedule=schedule.value,
                                 device=device)
    roi_options = RoiOptions(iterations=dilations, step_px=dilation_step, min_roi_px=min_roi_px)
    stages = 2 if schedule is Schedule.sequential else 1
    bars = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("loss {task.fields[loss]}"),
                    TimeRemainingColumn())
    with bars:
        task = bars.add_task("training", total=None, loss="-")

        def progress(stage: str, epoch: int, step: int, steps: int, loss: float) -> None:
            bars.update(task, total=stages * epochs * steps, advance=1, loss=f"{loss:.3f}",
                        description=f"{stage} epoch {epoch + 1}/{epochs}")

        done = run_baseline_fold(patch_set, fold, train_options, roi_options, progress=progress)
    rec = done.record
    hd = "undefined (no ROI)" if rec["hd_mm"] is None else f"{rec['hd_mm']:.1f} mm"
    iom = "undefined" if rec["iom"] is None else f"{rec['iom']:.2f}"
    Console().print(f"fold {fold} ({', '.join(rec['val_patients'])}; {rec['val_patches']} patches, "
                    f"{rec['frames_with_calcium']} frames with calcium): precision {rec['precision']:.2f}, recall "
                    f"{rec['recall']:.2f}, F1 {rec['f1']:.2f}; IoM {iom}, Hausdorff {hd}; mAP50 {rec['map50']:.3f}")
    if out is not None:
        write_json(out, {**rec, "history": done.history, "data": str(patch_set.root)})
        Console().print(f"written: {out}")
    if weights is not None:
        save_baseline(done.model, weights, {"fold": fold, "train": rec["train"], "roi": rec["roi"],
                                            "data": str(patch_set.root)})
        Console().print(f"written: {weights}")


def register(app: typer.Typer) -> None:
    """Attach ``tqgd xa phantom|sync|dataset|baseline`` (once, however often it is called)."""
    if not any(group.typer_instance is xa_app for group in app.registered_groups):
        app.add_typer(xa_app, name="xa")
