"""``tqgd baseline``: segmentation baselines scored as detectors (box evaluation, HU threshold, U-Net)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

baseline_app = typer.Typer(help="Segmentation baselines scored with the detectors' P/R/F1/mAP code.",
                           no_args_is_help=True)
unet_app = typer.Typer(help="2D U-Net (EfficientNet-B0 encoder) trained on converted slices and their masks.",
                       no_args_is_help=True)

_ARTERIES_HELP = ("Geometric prior: drop findings off the coronary arteries. 'phantom' derives artery masks from the "
                  "phantom centre lines; a folder holds artery masks named like the images or patients.")


class _Bar:
    """One rich progress bar, as a ``progress(done, total)`` callback."""

    def __init__(self, label: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeRemainingColumn(), transient=True)
        self.task = self.bars.add_task(label, total=None)

    def __call__(self, done: int, total: int) -> None:
        self.bars.update(self.task, completed=done, total=total)


def _report(result: Any, json_out: Path | None) -> None:
    """Print the box (and mask) metrics table; write the JSON record when asked."""
    from rich.console import Console

    from tqgd.baselines.table import box_table, mask_table
    from tqgd.io import write_json

    console = Console()
    typer.echo(box_table([result]))
    if result.masks:
        typer.echo(mask_table([result]))
    prior = result.settings.get("geometric_prior")
    if prior:
        console.print(f"geometric prior ({prior['arteries']}, {prior['radius_mm']:g} mm): removed "
                      f"{prior.get('removed_boxes', prior.get('removed_pixels'))} "
                      f"{'boxes' if 'removed_boxes' in prior else 'pixels'}")
    if json_out is not None:
        write_json(json_out, result.to_dict())
        console.print(f"metrics: {json_out}")


def evaluate(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, readable=True,
                              help="Dataset YAML (e.g. OUT/fold0.yaml) whose labels are the ground truth."),
    masks: Path = typer.Option(None, "--masks", exists=True, file_okay=False, readable=True,
                               help="Folder of predicted masks / probability maps (PNG, NIfTI, MetaImage; 2D per "
                                    "image stem or 3D per patient)."),
    predictions: Path = typer.Option(None, "--predictions", exists=True, dir_okay=False, readable=True,
                                     help="Or a detector's predictions.json (as 'tqgd val' writes it)."),
    split: str = typer.Option("val", "--split", help="Split of the data YAML: train, val or test."),
    threshold: float = typer.Option(0.5, "--threshold", help="Probability at or above which a pixel is calcium."),
    confidence: str = typer.Option("mean", "--confidence", help="Box confidence: mean or max probability."),
    probability_scale: float = typer.Option(None, "--probability-scale",
                                            help="Read integer maps as probabilities value/SCALE (e.g. 255)."),
    connectivity: int = typer.Option(4, "--connectivity", help="Component connectivity: 4 or 8."),
    tolerance_mm: float = typer.Option(1.0, "--tolerance-mm", help="Surface Dice tolerance in mm."),
    arteries: str = typer.Option(None, "--arteries", help=_ARTERIES_HELP),
    artery_radius_mm: float = typer.Option(None, "--artery-radius-mm", help="Phantom artery radius (default 5)."),
    name: str = typer.Option(None, "--name", help="Method name in the table (default: the folder name)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the metrics to this JSON file."),
) -> None:
    """Score segmentation masks (or detector boxes) with the detectors' P/R/F1/mAP50/mAP50-95 code.

    Each connected component of a mask becomes a box (confidence: mean or max probability, 1 for binary masks).
    With reference masks in the dataset (convert --masks) it also prints IF1/IS/IP, Dice, surface Dice and IoM.

    Example: tqgd baseline eval --masks runs/unet/exp/pred --data datasets/orca/fold0.yaml
    """
    from tqgd.baselines.mask_eval import (
        MaskToBoxOptions,
        evaluate_box_predictions,
        evaluate_mask_predictions,
    )
    from tqgd.errors import ConfigError

    if (masks is None) == (predictions is None):
        raise ConfigError("give exactly one of --masks (segmentation output) or --predictions (detector output)")
    if predictions is not None:
        result = evaluate_box_predictions(predictions, data, split, arteries, artery_radius_mm, name)
    else:
        options = MaskToBoxOptions(threshold=threshold, confidence=confidence, connectivity=connectivity,
                                   tolerance_mm=tolerance_mm)
        bar = _Bar("images")
        with bar.bars:
            result = evaluate_mask_predictions(masks, data, split, options, probability_scale, arteries,
                                               artery_radius_mm, name, progress=bar)
    _report(result, json_out)


def threshold_baseline(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, readable=True,
                              help="Dataset YAML of a 'tqgd convert orcascore' folder (its manifest names the scans)."),
    split: str = typer.Option("val", "--split", help="Split of the data YAML: train, val or test."),
    threshold_hu: float = typer.Option(130.0, "--threshold-hu", help="Calcium is strictly above this HU."),
    roi: str = typer.Option("auto", "--roi", help="Heart ROI: auto (dataset crop, else phantom heart boxes), none, "
                                                  "or x0,y0,x1,y1 in source-slice pixels."),
    remove_lungs: bool = typer.Option(False, "--remove-lungs", help="Remove the lungs (-224..600 HU + seed fill) "
                                                                    "before thresholding."),
    arteries: str = typer.Option(None, "--arteries", help=_ARTERIES_HELP),
    artery_radius_mm: float = typer.Option(None, "--artery-radius-mm", help="Phantom artery radius (default 5)."),
    masks_out: Path = typer.Option(None, "--masks-out", help="Also save each thresholded mask as PNG here."),
    json_out: Path = typer.Option(None, "--json", help="Also write the metrics to this JSON file."),
) -> None:
    """The classical baseline: 130 HU threshold + connected components in the heart ROI, scored like a detector.

    Example: tqgd baseline threshold --data datasets/orca/fold0.yaml --roi auto
    """
    from tqgd.baselines.threshold import ThresholdOptions, run_threshold_baseline

    options = ThresholdOptions(threshold_hu=threshold_hu, roi=roi, remove_lungs=remove_lungs)
    bar = _Bar("images")
    with bar.bars:
        result = run_threshold_baseline(data, split, options, arteries, artery_radius_mm, masks_out, progress=bar)
    _report(result, json_out)


def preprocess(
    src: Path = typer.Argument(..., exists=True, file_okay=False, readable=True,
                               help="Dataset folder written by 'tqgd convert'."),
    out: Path = typer.Argument(..., help="New or empty folder for the pre-processed copy (never inside SRC)."),
    hist_match: Path = typer.Option(None, "--hist-match", exists=True, dir_okay=False, readable=True,
                                    help="Reference slice (8-bit image): match every image's histogram to it."),
    remove_lungs: bool = typer.Option(False, "--remove-lungs",
                                      help="Remove the lungs (-224..600 HU + seed fill on the source slice)."),
) -> None:
    """Write a pre-processed copy of a dataset (histogram matching, lung removal) that any model can train on.

    Example: tqgd baseline preprocess datasets/orca datasets/orca-nolung --remove-lungs
    """
    from rich.console import Console

    from tqgd.baselines.preprocess_dataset import preprocess_dataset

    bar = _Bar("images")
    with bar.bars:
        written = preprocess_dataset(src, out, hist_match, remove_lungs, progress=bar)
    Console().print(f"Wrote the pre-processed dataset to {written}")


def unet_train(
    data_dir: Path = typer.Option(..., "--data-dir", exists=True, file_okay=False, readable=True,
                                  help="Dataset folder of 'tqgd convert orcascore ... --masks'."),
    fold: int = typer.Option(0, "--fold", min=0, help="Fold to train on (fold<k>.yaml: its train split)."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Passes over the training slices."),
    imgsz: int = typer.Option(256, "--imgsz", min=32, help="Side of the training crops in px (multiple of 32)."),
    batch: int = typer.Option(8, "--batch", min=1, help="Crops per step."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    encoder: str = typer.Option("efficientnet-b0", "--encoder", help="smp encoder (from scratch, no download)."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, crops, flips and shuffling."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda:0."),
    project: Path = typer.Option(Path("runs/unet"), "--project", help="Folder holding U-Net runs."),
    name: str = typer.Option("exp", "--name", help="Run folder name (exp, exp2, ... when taken)."),
) -> None:
    """Train the U-Net baseline (Dice + BCE, Adam) on a fold; writes weights/best.pt, last.pt and history.json.

    Example: tqgd baseline unet train --data-dir datasets/orca --fold 0 --epochs 30 --imgsz 256
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tqgd.baselines.unet import UNetConfig
    from tqgd.baselines.unet_train import train_unet

    config = UNetConfig(encoder=encoder, epochs=epochs, imgsz=imgsz, batch=batch, lr=lr, seed=seed, fold=fold,
                        device=device)
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    epoch_task = bars.add_task("epochs", total=epochs)
    step_task = bars.add_task("  steps", total=None)

    def progress(epoch: int, step: int, steps: int, loss: float) -> None:
        bars.update(epoch_task, completed=epoch - 1 + step / steps, description=f"epoch {epoch} loss {loss:.3f}")
        bars.update(step_task, completed=step, total=steps)

    with bars:
        run = train_unet(data_dir, config, project, name, progress)
    last = run.history[-1]
    Console().print(f"Trained {epochs} epochs: val Dice {last['val_dice']:.3f} (best "
                    f"{max(h['val_dice'] for h in run.history):.3f}). Weights: {run.best}")


