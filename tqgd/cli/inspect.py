"""``tqgd inspect SCAN``: what tqgd reads from a scan (size, spacing, HU range, kVp, thickness vs spacing, series).

Patient identifiers and the scan's path (folders are often named after the patient) stay hidden unless
``--show-identifiers`` (or ``--include-identifiers``) is given, in the table and in ``--json`` alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

Scan = Annotated[Path, typer.Argument(exists=True, help="CT scan: DICOM folder or file, .mhd, .mha, .nii(.gz), "
                                                        "or a 2D .png/.jpg slice.")]
SeriesUid = Annotated[Optional[str], typer.Option("--series-uid", help="SeriesInstanceUID to read when a DICOM folder "
                                                                       "holds several series.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
ShowIdentifiers = Annotated[bool, typer.Option("--show-identifiers", "--include-identifiers",
                                               help="Also print patient name, ID, birth date and the scan's path "
                                                    "(hidden by default).")]


def scan_summary(volume: Any, include_identifiers: bool) -> dict[str, Any]:
    """JSON-ready description of a ``CTVolume``: geometry, HU range and public metadata."""
    hu = volume.hu
    return {
        "shape_zyx": list(volume.shape),
        "spacing_mm_zyx": list(volume.spacing_mm),
        "origin_mm_xyz": list(volume.origin_mm),
        "direction": volume.direction.tolist(),
        "hu_min": float(hu.min()),
        "hu_max": float(hu.max()),
        "metadata": volume.meta.public_dict(include_identifiers=include_identifiers),
        "extra": volume.meta.extra,
    }


def _mm(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} mm"


def _table(summary: dict[str, Any], title: str) -> Any:
    from rich.table import Table

    meta, extra = summary["metadata"], summary["extra"]
    table = Table(title=title, show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")  # UIDs are printed whole: users copy them into --series-uid
    table.add_row("format", meta["format"])
    table.add_row("shape (z, y, x)", " x ".join(str(n) for n in summary["shape_zyx"]))
    table.add_row("voxel spacing (z, y, x)", ", ".join(f"{s:g}" for s in summary["spacing_mm_zyx"]) + " mm")
    table.add_row("origin (x, y, z)", ", ".join(f"{o:g}" for o in summary["origin_mm_xyz"]) + " mm")
    unit = "HU" if meta["has_hu"] else "grey values, not HU"
    table.add_row("value range", f"{summary['hu_min']:g} .. {summary['hu_max']:g} {unit}")
    table.add_row("kVp", "unknown" if meta["kvp"] is None else f"{meta['kvp']:g}")
    table.add_row("slice thickness / spacing", f"{_mm(meta['slice_thickness_mm'])} / {_mm(meta['slice_spacing_mm'])}")
    table.add_row("series UID", meta["series_uid"] or "-")
    if "transfer_syntax" in extra:
        table.add_row("transfer syntax", ", ".join(extra["transfer_syntax"]))
    if "irregular_slice_spacing" in extra:
        gaps = extra["irregular_slice_spacing"]
        table.add_row("irregular slice gaps", f"{gaps['min_gap_mm']:g} to {gaps['max_gap_mm']:g} mm "
                                              f"(median {gaps['median_gap_mm']:g} mm); per-slice positions kept")
    if "skipped_files" in extra:
        table.add_row("skipped files", f"{extra['skipped_files']} ({extra['skipped_reasons']})")
    for key in ("note", "note_rescale"):
        if key in extra:
            table.add_row("note", str(extra[key]))
    for key, value in meta.get("patient", {}).items():
        table.add_row(key, value)
    return table


def inspect(scan: Scan, series_uid: SeriesUid = None, as_json: AsJson = False,
            show_identifiers: ShowIdentifiers = False) -> None:
    """Print a scan's shape, spacing, HU range, kVp, slice thickness vs spacing and series UID.

    Example: tqgd inspect scans/patient01 --json
    """
    import json

    from rich.console import Console

    from tqgd.data.readers import read_ct

    with Console(stderr=True).status(f"Reading {scan} ..."):
        volume = read_ct(scan, series_uid=series_uid)
    summary = scan_summary(volume, include_identifiers=show_identifiers)
    label = str(scan) if show_identifiers else f"scan {volume.meta.scan_id}"  # a path may name the patient
    if as_json:
        typer.echo(json.dumps({"scan": label, **summary}, indent=2,
                              default=lambda value: value.tolist() if hasattr(value, "tolist") else str(value)))
    else:
        Console().print(_table(summary, title=label))


def register(app: typer.Typer) -> None:
    """Attach ``tqgd inspect``."""
    app.command("inspect")(inspect)
