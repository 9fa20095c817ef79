"""``tqgd cohort run``: detect and score every scan of a cohort on Ray workers, resumable, each scan exactly once."""

from __future__ import annotations

from pathlib import Path

import typer

cohort_app = typer.Typer(help="Cohorts: tqgd detect over thousands of scans on a Ray cluster (or this machine), "
                              "resumable, with a cohort table.", no_args_is_help=True)
#: Failed scans named in the closing error (the table holds all of them).
LISTED_FAILURES = 10


def _progress(console):
    """A rich bar: scans done of scans to do, elapsed time, then scans/s and ETA since the first worker was ready
    (task field ``since``, a ``time.monotonic()``; Ray's start-up and model loading are not throughput)."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class RateAndEta(ProgressColumn):
        def render(self, task) -> Text:
            since = task.fields.get("since")
            if since is None or not task.completed:
                return Text("- scans/s  ETA -")
            rate = task.completed / max(time.monotonic() - since, 1e-6)
            left = (task.total - task.completed) / rate if task.total else 0.0
            eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left < 86400 else f"{left / 86400:.1f} days"
            return Text(f"{rate:.2f} scans/s  ETA {eta}")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    RateAndEta(), console=console)


def run(
    source: Path = typer.Argument(..., exists=True, readable=True,
                                  help="A folder tree of scans (DICOM series folders, .mhd/.mha, .nii/.nii.gz, at any "
                                       "depth) or a CSV manifest with a 'path' column (optional 'series_uid')."),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False,
                             help="Output folder: cohort.parquet/.csv, summary.png, report.md, scans/<name>/ (tqgd "
                                  "detect's files per scan). Run again with the same --out to resume."),
    weights: Path = typer.Option(None, "--weights", exists=True, dir_okay=False,
                                 help="Calcium detector weights (as for tqgd detect; default: the shipped or demo "
                                      "phantom weights)."),
    heart_weights: Path = typer.Option(None, "--heart-weights", exists=True, dir_okay=False,
                                       help="Heart detector weights (default: the ones recorded in --weights)."),
    address: str = typer.Option(None, "--address",
                                help="Ray cluster: 'auto' (the cluster this machine joined with `ray start`) or "
                                     "ray://HOST:PORT (Ray Client). Default: start Ray on this machine for the run."),
    workers: int = typer.Option(None, "--workers", min=1,
                                help="Workers (one model each). Default: as many as the CPUs (or, with "
                                     "--gpus-per-worker, the GPUs) hold."),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", min=0.01, help="CPUs per worker (torch threads)."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0,
                                          help="GPUs per worker; a fraction puts several workers on one GPU."),
    conf: float = typer.Option(None, "--conf", min=0.0, max=0.999,
                               help="Keep boxes with this confidence or more (default: as tqgd detect, the operating "
                                    "confidence recorded in the weights, else 0.25)."),
    batch: int = typer.Option(16, "--batch", min=1, help="Slices per model call."),
    snap_boxes: bool = typer.Option(True, "--snap/--no-snap", help="As for tqgd detect."),
    physics_filter: bool = typer.Option(True, "--physics-filter/--no-physics-filter", help="As for tqgd detect."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="As for tqgd detect (the lesion verifier)."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1,
                                     help="Attempts at a scan whose worker dies (killed, out of memory) before it is "
                                          "recorded as failed. A scan that fails by itself is not retried."),
    retry_failed: bool = typer.Option(False, "--retry-failed",
                                      help="Run the scans recorded as failed again (done scans are always skipped)."),
    include_identifiers: bool = typer.Option(False, "--include-identifiers",
                                             help="Add each scan's source path to the table (paths can carry patient "
                                                  "names; per-scan outputs never do)."),
    trust_weights: bool = typer.Option(False, "--trust-weights",
                                       help="Load the weights with full pickle (only for files you trust)."),
    lean_memory: bool = typer.Option(False, "--lean-memory",
                                     help="As for tqgd detect: each worker returns large arrays to the OS when "
                                          "freed, so its memory grows less scan after scan, at some cost in time."),
) -> None:
    """Detect and score every scan of SOURCE on Ray workers: per scan the same files as tqgd detect, plus a table.

    Each worker loads the weights once and runs tqgd detect's per-scan code. A re-run with the same --out skips
    scans already done with the same weights and options; a scan whose worker dies is retried on another worker;
    a scan that fails by itself (unreadable, not CT) is recorded with its error. Exits 1 if any scan failed.

    Example: tqgd cohort run /archive/ct --out cohort/ --weights best.pt --address auto --gpus-per-worker 0.5
    """
    import time

    from rich.console import Console

    from tqgd.cohort import CohortSettings, run_cohort
    from tqgd.errors import ScanReadError

    console = Console(stderr=True)
    if weights is None:
        from tqgd.engine.detect_run import default_weights

        weights, demo_heart = default_weights()
        heart_weights = heart_weights or demo_heart
        console.print(f"no --weights given: using {weights}")
    settings = CohortSettings(weights=weights, heart_weights=heart_weights,
                              options={"conf": conf, "batch": batch, "snap_boxes": snap_boxes,
                                       "physics_filter": physics_filter, "verify": verify},
                              address=address, workers=workers, cpus_per_worker=cpus_per_worker,
                              gpus_per_worker=gpus_per_worker, max_attempts=max_attempts, retry_failed=retry_failed,
                              include_identifiers=include_identifiers, trust=trust_weights or None,
                              lean_memory=lean_memory)
    bars = _progress(console)
    task = bars.add_task("starting Ray and the workers", total=None, since=None)

    def on_event(kind: str, data: dict) -> None:
        if kind == "plan":
            console.print(f"{data['total']} scans: {data['done']} already done, {data['todo']} to do")
            bars.update(task, total=data["todo"], visible=bool(data["todo"]))
        elif kind == "workers":
            since = bars.tasks[0].fields.get("since") or time.monotonic()
            bars.update(task, description=f"scans ({len(data['names'])} workers)", since=since)
        elif kind == "retry":
            console.print(f"worker {data['worker']} died; scan {data['key']} queued again (attempt {data['attempt']} "
                          "failed)")
        elif kind == "scan":
            bars.advance(task)

    with bars:
        result = run_cohort(source, out, settings, on_event)
    console.print(f"{result.total} scans: {result.processed} processed now ({result.retries} retried after a worker "
                  f"died), {result.skipped} already done, {result.failed} failed in all")
    if result.processed:
        console.print(f"{result.seconds:.1f} s, {result.processed / result.seconds:.3f} scans/s; Ray start "
                      f"{result.ray_start_seconds:.1f} s; workers: {', '.join(result.workers)}")
    for path in result.outputs.values():
        console.print(f"wrote {path}")
    if result.failed:
        import pyarrow.parquet as pq

        table = pq.read_table(result.outputs["parquet"], columns=["key", "status", "error"]).to_pylist()
        failed = [r for r in table if r["status"] != "ok"]
        lines = "\n".join(f"  {r['key']}: {r['error']}" for r in failed[:LISTED_FAILURES])
        more = f"\n  ... and {len(failed) - LISTED_FAILURES} more" if len(failed) > LISTED_FAILURES else ""
        raise ScanReadError(f"{len(failed)} of {result.total} scans failed (the others were scored; the table has "
                            f"every error):\n{lines}{more}")


def register(app: typer.Typer) -> None:
    """Attach ``tqgd cohort run``."""
    if not any(group.typer_instance is cohort_app for group in app.registered_groups):
        cohort_app.command("run")(run)
        app.add_typer(cohort_app, name="cohort")
