"""``tqgd heart dataset`` and ``tqgd heart train``: the heart detector that crops slices before calcium detection."""

from __future__ import annotations

from pathlib import Path

import typer

heart_app = typer.Typer(help="Heart detector: build its dataset, train it (used by convert --heart-weights and "
                             "detect).", no_args_is_help=True)


def dataset(
    src: Path = typer.Argument(..., exists=True, file_okay=False, readable=True,
                               help="A phantom folder (phantom/<ID>.json sidecars) or YOLO-labelled slices "
                                    "(images/ + labels/)."),
    out: Path = typer.Argument(..., help="New or empty folder for the heart dataset (never inside SRC)."),
    every: int = typer.Option(3, "--every", min=1, help="Keep every n-th slice (as heart cropping samples them)."),
    window: str = typer.Option("paper", "--window", help="HU window, as for tqgd convert (detection repeats it)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Patient-grouped folds; fold 0 is heart.yaml."),
    seed: int = typer.Option(0, "--seed", help="Seed for the fold assignment."),
) -> None:
    """Build a heart-box dataset (full slices, windowed as detection sees them) with patient-grouped folds.

    Example: tqgd heart dataset phantom_set datasets/heart --every 3
    """
    from rich.console import Console
    from rich.progress import Progress

    from tqgd.engine.heart import HeartDatasetOptions, build_heart_dataset

    options = HeartDatasetOptions(slice_step=every, window=window, folds=folds, seed=seed)
    with Progress(transient=True) as bars:
        task = bars.add_task("patients", total=None)
        report = build_heart_dataset(src, out, options,
                                     progress=lambda name, done, total: bars.update(task, completed=done, total=total,
                                                                                    description=f"patients ({name})"))
    console = Console()
    console.print(f"Wrote {report.images} slices ({report.images_with_heart} with a heart box) of {report.patients} "
                  f"patients from a {report.source_kind} source in {report.seconds:.1f} s.")
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"train with: tqgd heart train --data {report.yaml}")


def train(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, readable=True,
                              help="heart.yaml written by tqgd heart dataset (or any one-class YOLO dataset YAML)."),
    model: str = typer.Option("yolov8n.yaml", "--model",
                              help="Detector config: an ultralytics YAML (yolov8n.yaml) or a tqgd config "
                                   "(yolov5b-panet-n); trained from scratch, nothing is downloaded."),
    epochs: int = typer.Option(40, "--epochs", min=1, help="Epochs."),
    imgsz: int = typer.Option(128, "--imgsz", min=32, help="Image size in px (the heart is large: small is enough)."),
    batch: int = typer.Option(16, "--batch", min=1, help="Batch size."),
    device: str = typer.Option(None, "--device", help="cpu, 0, ..."),
    project: Path = typer.Option(None, "--project", help="Folder holding runs (default ./runs/heart)."),
    name: str = typer.Option(None, "--name", help="Run folder name (default heart)."),
    options: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                        help="Other ultralytics train options, e.g. optimizer=AdamW lr0=0.003."),
) -> None:
    """Train the heart detector; its weights/best.pt is what --heart-weights takes.

    Heart defaults over the paper's recipe: AdamW lr0 0.003, 1 warm-up epoch, no flips, no mosaic (tqgd.engine.heart).

    Example: tqgd heart train --data datasets/heart/heart.yaml --epochs 40 --imgsz 128 --device cpu
    """
    from rich.console import Console

    from tqgd.cli.train_progress import TrainingProgress
    from tqgd.engine.heart import train_heart
    from tqgd.engine.recipe import parse_option_words

    console = Console()
    extra = parse_option_words(options or [])
    with TrainingProgress(console) as progress:
        result = train_heart(data, model, epochs=epochs, imgsz=imgsz, batch=batch, device=device, project=project,
                             name=name, options=extra, callbacks=progress.callbacks())
    console.print(f"run folder: {result.save_dir}")
    console.print(f"heart weights: {result.best}  (use: tqgd convert orcascore ... --heart-weights {result.best})")
    summary = ", ".join(f"{key.split('/')[-1]} {value:.4f}" for key, value in result.metrics.items())
    if summary:
        console.print(f"final validation: {summary}")


heart_app.command("dataset")(dataset)
heart_app.command("train")(train)


def register(app: typer.Typer) -> None:
    """Attach ``tqgd heart dataset`` and ``tqgd heart train`` (once, however often it is called)."""
    if not any(group.typer_instance is heart_app for group in app.registered_groups):
        app.add_typer(heart_app, name="heart")
