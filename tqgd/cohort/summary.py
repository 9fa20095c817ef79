"""A cohort at a glance: ``OUT/summary.png`` (risk categories, Agatston histogram, failures by cause) and
``OUT/report.md`` (counts, the same three tables, throughput of the run, weights and options).

Scored with ``tqgd detect``'s scoring conventions, so risk categories are the five-class scheme
(0 / 1-10 / 11-100 / 101-400 / >400). The histogram bins Agatston scores at 0 and in decades above (1-10, 10-100,
...), the usual spread of a screening cohort.
"""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from tqgd.io import write_text

#: Upper edges of the Agatston histogram's bins above 0 (decades).
AGATSTON_DECADES = (10, 100, 1000, 10000)
RISK_SCHEME = "five-class"


def risk_counts(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(category label, scans) for every category of the scheme, lowest first (scored scans only)."""
    from tqgd.scoring.risk import categories

    found = Counter(r["risk_category_index"] for r in rows if r["status"] == "ok" and r["agatston"] is not None)
    return [(c.label, found.get(c.index, 0)) for c in categories(RISK_SCHEME)]


def agatston_bins(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(bin label, scans): exactly 0, then (0, 10], (10, 100], ... and above the last decade."""
    scores = [r["agatston"] for r in rows if r["status"] == "ok" and r["agatston"] is not None]
    edges = (0, *AGATSTON_DECADES)
    bins = [("0", sum(s == 0 for s in scores))]
    bins += [(f"({lo:g}, {hi:g}]", sum(lo < s <= hi for s in scores)) for lo, hi in pairwise(edges)]
    bins.append((f">{edges[-1]:g}", sum(s > edges[-1] for s in scores)))
    return bins


def failure_causes(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(cause, scans) of failed scans, most frequent first."""
    return Counter(r["cause"] or "unknown" for r in rows if r["status"] != "ok").most_common()


def write_summary(rows: list[dict[str, Any]], out: Path, run: dict[str, Any], options: dict[str, Any]
                  ) -> dict[str, Path]:
    """Write ``summary.png`` and ``report.md`` into ``out``; returns their paths."""
    png = _write_png(rows, out / "summary.png")
    report = write_text(out / "report.md", report_markdown(rows, run, options))
    return {"summary_png": png, "report": report}


def _write_png(rows: list[dict[str, Any]], path: Path) -> Path:
    from tqgd.scoring.plots import _pyplot, _save_png

    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    panels = ((risk_counts(rows), "risk category (scored scans)", "tab:blue"),
              (agatston_bins(rows), "Agatston score (scored scans)", "tab:green"),
              (failure_causes(rows) or [("none", 0)], "failures by cause", "tab:red"))
    for ax, (pairs, title, colour) in zip(axes, panels, strict=True):
        labels, counts = [p[0] for p in pairs], [p[1] for p in pairs]
        bars = ax.bar(range(len(pairs)), counts, color=colour)
        ax.bar_label(bars)
        ax.set_xticks(range(len(pairs)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
        ax.set_ylabel("scans")
    ok = sum(r["status"] == "ok" for r in rows)
    fig.suptitle(f"cohort: {len(rows)} scans, {ok} scored, {len(rows) - ok} failed")
    return _save_png(fig, path)


def _table(header: tuple[str, str], pairs: list[tuple[str, int]]) -> list[str]:
    return [f"| {header[0]} | {header[1]} |", "| --- | ---: |", *(f"| {a} | {b} |" for a, b in pairs)]


def report_markdown(rows: list[dict[str, Any]], run: dict[str, Any], options: dict[str, Any]) -> str:
    """The Markdown report: counts, risk categories, Agatston bins, failures by cause, this run's throughput."""
    ok = [r for r in rows if r["status"] == "ok"]
    seconds = [r["seconds"] for r in ok if r.get("seconds") is not None]
    processed = run.get("processed", 0)
    lines = ["# Cohort report", "",
             (f"{len(rows)} scans: {len(ok)} scored, {len(rows) - len(ok)} failed. Table: `cohort.parquet`, "
              "`cohort.csv`; per-scan outputs (`tqgd detect`'s files): `scans/<name>/`; figure: `summary.png`."), "",
             "## Risk categories", "", *_table(("category", "scans"), risk_counts(rows)), "",
             "## Agatston score", "", *_table(("Agatston", "scans"), agatston_bins(rows)), "",
             "## Failures by cause", ""]
    causes = failure_causes(rows)
    lines += [*_table(("cause", "scans"), causes), ""] if causes else ["none", ""]
    lines += ["## This run", "",
              (f"- scans processed now: {processed}, skipped as already done: {run.get('skipped', 0)}, "
               f"retried after a worker died: {run.get('retries', 0)}"),
              f"- wall time: {run.get('seconds', 0):.1f} s"
              + (f" ({processed / run['seconds']:.3f} scans/s)" if processed and run.get("seconds") else ""),
              f"- Ray start: {run['ray_start_seconds']:.1f} s" if run.get("ray_start_seconds") is not None
              else "- Ray not started (nothing to do)",
              f"- workers: {', '.join(run.get('workers') or []) or 'none'}"]
    if seconds:
        lines.append(f"- seconds per scored scan on a worker (all runs): median {statistics.median(seconds):.2f}, "
                     f"total {sum(seconds):.1f}")
    if run.get("ignored_files"):
        lines.append(f"- files in SOURCE that are not scans (ignored): {run['ignored_files']}")
    lines += ["", "## Weights and options", "",
              f"- weights: `{run.get('weights')}` (SHA-256 {run.get('weights_sha256')})",
              f"- heart weights: `{run.get('heart_weights')}` (SHA-256 {run.get('heart_weights_sha256')})",
              f"- detection options: {run.get('options') or options}",
              f"- fingerprint: {run.get('fingerprint')}", ""]
    return "\n".join(lines)
