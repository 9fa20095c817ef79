"""``tqgd val``: ultralytics' detection metrics, the same recomputed with pycocotools, and recall/AP per lesion size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_metrics(console, metrics: dict[str, Any]) -> None:
    """Two tables: ultralytics vs pycocotools (with the difference), and the size buckets."""
    from rich.table import Table

    table = Table(title=f"{metrics['split']} metrics at confidence {_number(metrics['operating_conf'])}")
    for column in ("metric", "ultralytics", "pycocotools", "difference"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for key in metrics["ultralytics"]:
        table.add_row(key, _number(metrics["ultralytics"][key]), _number(metrics["pycocotools"][key]),
                      f"{metrics['difference'][key]:+.4f}")
    console.print(table)
    buckets = Table(title="by lesion size (ground-truth box area, px)")
    for column in ("size", "boxes", "recall@0.5", "AP50", "AP50-95"):
        buckets.add_column(column, justify="right" if column != "size" else "left")
    for bucket in metrics["size_buckets"]:
        buckets.add_row(bucket["name"], str(bucket["n_gt"]), _number(bucket["recall"]), _number(bucket["ap50"]),
                        _number(bucket["ap50_95"]))
    console.print(buckets)


def val(
    weights: Path = typer.Option(..., "--weights", exists=True, dir_okay=False, readable=True,
                                 help="Trained weights (best.pt / last.pt)."),
    data: Path = typer.Option(None, "--data", exists=True, dir_okay=False, readable=True,
                              help="Dataset YAML (default: the one the weights were trained on)."),
    split: str = typer.Option("val", "--split", help="Split of the data YAML to evaluate: val or test."),
    imgsz: int = typer.Option(None, "--imgsz", min=32, help="Image size in px (default: the training size)."),
    batch: int = typer.Option(None, "--batch", min=1, help="Batch size."),
    device: str = typer.Option(None, "--device", help="cpu or a GPU index."),
    project: Path = typer.Option(None, "--project", help="Folder holding validation runs (default ./runs/val)."),
    name: str = typer.Option(None, "--name", help="Run folder name (default exp, exp2, ...)."),
    trust_weights: bool = typer.Option(False, "--trust-weights",
                                       help="Load weights with full pickle (only for files you trust)."),
    options: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                        help="Other ultralytics validation options, e.g. iou=0.6 max_det=100."),
) -> None:
    """Validate weights: P, R, F1, mAP50, mAP50-95 from ultralytics and from pycocotools, and per-size buckets.

    Writes predictions.json (COCO results), PR/F1/P/R curves, the confusion matrix and metrics.json.

    Example: tqgd val --weights runs/train/exp/weights/best.pt --data datasets/orca/orcascore.yaml
    """
    from rich.console import Console

    from tqgd.cli.train_progress import TrainingProgress
    from tqgd.engine.recipe import parse_option_words
    from tqgd.engine.val import VAL_NAMED_KEYS, validate

    console = Console()
    extra = parse_option_words(options or [], VAL_NAMED_KEYS)
    with TrainingProgress(console) as progress:
        result = validate(weights, data, imgsz=imgsz, batch=batch, device=device, split=split, project=project,
                          name=name, options=extra, callbacks=progress.val_callbacks(), trust=trust_weights or None)
    print_metrics(console, result.metrics)
    console.print(f"metrics.json and plots: {result.save_dir}")


def register(app: typer.Typer) -> None:
    """Attach ``tqgd val``."""
    app.command("val")(val)
