"""``tqgd train``: train TQGDNet (or a baseline) with the paper's recipe; extra ultralytics options as key=value."""

from __future__ import annotations

from pathlib import Path

import typer

MODEL_HELP = ("tqgd config name (tqgdnet-n, yolov5b-gd-n, ...), a model YAML path, weights (.pt) to fine-tune, or an "
              "ultralytics model YAML for baselines (yolov8n.yaml, yolov5n.yaml).")


def print_recipe(console, rows: list[tuple[str, object, str]], title: str = "training recipe") -> None:
    """Print (key, value, source) rows as a table."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("option", "value", "source"):
        table.add_column(column)
    for key, value, source in rows:
        table.add_row(key, str(value), source)
    console.print(table)


def train(
    data: Path = typer.Option(None, "--data", exists=True, dir_okay=False, readable=True,
                              help="Dataset YAML with absolute path:, train, val, names (e.g. OUT/orcascore.yaml "
                                   "from tqgd convert). Optional with --resume."),
    model: str = typer.Option("tqgdnet-n", "--model", help=MODEL_HELP),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs (paper: 200)."),
    imgsz: int = typer.Option(None, "--imgsz", min=32, help="Training image size in px (ultralytics default 640)."),
    batch: int = typer.Option(None, "--batch", min=1, help="Batch size (paper: 4)."),
    device: str = typer.Option(None, "--device", help="cpu, 0, or 0,1,... (several GPUs train with DDP)."),
    project: Path = typer.Option(None, "--project", help="Folder holding runs (default ./runs/train)."),
    name: str = typer.Option(None, "--name", help="Run folder name inside --project (default exp, exp2, ...)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue the interrupted run --project/--name (or the newest one) from its "
                                     "weights/last.pt."),
    trust_weights: bool = typer.Option(False, "--trust-weights",
                                       help="Load weights with full pickle (only for files you trust)."),
    choose_conf: bool = typer.Option(True, "--operating-point/--no-operating-point",
                                     help="After training, choose the confidence tqgd detect keeps boxes at on the "
                                          "dataset's validation patients and record it in best.pt (as tqgd "
                                          "operating-point does; needs a tqgd convert orcascore dataset whose scans "
                                          "are still where it was converted from)."),
    options: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                        help="Any other ultralytics train option, e.g. lr0=0.02 patience=50."),
) -> None:
    """Train a calcium detector with the paper's recipe (SGD, lr 0.01 -> 0.0001, 200 epochs, batch 4, ...).

    Prints the recipe, shows progress, and writes the run folder: weights/best.pt and last.pt, results.csv, plots,
    args.yaml, tqgd_run.json (recipe and versions) and convert.json (the dataset's preprocessing, also kept inside
    the weights for tqgd detect). Then chooses detect's confidence on the validation patients and records it in
    best.pt (weights/best_operating_point.json holds the sweep; --no-operating-point skips it).

    Example: tqgd train --data datasets/orca/orcascore.yaml --model tqgdnet-n --epochs 200 --device 0 lr0=0.01
    """
    from rich.console import Console

    from tqgd.cli.train_progress import TrainingProgress
    from tqgd.engine.recipe import parse_option_words
    from tqgd.engine.train import describe_recipe, find_resume_checkpoint, is_multi_gpu
    from tqgd.engine.train import train as run_training

    console = Console()
    extra = parse_option_words(options or [])
    named = {"epochs": epochs, "imgsz": imgsz, "batch": batch, "device": device, "project": project, "name": name}
    if resume:
        console.print(f"resuming {find_resume_checkpoint(True, project, name)} with its own recipe")
    else:
        if data is None:
            raise typer.BadParameter("--data is required unless --resume is given", param_hint="--data")
        print_recipe(console, describe_recipe(data, model, options=extra, **named))
    if is_multi_gpu(device):
        console.print(f"training on GPUs {device} with DDP; ultralytics prints the workers' progress")
        result = run_training(data, model, resume=resume, options=extra, trust=trust_weights or None, **named)
    else:
        with TrainingProgress(console) as progress:
            result = run_training(data, model, resume=resume, options=extra, callbacks=progress.callbacks(),
                                  trust=trust_weights or None, **named)
    summary = ", ".join(f"{key.split('/')[-1]} {value:.4f}" for key, value in result.metrics.items())
    console.print(f"run folder: {result.save_dir}")
    console.print(f"best weights: {result.best}")
    if summary:
        console.print(f"final validation: {summary}")
    if choose_conf:
        record_detect_conf(console, result, device)


def record_detect_conf(console, result, device: str | None) -> None:
    """Choose detect's confidence for the run's best.pt; a dataset that cannot be swept is said, not an error (the
    training itself succeeded)."""
    from rich.markup import escape

    from tqgd.cli.operating_point import choose_and_record
    from tqgd.errors import TQGDError

    data = Path(str(result.args.get("data")))
    sweep_device = str(device).split(",")[0] if device else "cpu"
    try:
        choose_and_record(console, result.best, data, result.best, None, sweep_device)
    except TQGDError as exc:
        console.print(f"[yellow]no operating point recorded:[/yellow] {escape(str(exc))}; tqgd detect keeps boxes "
                      "from 0.25 unless --conf is given")


def register(app: typer.Typer) -> None:
    """Attach ``tqgd train``."""
    app.command("train", context_settings={"allow_extra_args": False})(train)
