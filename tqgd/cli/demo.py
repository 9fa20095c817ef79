"""``tqgd demo``: the whole pipeline on a synthetic phantom, on CPU, in minutes (settings: ``DemoSettings``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("tqgd-demo"), "--out", "-o", file_okay=False,
                             help="Output folder (new, empty, or an earlier demo's, which is replaced)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny version (3 small patients, 1-2 epochs): checks that "
                                                      "every step runs, in about a minute."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="TQGDNet-n epochs (default 30; quick 1)."),
    patients: int = typer.Option(None, "--patients", min=3, help="Phantom training patients (default 10)."),
    seed: int = typer.Option(None, "--seed", min=0,
                             help="Seed of the phantom patients, the held-out test patient and training (default 0)."),
    device: str = typer.Option(None, "--device", help="cpu (default) or a GPU such as 0."),
) -> None:
    """Run the end-to-end demo on a synthetic phantom: generate, convert, train, validate, detect, score.

    Generates phantom patients, trains a heart detector, converts the phantom to heart-cropped calcium boxes, trains
    TQGDNet-n for a short CPU schedule, validates it, then detects and scores calcium on a held-out phantom DICOM
    series and prints where the results and pictures are. The weights are phantom-trained, not clinical.

    Example: tqgd demo --out tqgd-demo
    """
    from rich.console import Console
    from rich.panel import Panel

    from tqgd.cli.train_progress import TrainingProgress
    from tqgd.engine.demo import PHANTOM_WARNING, DemoHooks, DemoSettings, run_demo, with_overrides

    console = Console()
    settings = with_overrides(DemoSettings.quick() if quick else DemoSettings(), epochs=epochs, patients=patients,
                              device=device, seed=seed)
    steps = iter(range(1, 8))

    def step(title: str) -> None:
        console.rule(f"[bold]step {next(steps)}/7: {title}")

    @contextlib.contextmanager
    def training(label: str) -> Iterator[dict]:
        with TrainingProgress(console, label) as progress:
            yield progress.callbacks()

    result = run_demo(out, settings, DemoHooks(step=step, training=training))
    _print_result(console, result)
    console.print(Panel(PHANTOM_WARNING, style="bold red", title="phantom weights"))


def _print_result(console, result) -> None:
    from rich.table import Table

    out = result.out
    ultra = result.val_metrics.get("ultralytics", {})
    coco = result.val_metrics.get("pycocotools", {})
    table = Table(title="tqgd demo", show_header=False)
    table.add_row("wall time", f"{result.total_seconds:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in
                                                                              result.seconds.items()) + ")")
    table.add_row("validation mAP50", f"{ultra.get('map50', float('nan')):.3f} (ultralytics), "
                                      f"{coco.get('map50', float('nan')):.3f} (pycocotools)")
    table.add_row("test patient Agatston", f"detected {_num(result.detected_agatston)} ({result.detected_risk}), "
                                           f"reference {_num(result.true_agatston)} ({result.true_risk})")
    if result.shipped_agatston is not None:
        table.add_row("shipped weights", f"detected {_num(result.shipped_agatston)} ({result.shipped_risk}) with the "
                                         f"phantom weights shipped with tqgd: {out / 'detect_shipped'}")
    point = result.operating_point
    chosen = (f" (validation patients' best lesion F1, {point['f1']:.2f})"
              if point is not None and point["conf"] == result.detect_conf else "")
    table.add_row("detections", f"{result.detections} boxes at confidence >= {result.detect_conf:.3g}{chosen}: "
                                f"{out / 'detect' / 'detections.json'}")
    table.add_row("pictures", f"{out / 'detect' / 'overlays'}, {out / 'detect' / 'report.png'}")
    table.add_row("training runs", f"{out / 'runs'} (heart, calcium, val)")
    table.add_row("weights", f"{out / 'weights'} (phantom-trained; use them with tqgd detect --weights)")
    table.add_row("record", str(out / "demo.json"))
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def register(app: typer.Typer) -> None:
    """Attach ``tqgd demo``."""
    app.command("demo")(demo)
