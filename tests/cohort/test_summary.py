"""The cohort table's files and the summary's counts, on hand-made rows (no Ray, no model)."""

from __future__ import annotations

import csv

import pyarrow.parquet as pq

from tqgd.cohort.summary import (
    agatston_bins,
    failure_causes,
    report_markdown,
    risk_counts,
    write_summary,
)
from tqgd.cohort.table import write_table
from tqgd.cohort.worker import ARTERIES


def _row(key: str, agatston: float | None, risk: int | None = None, cause: str | None = None) -> dict:
    labels = ["0 (no calcium)", "1-10 (minimal)", "11-100 (mild)", "101-400 (moderate)", ">400 (extensive)"]
    row = {"key": key, "scan_id": key.upper(), "series_uid": None, "status": "failed" if cause else "ok",
           "cause": cause, "error": f"{cause}: details" if cause else None, "agatston": agatston,
           "volume_mm3": None if agatston is None else agatston / 2, "risk_category": labels[risk] if risk is not None
           else None, "risk_category_index": risk, "lesion_count": 1 if agatston else 0, "detections": 2,
           "seconds": 1.5, "worker": "w0.0@h:1", "attempts": 1, "output": None if cause else f"scans/{key}"}
    row.update({f"agatston_{a}": None for a in ARTERIES} | {f"volume_mm3_{a}": None for a in ARTERIES})
    return row


ROWS = [_row("a", 0.0, 0), _row("b", 0.4, 1), _row("c", 10.0, 1), _row("d", 10.5, 2), _row("e", 250.0, 3),
        _row("f", 12000.0, 4), _row("g", None, cause="ScanReadError"), _row("h", None, cause="ScanReadError"),
        _row("i", None, cause="worker died")]


def test_counts_per_risk_category_bin_and_cause() -> None:
    assert [n for _, n in risk_counts(ROWS)] == [1, 2, 1, 1, 1]
    assert agatston_bins(ROWS) == [("0", 1), ("(0, 10]", 2), ("(10, 100]", 1), ("(100, 1000]", 1),
                                   ("(1000, 10000]", 0), (">10000", 1)]
    assert failure_causes(ROWS) == [("ScanReadError", 2), ("worker died", 1)]
    text = report_markdown(ROWS, {"processed": 9, "seconds": 3.0, "skipped": 0, "retries": 1,
                                  "ray_start_seconds": 1.0, "workers": ["w0.0@h:1"]}, {})
    assert "9 scans: 6 scored, 3 failed" in text and "(3.000 scans/s)" in text and "| worker died | 1 |" in text


def test_parquet_and_csv_hold_the_same_rows(tmp_path) -> None:
    paths = write_table(ROWS, tmp_path)
    table = pq.read_table(paths["parquet"])
    assert str(table.schema.field("agatston").type) == "double"
    assert str(table.schema.field("lesion_count").type) == "int64"
    assert "source" not in table.column_names
    assert table.to_pylist() == [{name: r.get(name) for name in table.column_names} for r in ROWS]
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == table.column_names
    assert [r["agatston"] for r in rows] == ["0.0", "0.4", "10.0", "10.5", "250.0", "12000.0", "", "", ""]
    written = write_summary(ROWS, tmp_path, {}, {})
    assert written["summary_png"].read_bytes()[:4] == b"\x89PNG"
