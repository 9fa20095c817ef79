"""Human-readable forms of a ``ScoreReport``: a terminal table (rich) and a one-page PNG report (matplotlib).

The PNG holds the total Agatston, volume and mass, the risk category, per-artery scores, the conventions used and
thumbnails of the largest lesions (the slice where each is largest, lesion outlined). No patient identifiers are
shown: only the scan ID and file format from ``ScanMetadata.public_dict()``.
"""

from __future__ import annotations

from pathlib import Path

from tqgd.data.volume import CTVolume
from tqgd.scoring.score import Lesion, ScoreReport

#: Display window for thumbnails (HU): calcium bright, soft tissue grey.
THUMBNAIL_WINDOW_HU = (-200.0, 800.0)
#: Side of the square thumbnail crop around a lesion, in mm.
THUMBNAIL_FIELD_MM = 30.0
#: How many of the largest lesions get a thumbnail.
MAX_THUMBNAILS = 4
#: Outline and bar colours per artery; ``undetermined`` is OrCaScore's label 4, None calcium of a binary mask.
ARTERY_COLOURS = {"LAD": "#e6194b", "LCX": "#3cb44b", "RCA": "#4363d8", "undetermined": "#911eb4", None: "#ffb000"}


def _fmt(value: float | None, digits: int = 1) -> str:
    """Number with thousands separators, or '-' when undefined."""
    return "-" if value is None else f"{value:,.{digits}f}"


def summary_table(report: ScoreReport):
    """A rich ``Table`` with totals, per-artery rows (when labelled), risk category and key conventions."""
    from rich.table import Table

    scan = report.scan.get("scan_id") or Path(str(report.scan.get("source", ""))).name
    table = Table(title=f"Calcium score: {scan}", show_lines=False)
    for column in ("", "Agatston", "Volume (mm^3)", "Mass (mg)", "Lesions"):
        table.add_column(column, justify="left" if not column else "right")
    for name, totals in (report.per_artery() or {}).items():
        table.add_row(name, _fmt(totals["agatston"]), _fmt(totals["volume_mm3"]), _fmt(totals["mass_mg"], 2),
                      str(totals["lesion_count"]))
    table.add_row("[bold]Total[/bold]", f"[bold]{_fmt(report.agatston)}[/bold]", _fmt(report.volume_mm3),
                  _fmt(report.mass_mg, 2), str(len(report.lesions)))
    c = report.conventions
    table.caption = (f"Risk category ({report.options.risk_scheme}): {report.risk.label}\n"
                     f"threshold {c.threshold_hu:g} HU ({c.threshold_source}); slice factor {c.slice_factor:.3g} "
                     f"({c.slice_factor_source}); {report.options.connectivity_2d}-connected; "
                     f"min area {report.options.min_lesion_area_mm2:g} mm^2")
    return table


