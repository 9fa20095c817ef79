"""The cohort table: one row per scan, written as Parquet (pyarrow, typed columns) and CSV (same columns, same order).

Columns (``COLUMNS``): ``key`` (the scan's stable ID, ``tqgd.cohort.sources``), ``source`` (only with
``--include-identifiers``: paths can carry patient names), ``scan_id`` and ``series_uid`` (as ``tqgd detect`` records
them), ``status`` ("ok" or "failed"), ``cause`` and ``error`` (why a scan failed), ``agatston``, ``volume_mm3``,
per-artery ``agatston_<A>`` / ``volume_mm3_<A>`` (LAD, LCX, RCA, undetermined; empty unless the detector names
arteries), ``risk_category`` (label) and ``risk_category_index``, ``lesion_count``, ``detections`` (boxes),
``seconds`` (read, detect, score and write, on the worker), ``worker`` (name@host:pid), ``attempts``, and
``output`` (the scan's folder under OUT).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tqgd.cohort.worker import ARTERIES
from tqgd.io import atomic_path, write_text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "string"), ("source", "string"), ("scan_id", "string"), ("series_uid", "string"), ("status", "string"),
    ("cause", "string"), ("error", "string"), ("agatston", "float64"), ("volume_mm3", "float64"),
    *((f"agatston_{a}", "float64") for a in ARTERIES), *((f"volume_mm3_{a}", "float64") for a in ARTERIES),
    ("risk_category", "string"), ("risk_category_index", "int64"), ("lesion_count", "int64"),
    ("detections", "int64"), ("seconds", "float64"), ("worker", "string"), ("attempts", "int64"),
    ("output", "string"),
)
TABLE_NAME = "cohort"


def columns(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``COLUMNS`` present in these rows (``source`` only when the rows carry it)."""
    with_source = any("source" in r for r in rows)
    return [(name, kind) for name, kind in COLUMNS if name != "source" or with_source]


def write_table(rows: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    """``OUT/cohort.parquet`` and ``OUT/cohort.csv``, each written atomically; returns their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = columns(rows)
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in cols])
    table = pa.table({name: [r.get(name) for r in rows] for name, _ in cols}, schema=schema)
    parquet = out / f"{TABLE_NAME}.parquet"
    with atomic_path(parquet) as tmp:
        pq.write_table(table, tmp)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _ in cols])
    for r in rows:
        writer.writerow(["" if r.get(name) is None else r.get(name) for name, _ in cols])
    csv_path = write_text(out / f"{TABLE_NAME}.csv", buffer.getvalue())
    return {"parquet": parquet, "csv": csv_path}
