"""``tqgd operating-point``: choose the confidence ``tqgd detect`` keeps boxes at, on validation patients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def print_sweep(console, record: dict[str, Any]) -> None:
    """The sweep as a table (one row per candidate confidence), the chosen one marked."""
    from rich.table import Table

    table = Table(title=f"tqgd detect --no-rescue on {len(record['patients'])} validation patient(s) of fold "
                        f"{record['fold']} (lesions by OrCaScore's rules)")
    for column in ("confidence", "sensitivity", "PPV", "F1", "predicted lesions", ""):
        table.add_column(column, justify="right")
    for point in record["sweep"]:
        chosen = "chosen" if point["conf"] == record["conf"] else ""
        table.add_row(f"{point['conf']:g}", f"{point['sensitivity']:.3f}", f"{point['ppv']:.3f}",
                      f"{point['f1']:.3f}", str(point["predicted_lesions"]), chosen)
    console.print(table)


def choose_and_record(console, weights: Path, data: Path, out: Path, heart_weights: Path | None,
                      device: str | None) -> dict[str, Any] | None:
    """Sweep, print, write ``out``; say so when no confidence finds a validation lesion (nothing written)."""
    from tqgd.engine.operating_point import record_operating_point

    with console.status(f"sweeping detect's confidence for {weights.name} on the validation patients"):
        record = record_operating_point(weights, data, out, heart_weights, device or "cpu")
    if record is None:
        console.print("no confidence found a lesion on the validation patients (or they hold none): nothing "
                      "recorded; tqgd detect keeps boxes from 0.25 unless --conf is given")
        return None
    print_sweep(console, record)
    console.print(f"operating confidence {record['conf']:g} (lesion F1 {record['f1']:.3f}, {record['crop']}) "
                  f"recorded in {out}; "
                  f"tqgd detect uses it unless --conf is given. Sweep: "
                  f"{out.with_name(out.stem + '_operating_point.json')}")
    return record


def operating_point(
    weights: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                   help="Calcium detector weights (best.pt / last.pt of tqgd train)."),
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, readable=True,
                              help="The dataset YAML the weights were trained on (tqgd convert orcascore's "
                                   "orcascore.yaml or fold<k>.yaml): its validation patients are swept."),
    out: Path = typer.Option(None, "--out", "-o", dir_okay=False,
                             help="Weights to write with the chosen confidence (default: WEIGHTS' name with "
                                  "_op, beside it). WEIGHTS itself is never changed."),
    heart_weights: Path = typer.Option(None, "--heart-weights", exists=True, dir_okay=False,
                                       help="Heart detector weights, as you would give tqgd detect. Default: the ones "
                                            "recorded in WEIGHTS when they were trained on heart crops."),
    device: str = typer.Option(None, "--device", help="cpu, 0, ... (default cpu)."),
) -> None:
    """Choose the confidence tqgd detect keeps boxes at, on the validation patients, and record it in the weights.

    Runs tqgd detect's own path (heart crop, physics filter, lesion verifier, completion; not the rescue, which
    detect adds on top) on the dataset's validation scans at each candidate confidence (0.002-0.4), scores the
    lesions against the reference masks by OrCaScore's rules and records the confidence with the best lesion F1. A
    short schedule leaves true deposits below ultralytics' usual 0.25; this finds where the detector actually works.
    Test patients are never used.

    Example: tqgd operating-point runs/train/exp/weights/best.pt --data datasets/orca/orcascore.yaml
    """
    from rich.console import Console

    from tqgd.errors import OutputError

    out = out or weights.with_name(f"{weights.stem}_op.pt")
    if out.resolve() == weights.resolve():
        raise OutputError("is the input weights; choose another --out (the input is never overwritten)", out)
    choose_and_record(Console(), weights, data, out, heart_weights, device)


def register(app: typer.Typer) -> None:
    """Attach ``tqgd operating-point``."""
    app.command("operating-point")(operating_point)