def summary_text(report: ScoreReport) -> str:
    """The summary table rendered as plain text (for logs and ``tqgd detect`` output)."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=100, force_terminal=False, color_system=None).print(summary_table(report))
    return buffer.getvalue()


def largest_lesions(report: ScoreReport, count: int = MAX_THUMBNAILS) -> list[Lesion]:
    """The ``count`` lesions with the highest Agatston score (volume breaks ties)."""
    return sorted(report.lesions, key=lambda lesion: (-lesion.agatston, -lesion.volume_mm3))[:count]


def _draw_thumbnail(ax, volume: CTVolume, report: ScoreReport, lesion: Lesion) -> None:
    """Crop around the lesion on the slice where it is largest, window for calcium, outline it in its artery colour."""
    best = max(lesion.slices, key=lambda s: s.area_mm2)
    z = best.slice_index
    half_y = max(4, int(round(THUMBNAIL_FIELD_MM / 2 / volume.spacing_mm[1])))
    half_x = max(4, int(round(THUMBNAIL_FIELD_MM / 2 / volume.spacing_mm[2])))
    cy, cx = (int(round(v)) for v in best.centroid_yx)
    rows = slice(max(cy - half_y, 0), min(cy + half_y, volume.shape[1]))
    cols = slice(max(cx - half_x, 0), min(cx + half_x, volume.shape[2]))
    low, high = THUMBNAIL_WINDOW_HU
    ax.imshow(volume.hu[z, rows, cols], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    outline = (report.lesion_map[z, rows, cols] == lesion.lesion_id).astype(float)
    ax.contour(outline, levels=[0.5], colors=[ARTERY_COLOURS.get(lesion.artery, ARTERY_COLOURS[None])],
               linewidths=1.2)
    ax.set_title(f"#{lesion.lesion_id} {lesion.artery or 'calcium'}, slice {z}\n"
                 f"Agatston {lesion.agatston:.1f}\n{lesion.volume_mm3:.1f} mm$^3$, peak {lesion.peak_hu:.0f} HU",
                 fontsize=9)
    ax.set_axis_off()


def write_report_png(report: ScoreReport, volume: CTVolume, path: str | Path) -> Path:
    """Write the one-page PNG report to ``path`` atomically and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tqgd.io import atomic_path

    fig = plt.figure(figsize=(11, 8.5), dpi=100)
    grid = fig.add_gridspec(2, MAX_THUMBNAILS, height_ratios=[1.0, 1.3], hspace=0.3, wspace=0.15,
                            left=0.05, right=0.97, bottom=0.03, top=0.9)
    scan = report.scan.get("scan_id") or Path(str(report.scan.get("source", ""))).name
    fig.suptitle(f"Coronary artery calcium: {scan}  ({report.scan.get('format')})", fontsize=14, weight="bold")
    head = fig.add_subplot(grid[0, :2])
    head.set_axis_off()
    lines = [f"Agatston score: {report.agatston:,.1f}", f"Risk category: {report.risk.label}",
             f"    scheme: {report.options.risk_scheme}", f"Volume: {report.volume_mm3:,.1f} mm^3",
             f"Mass: {_fmt(report.mass_mg, 2)} mg" if report.mass_mg is not None else "Mass: - (no calibration factor)",
             f"Lesions: {len(report.lesions)}"]
    head.text(0.0, 1.0, "\n".join(lines), va="top", fontsize=13, family="monospace")
    c = report.conventions
    conventions = [f"threshold {c.threshold_hu:g} HU ({c.threshold_source})",
                   f"slice factor {c.slice_factor:.3g} ({c.slice_factor_source})",
                   f"{report.options.connectivity_2d}-connected, min area {report.options.min_lesion_area_mm2:g} mm^2",
                   f"input: {report.input.get('kind')} ({report.input.get('labels')})"]
    head.text(0.0, 0.12, "\n".join(conventions), va="top", fontsize=8, color="#444444")
    bars = fig.add_subplot(grid[0, 2:])
    per_artery = report.per_artery()
    if per_artery:
        names = list(per_artery)
        values = [per_artery[n]["agatston"] for n in names]
        bars.bar(names, values, color=[ARTERY_COLOURS[n] for n in names])
        for x, v in enumerate(values):
            bars.text(x, v, f"{v:.1f}", ha="center", va="bottom", fontsize=9)
        bars.set_ylabel("Agatston")
        bars.set_title("Per artery", fontsize=10)
    else:
        bars.set_axis_off()
        bars.text(0.5, 0.5, "no artery labels:\nper-artery scores not available", ha="center", va="center")
    chosen = largest_lesions(report)
    for i in range(MAX_THUMBNAILS):
        ax = fig.add_subplot(grid[1, i])
        if i < len(chosen):
            _draw_thumbnail(ax, volume, report, chosen[i])
        else:
            ax.set_axis_off()
    if not chosen:
        fig.text(0.5, 0.25, "no calcium found", ha="center", fontsize=14)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
