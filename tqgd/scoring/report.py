"""Human-readable forms of a ``ScoreReport``: a terminal table (rich) and a one-page PNG report (Pillow).

The PNG holds the total Agatston, volume and mass, the risk category, per-artery scores, the conventions used and
thumbnails of the largest lesions (the slice where each is largest, lesion outlined). No patient identifiers are
shown: only the scan ID and file format from ``ScanMetadata.public_dict()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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


def _rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b)."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _font(size: int, bold: bool = False, mono: bool = False):
    """A DejaVu TrueType font of ``size`` px from matplotlib's data files (found without importing matplotlib), else
    Pillow's built-in scalable font."""
    import importlib.util

    from PIL import ImageFont

    name = f"DejaVuSans{'Mono' if mono else ''}{'-Bold' if bold else ''}.ttf"
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The ``width``-px inner rim of a bool mask (H, W): mask pixels within ``width`` of a pixel outside it."""
    inner = mask.copy()
    for _ in range(width):
        padded = np.pad(inner, 1)
        inner = inner & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def thumbnail(volume: CTVolume, report: ScoreReport, lesion: Lesion, side_px: int) -> np.ndarray:
    """RGB uint8 (h, w, 3), h, w <= ``side_px``: the lesion's largest slice cut to THUMBNAIL_FIELD_MM, windowed for
    calcium, enlarged by whole pixels (nearest) and the lesion outlined in its artery colour."""
    best = max(lesion.slices, key=lambda s: s.area_mm2)
    z = best.slice_index
    half_y = max(4, int(round(THUMBNAIL_FIELD_MM / 2 / volume.spacing_mm[1])))
    half_x = max(4, int(round(THUMBNAIL_FIELD_MM / 2 / volume.spacing_mm[2])))
    cy, cx = (int(round(v)) for v in best.centroid_yx)
    rows = slice(max(cy - half_y, 0), min(cy + half_y, volume.shape[1]))
    cols = slice(max(cx - half_x, 0), min(cx + half_x, volume.shape[2]))
    low, high = THUMBNAIL_WINDOW_HU
    grey = np.clip((volume.hu[z, rows, cols] - low) / (high - low) * 255.0, 0, 255).astype(np.uint8)
    scale = max(1, side_px // max(grey.shape))
    grey = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    mask = report.lesion_map[z, rows, cols] == lesion.lesion_id
    mask = np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)
    picture = np.repeat(grey[..., None], 3, axis=2)
    picture[_outline(mask, max(1, scale // 3))] = _rgb(ARTERY_COLOURS.get(lesion.artery, ARTERY_COLOURS[None]))
    return picture


def _draw_bars(draw, per_artery: dict[str, dict[str, Any]], box: tuple[int, int, int, int]) -> None:
    """Per-artery Agatston bars inside ``box`` (x0, y0, x1, y1), each labelled with its value and artery."""
    x0, y0, x1, y1 = box
    small, label = _font(12), _font(13)
    draw.text(((x0 + x1) / 2, y0), "Per artery (Agatston)", fill="black", font=_font(14), anchor="mt")
    top, base = y0 + 40, y1 - 24
    draw.line([(x0, base), (x1, base)], fill="black", width=1)
    values = [float(totals["agatston"]) for totals in per_artery.values()]
    peak = max(max(values), 1e-9)
    slot = (x1 - x0) / len(values)
    for i, (name, value) in enumerate(zip(per_artery, values, strict=True)):
        left, right = x0 + slot * (i + 0.2), x0 + slot * (i + 0.8)
        height = (base - top) * value / peak
        if height >= 1:
            draw.rectangle([left, base - height, right, base], fill=_rgb(ARTERY_COLOURS[name]))
        centre = (left + right) / 2
        draw.text((centre, base - height - 3), f"{value:,.1f}", fill="black", font=small, anchor="mb")
        draw.text((centre, base + 5), name, fill="black", font=label, anchor="mt")


def write_report_png(report: ScoreReport, volume: CTVolume, path: str | Path) -> Path:
    """Write the one-page PNG report (1100 x 850 px, drawn with Pillow) to ``path`` atomically; return the path."""
    from PIL import Image, ImageDraw

    from tqgd.io import atomic_path

    page = Image.new("RGB", (1100, 850), "white")
    draw = ImageDraw.Draw(page)
    scan = report.scan.get("scan_id") or Path(str(report.scan.get("source", ""))).name
    draw.text((550, 24), f"Coronary artery calcium: {scan}  ({report.scan.get('format')})", fill="black",
              font=_font(19, bold=True), anchor="mt")
    lines = [f"Agatston score: {report.agatston:,.1f}", f"Risk category: {report.risk.label}",
             f"    scheme: {report.options.risk_scheme}", f"Volume: {report.volume_mm3:,.1f} mm\u00b3",
             f"Mass: {_fmt(report.mass_mg, 2)} mg" if report.mass_mg is not None else "Mass: - (no calibration factor)",
             f"Lesions: {len(report.lesions)}"]
    draw.multiline_text((55, 80), "\n".join(lines), fill="black", font=_font(17, mono=True), spacing=8)
    c = report.conventions
    conventions = [f"threshold {c.threshold_hu:g} HU ({c.threshold_source})",
                   f"slice factor {c.slice_factor:.3g} ({c.slice_factor_source})",
                   f"{report.options.connectivity_2d}-connected, min area {report.options.min_lesion_area_mm2:g} mm\u00b2",
                   f"input: {report.input.get('kind')} ({report.input.get('labels')})"]
    draw.multiline_text((55, 330), "\n".join(conventions), fill=(68, 68, 68), font=_font(11), spacing=4)
    per_artery = report.per_artery()
    if per_artery:
        _draw_bars(draw, per_artery, (600, 80, 1060, 400))
    else:
        draw.multiline_text((830, 240), "no artery labels:\nper-artery scores not available", fill="black",
                            font=_font(14), anchor="mm", align="center")
    chosen = largest_lesions(report)
    panel, gap = 227, 35
    for i, lesion in enumerate(chosen):
        left = 55 + i * (panel + gap)
        best = max(lesion.slices, key=lambda s: s.area_mm2)
        caption = (f"#{lesion.lesion_id} {lesion.artery or 'calcium'}, slice {best.slice_index}\n"
                   f"Agatston {lesion.agatston:.1f}\n{lesion.volume_mm3:.1f} mm\u00b3, peak {lesion.peak_hu:.0f} HU")
        draw.multiline_text((left + panel / 2, 478), caption, fill="black", font=_font(12), anchor="ma",
                            align="center", spacing=3)
        picture = Image.fromarray(thumbnail(volume, report, lesion, panel))
        if max(picture.size) != panel:
            factor = panel / max(picture.size)
            picture = picture.resize((round(picture.width * factor), round(picture.height * factor)),
                                     Image.Resampling.NEAREST)
        page.paste(picture, (left + (panel - picture.width) // 2, 530))
    if not chosen:
        draw.text((550, 640), "no calcium found", fill="black", font=_font(19), anchor="mm")
    path = Path(path)
    with atomic_path(path) as tmp:
        page.save(tmp, format="PNG")
    return path
