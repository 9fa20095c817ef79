"""``tqgd cv``: patient-grouped k-fold training and validation, with a Table 4 style summary (Markdown and CSV)."""

from __future__ import annotations

from pathlib import Path

import typer

from tqgd.cli.train import MODEL_HELP


def cv(
    data_dir: Path = typer.Option(..., "--data-dir", exists=True, file_okay=False, readable=True,
                                  help="Output folder of 'tqgd convert orcascore' (fold YAMLs, manifest.csv)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Number of folds (the paper: 5)."),
    model: str = typer.Option("tqgdnet-n", "--model", help=MODEL_HELP),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs per fold (paper: 200)."),
    imgsz: int = typer.Option(None, "--imgsz", min=32, help="Image size in px (ultralytics default 640)."),
    batch: int = typer.Option(None, "--batch", min=1, help="Batch size (paper: 4)."),
    device: str = typer.Option(None, "--device", help="cpu, 0, or 0,1,... (several GPUs train with DDP)."),
    project: Path = typer.Option(None, "--project", help="Folder holding cross-validations (default ./runs/cv)."),
    name: str = typer.Option(None, "--name", help="Folder name inside --project (default exp, exp2, ...)."),
    seed: int = typer.Option(0, "--seed", help="Seed for re-splitting patients when --folds differs from the "
                                               "converter's."),
    choose_conf: bool = typer.Option(True, "--operating-point/--no-operating-point",
                                     help="After each fold, choose the confidence tqgd detect keeps boxes at on the "
                                          "fold's validation patients and record it in its best.pt (as tqgd train "
                                          "does; needs a tqgd convert orcascore dataset whose scans are still "
                                          "where it was converted from)."),
    trust_weights: bool = typer.Option(False, "--trust-weights",
                                       help="Load weights with full pickle (only for files you trust)."),
    options: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                        help="Any other ultralytics train option, e.g. lr0=0.02 workers=2."),
) -> None:
    """Cross-validate: train and validate one model per patient-grouped fold; table per fold, mean and std.

    Uses the converter's folds when --folds matches them, else re-splits patients from manifest.csv. Writes
    fold<i>/ (training runs), fold<i>_val/ (metrics.json, plots), cv.md, cv.csv and cv.json. Each fold's best.pt
    records detect's confidence, chosen on that fold's validation patients (table columns Detect conf, Lesion F1).

    Example: tqgd cv --data-dir datasets/orca --folds 5 --model tqgdnet-n --epochs 200 --device 0
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from tqgd.cli.train import print_recipe
    from tqgd.cli.train_progress import TrainingProgress
    from tqgd.engine.cv import cross_validate, table_rows
    from tqgd.engine.recipe import parse_option_words, recipe_table
    from tqgd.engine.train import is_multi_gpu, training_args

    console = Console()
    extra = parse_option_words(options or [])
    named = {"epochs": epochs, "imgsz": imgsz, "batch": batch, "device": device}
    print_recipe(console, recipe_table(training_args(data_dir, model, options=extra, **named)),
                 title=f"training recipe for each of {folds} folds")
    arguments = dict(folds=folds, model=model, project=project, name=name, seed=seed, options=extra,
                     trust=trust_weights or None, operating_point=choose_conf, **named)
    with TrainingProgress(console) as progress:
        callbacks = None if is_multi_gpu(device) else progress.callbacks()
        result = cross_validate(data_dir, callbacks=callbacks, progress=progress.fold, **arguments)
    rows = table_rows(result)
    table = Table(title=f"{folds}-fold cross-validation (ultralytics metrics)")
    for column in rows[0]:
        table.add_column(column)
    for row in rows[1:]:
        table.add_row(*row)
    console.print(table)
    skipped = {(f.operating_point or {}).get("skipped") for f in result.folds} - {None}
    for why in sorted(skipped):
        console.print(f"[yellow]no operating point recorded:[/yellow] {escape(why)}; tqgd detect keeps boxes from "
                      "0.25 unless --conf is given")
    console.print(f"tables: {result.table_md}, {result.table_csv}")


def register(app: typer.Typer) -> None:
    """Attach ``tqgd cv``."""
    app.command("cv")(cv)
