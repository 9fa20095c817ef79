"""One cohort worker: loads the detectors once, then runs ``tqgd detect``'s own per-scan code on scan after scan.

``ScanWorker`` is a plain class; ``tqgd.cohort.cluster`` turns it into a Ray actor (one process, one model). Per scan
it calls ``tqgd.engine.detect_run.detect_scan``, the function ``tqgd detect FOLDER`` runs for each scan, into the
attempt folder the driver chose, so the files are byte for byte those of ``tqgd detect``. It returns one table row.
A scan that fails by itself (unreadable, not CT, no heart found, any exception while reading, detecting or writing
it) comes back as a row with ``status`` "failed"; an unwritable output folder is not the scan's fault and is raised,
which stops the run.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqgd.cohort.sources import ScanTask

ARTERIES = ("LAD", "LCX", "RCA", "undetermined")


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker needs: weights, detection options (``DetectOptions`` fields), device, threads, OUT."""

    weights: str
    heart_weights: str | None
    options: dict[str, Any]
    device: str
    threads: int
    out: str
    token: str
    trust: bool | None = None
    lean_memory: bool = False  # tqgd detect --lean-memory: large arrays go back to the OS when freed


class ScanWorker:
    """Loads the detectors in ``setup`` (once) and detects scans in ``run``; ``name`` says which worker it was."""

    def __init__(self, settings: WorkerSettings, name: str):
        self.settings = settings
        self.name = name
        self.detect_setup = None

    def setup(self) -> dict[str, Any]:
        """Check OUT is visible here, load the weights; return this worker's name, host and process ID."""
        if self.settings.lean_memory:
            from tqgd.engine.heap import map_large_allocations

            map_large_allocations()  # before torch is imported, as tqgd detect does
        import tqgd  # noqa: F401  (offline ultralytics before anything imports it)
        from tqgd.cohort.ledger import check_token
        from tqgd.engine.detect import DetectOptions
        from tqgd.engine.detect_run import make_setup

        host = socket.gethostname()
        check_token(Path(self.settings.out), self.settings.token, host)
        import torch

        torch.set_num_threads(self.settings.threads)
        options = DetectOptions(**self.settings.options)
        heart = Path(self.settings.heart_weights) if self.settings.heart_weights else None
        self.detect_setup = make_setup(Path(self.settings.weights), heart, options, self.settings.device,
                                       self.settings.trust)
        self.name = f"{self.name}@{host}:{os.getpid()}"
        return {"name": self.name, "host": host, "pid": os.getpid()}

    def run(self, task: ScanTask, folder: str) -> dict[str, Any]:
        """Detect and score one scan into ``folder/<name>/``; return its row (``written``: that folder, or None)."""
        from tqgd.engine.detect_run import detect_scan
        from tqgd.errors import OutputError, TQGDError

        start = time.perf_counter()
        try:
            outcome = detect_scan(Path(task.path), Path(folder), self.detect_setup, set(), True, None,
                                  task.series_uid)
        except OutputError:
            raise
        except TQGDError as exc:
            return failed_row(task, type(exc).__name__, str(exc), time.perf_counter() - start, self.name)
        except Exception as exc:  # any failure inside one scan is that scan's: recorded, and the cohort goes on
            return failed_row(task, f"unexpected {type(exc).__name__}", f"unexpected {type(exc).__name__}: {exc}",
                              time.perf_counter() - start, self.name)
        row = outcome_row(outcome, time.perf_counter() - start, self.name)
        row["written"] = str(outcome.out)
        return row


def outcome_row(outcome: Any, seconds: float, worker: str) -> dict[str, Any]:
    """A finished scan (``tqgd.engine.detect_run.ScanOutcome``) as a cohort table row."""
    result, score = outcome.result, outcome.score
    row: dict[str, Any] = {"scan_id": result.scan_id, "series_uid": result.series_uid, "status": "ok",
                           "error": None, "cause": None, "lesion_count": None, "detections": outcome.detections,
                           "agatston": None, "volume_mm3": None, "risk_category": None, "risk_category_index": None,
                           "seconds": round(seconds, 3), "worker": worker}
    for artery in ARTERIES:
        row[f"agatston_{artery}"] = None
        row[f"volume_mm3_{artery}"] = None
    if score is not None:
        row.update(agatston=score.agatston, volume_mm3=score.volume_mm3, risk_category=score.risk.label,
                   risk_category_index=score.risk.index, lesion_count=len(score.lesions))
        for artery, totals in (score.per_artery() or {}).items():
            row[f"agatston_{artery}"] = totals["agatston"]
            row[f"volume_mm3_{artery}"] = totals["volume_mm3"]
    return row


def failed_row(task: ScanTask, cause: str, error: str, seconds: float | None, worker: str | None) -> dict[str, Any]:
    """A scan that could not be scored: its error and the error's kind (``cause``)."""
    row: dict[str, Any] = {"scan_id": None, "series_uid": task.series_uid, "status": "failed", "error": error,
                           "cause": cause, "lesion_count": None, "detections": None, "agatston": None,
                           "volume_mm3": None, "risk_category": None, "risk_category_index": None,
                           "seconds": round(seconds, 3) if seconds is not None else None, "worker": worker}
    for artery in ARTERIES:
        row[f"agatston_{artery}"] = None
        row[f"volume_mm3_{artery}"] = None
    return row