def unet_predict(
    weights: Path = typer.Option(..., "--weights", exists=True, dir_okay=False, readable=True,
                                 help="best.pt or last.pt of 'tqgd baseline unet train'."),
    out: Path = typer.Option(..., "--out", help="Folder for the probability maps (<stem>.mha)."),
    data_dir: Path = typer.Option(None, "--data-dir", exists=True, file_okay=False, readable=True,
                                  help="Dataset folder (default: the one the weights were trained on)."),
    fold: int = typer.Option(None, "--fold", min=0, help="Fold (default: the training fold)."),
    split: str = typer.Option("val", "--split", help="Split of fold<k>.yaml to predict: train, val or test."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda:0."),
) -> None:
    """Write a calcium probability map per image of a split, for 'tqgd baseline eval --masks'.

    Example: tqgd baseline unet predict --weights runs/unet/exp/weights/best.pt --out runs/unet/exp/pred
    """
    import json

    from rich.console import Console

    from tqgd.baselines.dataset import fold_yaml, load_split
    from tqgd.baselines.unet import load_checkpoint, predict_unet
    from tqgd.errors import CheckpointError

    _, checkpoint = load_checkpoint(weights)
    config_json = weights.resolve().parent.parent / "config.json"
    trained = json.loads(config_json.read_text(encoding="utf-8")) if config_json.is_file() else {}
    data_dir = data_dir or (Path(trained["data_dir"]) if "data_dir" in trained else None)
    if data_dir is None:
        raise CheckpointError("cannot tell which dataset these weights were trained on; pass --data-dir", weights)
    fold = checkpoint["config"]["fold"] if fold is None else fold
    images = [image.path for image in load_split(fold_yaml(data_dir, fold), split).images]
    bar = _Bar("images")
    with bar.bars:
        written = predict_unet(weights, images, out, device, progress=bar)
    Console().print(f"Wrote {len(written)} probability maps to {out}")


baseline_app.command("eval")(evaluate)
baseline_app.command("threshold")(threshold_baseline)
baseline_app.command("preprocess")(preprocess)
unet_app.command("train")(unet_train)
unet_app.command("predict")(unet_predict)
baseline_app.add_typer(unet_app, name="unet")


def register(app: typer.Typer) -> None:
    """Attach ``tqgd baseline`` (eval, threshold, preprocess, unet train / predict) once."""
    if not any(group.typer_instance is baseline_app for group in app.registered_groups):
        app.add_typer(baseline_app, name="baseline")
