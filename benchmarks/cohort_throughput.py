"""Throughput of ``tqgd cohort run`` on this machine, and what one scan costs, for sizing a cohort.

Measured on ``--scans`` phantom patients of 60 slices of 512 x 512 written as DICOM series:

- sequential, in this process with one torch thread: ``make_setup`` once, then per scan what ``tqgd detect FOLDER``
  runs (``detect_scan``), split into reading, detection (heart crop + model + physics filter + snapping) and
  scoring/writing (detections.json/.csv, overlays, score.json, report.png);
- ``tqgd cohort run`` with each of ``--workers`` (default 1 and 2) on a fresh local Ray instance: Ray's start-up,
  until the first and the last worker had loaded the weights, wall time, throughput over the whole run and from the
  first ready worker to the last commit, and the median seconds per scan on a worker. Workers run at the
  driver's priority (``RAY_worker_niceness=0``; Ray's default starts them 15 steps nicer).

Writes ``--work/cohort_throughput.json``. Usage:
    python benchmarks/cohort_throughput.py --work /tmp/tqgd-cohort-bench --weights best.pt --scans 8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import tqgd  # noqa: F401  - before ultralytics: it configures ultralytics (offline) at import

SLICES = 60
SLICE_SPACING_MM = 3.0
PHANTOM_SEED = 7


def write_scans(folder: Path, count: int, image_size: int) -> Path:
    """``count`` phantom patients of ``SLICES`` slices as DICOM series under ``folder/DICOM`` (reused when there)."""
    from tqgd.data.phantom.config import PhantomConfig
    from tqgd.data.phantom.layout import write_phantom_set

    if not (folder / "phantom" / "phantom.json").is_file():
        length_mm = SLICES * SLICE_SPACING_MM
        config = PhantomConfig(slice_spacing_mm=(SLICE_SPACING_MM,), overlap_share=0.0,
                               scan_length_mm=(length_mm, length_mm), clip_heart=False)
        write_phantom_set(folder, count, seed=PHANTOM_SEED, formats=("dicom",), image_size=image_size, config=config,
                          overwrite=True)
    return folder / "DICOM"


def sequential(source: Path, weights: Path, out: Path) -> dict[str, Any]:
    """Per-scan seconds of ``tqgd detect``'s per-scan steps in this process, one torch thread."""
    import torch

    from tqgd.data.readers import read_ct
    from tqgd.engine.detect import DetectOptions, detect_volume
    from tqgd.engine.detect_run import ScanOutcome, make_setup, write_outputs

    torch.set_num_threads(1)
    start = time.perf_counter()
    setup = make_setup(weights, None, DetectOptions(), "cpu")
    load = time.perf_counter() - start
    stages: dict[str, list[float]] = {"read": [], "detect": [], "score_and_write": [], "total": []}
    for scan in sorted(p for p in source.iterdir() if p.is_dir()):
        t0 = time.perf_counter()
        volume = read_ct(scan)
        t1 = time.perf_counter()
        roi = setup.cropper.roi(volume) if setup.cropper is not None else None
        result = detect_volume(volume, setup.detector, roi, setup.options)
        t2 = time.perf_counter()
        write_outputs(volume, result, setup, out / scan.name, ScanOutcome(source=scan, name=scan.name))
        t3 = time.perf_counter()
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
            stages[key].append(value)
    return {"load_weights_s": round(load, 2), "scans": len(stages["total"]),
            **{f"median_{k}_s": round(statistics.median(v), 3) for k, v in stages.items()},
            "per_scan_total_s": [round(v, 2) for v in stages["total"]]}


def cohort(source: Path, weights: Path, out: Path, workers: int) -> dict[str, Any]:
    """One ``tqgd cohort run`` on a fresh local Ray instance with ``workers`` workers (1 CPU each)."""
    import pyarrow.parquet as pq

    from tqgd.cohort import CohortSettings, run_cohort

    shutil.rmtree(out, ignore_errors=True)
    times: dict[str, Any] = {"commits": []}
    start = time.perf_counter()

    def on_event(kind: str, data: dict) -> None:
        now = time.perf_counter() - start
        if kind == "workers":
            times.setdefault("first_ready", now)
            times["last_ready"] = now
        elif kind == "scan":
            times["commits"].append(now)

    result = run_cohort(source, out, CohortSettings(weights=weights, workers=workers), on_event)
    seconds = [r["seconds"] for r in pq.read_table(out / "cohort.parquet").to_pylist() if r["status"] == "ok"]
    steady = times["commits"][-1] - times["first_ready"]
    return {"workers": workers, "scans": result.processed, "failed": result.failed,
            "wall_s": round(result.seconds, 2), "ray_start_s": result.ray_start_seconds,
            "first_worker_ready_s": round(times["first_ready"], 2), "last_worker_ready_s": round(times["last_ready"], 2),
            "scans_per_s_wall": round(result.processed / result.seconds, 4),
            "scans_per_s_after_first_ready": round(result.processed / steady, 4),
            "median_worker_s_per_scan": round(statistics.median(seconds), 3),
            "first_scan_worker_s": round(max(seconds), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True, help="Calcium weights (tqgd train's best.pt).")
    parser.add_argument("--scans", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts.")
    args = parser.parse_args()
    # Ray starts its workers 15 steps nicer than the driver by default; here they run at the driver's own priority,
    # as the sequential baseline does, so the two compare on a machine shared with other work.
    os.environ.setdefault("RAY_worker_niceness", "0")
    from bench_common import run_record

    source = write_scans(args.work / "scans", args.scans, args.image_size)
    results: dict[str, Any] = {"record": run_record("cohort_throughput.py"), "weights": str(args.weights),
                               "slices_per_scan": SLICES, "image_size": args.image_size}
    results["sequential"] = sequential(source, args.weights.resolve(), args.work / "sequential")
    print(json.dumps(results["sequential"]), flush=True)
    results["cohort"] = []
    for workers in (int(w) for w in args.workers.split(",")):
        results["cohort"].append(cohort(source, args.weights.resolve(), args.work / f"cohort-{workers}", workers))
        print(json.dumps(results["cohort"][-1]), flush=True)
    (args.work / "cohort_throughput.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
