"""``tqgd cohort run``: every scan of a cohort through ``tqgd detect``'s per-scan code on Ray workers, exactly once.

The driver (this process) finds the scans, skips the done ones (``tqgd.cohort.ledger``), starts the workers (one Ray
actor each, one scan in flight per worker) and commits each finished scan itself. A worker that dies takes only its
scan's attempt with it: the actor is replaced by a fresh one and the scan is queued again, up to ``max_attempts``
attempts, after which it is recorded as failed with cause "worker died". A scan that fails by itself is recorded
with its error on the first attempt. At the end the cohort table, summary figure and report are rebuilt from the
completion records (``tqgd.cohort.table``, ``tqgd.cohort.summary``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqgd.cohort.ledger import Ledger, check_out, file_sha256, fingerprint
from tqgd.cohort.sources import ScanTask, find_cohort
from tqgd.cohort.worker import WorkerSettings, failed_row
from tqgd.errors import CohortError, TQGDError

#: Attempts at one scan whose worker keeps dying before it is recorded as failed.
DEFAULT_MAX_ATTEMPTS = 3
WORKER_DIED = "worker died"

#: Called as on_event(kind, data): "plan" {total, done, todo}, "workers" {names}, "started" {key, worker, pid},
#: "retry" {key, attempt, worker}, "scan" {row} after every commit.
EventHook = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class CohortSettings:
    """How to run: weights, detection options (``DetectOptions`` fields), Ray address and worker resources."""

    weights: Path
    heart_weights: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_failed: bool = False
    include_identifiers: bool = False
    trust: bool | None = None
    lean_memory: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise CohortError(f"--max-attempts must be 1 or more, got {self.max_attempts}")
        if self.workers is not None and self.workers < 1:
            raise CohortError(f"--workers must be 1 or more, got {self.workers}")
        if "include_identifiers" in self.options:
            raise CohortError("per-scan outputs of a cohort never carry identifiers; use include_identifiers=True of "
                              "CohortSettings for source paths in the table")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise CohortError(f"--cpus-per-worker must be > 0 and --gpus-per-worker >= 0, got "
                              f"{self.cpus_per_worker:g} and {self.gpus_per_worker:g}")


@dataclass
class CohortResult:
    """What a run did: scans in the cohort, skipped as done, processed now, retries, seconds, workers used."""

    total: int
    skipped: int
    processed: int
    retries: int
    seconds: float
    ray_start_seconds: float | None
    workers: list[str]
    failed: int
    outputs: dict[str, Path]


def run_fingerprint(settings: CohortSettings) -> tuple[str, dict[str, Any]]:
    """The run's fingerprint and what went into it (weights' hashes, resolved heart weights, options)."""
    from tqgd.engine.detect import DetectOptions
    from tqgd.engine.run_record import preprocess_info

    try:
        options = asdict(DetectOptions(**settings.options))
    except TypeError as exc:
        raise CohortError(f"unknown detection option ({exc}); expected DetectOptions fields") from None
    heart = settings.heart_weights
    if heart is None:
        crop = preprocess_info(settings.weights, settings.trust).get("crop")
        recorded = crop.get("heart_weights") if isinstance(crop, dict) else None
        heart = Path(recorded) if recorded and Path(recorded).is_file() else None
    weights_sha, heart_sha = file_sha256(settings.weights), file_sha256(heart) if heart else None
    info = {"weights": str(settings.weights), "weights_sha256": weights_sha,
            "heart_weights": str(heart) if heart else None, "heart_weights_sha256": heart_sha, "options": options}
    return fingerprint(weights_sha, heart_sha, options), info


def run_cohort(source: Path, out: Path, settings: CohortSettings, on_event: EventHook | None = None) -> CohortResult:
    """Detect and score every scan of ``source`` into ``out`` (see the module docstring)."""
    from tqgd.cohort.summary import write_summary
    from tqgd.cohort.table import write_table

    emit = on_event or (lambda kind, data: None)
    start = time.perf_counter()
    check_out(out, source)
    cohort = find_cohort(source)
    fp, info = run_fingerprint(settings)
    ledger = Ledger(out.resolve(), fp)
    token = ledger.open({**info, "source": str(source.resolve()) if settings.include_identifiers else None,
                         "scans": len(cohort.scans), "ignored_files": len(cohort.ignored)})
    records = ledger.load()
    if settings.retry_failed:
        records = {k: r for k, r in records.items() if r["row"]["status"] == "ok"}
    todo = [s for s in cohort.scans if s.key not in records]
    emit("plan", {"total": len(cohort.scans), "done": len(cohort.scans) - len(todo), "todo": len(todo)})
    ray_seconds, names, retries = None, [], 0
    if todo:
        pool = _Pool(ledger, settings, token, records, emit)
        ray_seconds, names, retries = pool.run(todo)
    rows = table_rows(cohort.scans, ledger.load(), settings.include_identifiers)
    seconds = time.perf_counter() - start
    run_info = {"scans": len(cohort.scans), "skipped": len(cohort.scans) - len(todo), "processed": len(todo),
                "retries": retries, "seconds": round(seconds, 2), "ray_start_seconds": ray_seconds,
                "workers": names, "ignored_files": len(cohort.ignored), "fingerprint": fp, **info}
    outputs = write_table(rows, ledger.out)
    outputs.update(write_summary(rows, ledger.out, run_info, settings.options))
    return CohortResult(total=len(cohort.scans), skipped=len(cohort.scans) - len(todo), processed=len(todo),
                        retries=retries, seconds=seconds, ray_start_seconds=ray_seconds, workers=names,
                        failed=sum(r["status"] != "ok" for r in rows), outputs=outputs)


def table_rows(scans: list[ScanTask], records: dict[str, dict[str, Any]], include_identifiers: bool
               ) -> list[dict[str, Any]]:
    """One row per scan of the cohort, in source order, from the completion records."""
    rows = []
    for scan in scans:
        record = records.get(scan.key)
        if record is None:
            raise CohortError(f"scan {scan.source} has no completion record after the run; run again to finish it",
                              Path(scan.path))
        rows.append({"key": scan.key, **({"source": scan.source} if include_identifiers else {}),
                     "attempts": record.get("attempts", 1), **record["row"]})
    return rows


class _Pool:
    """The workers of one run and the scans in flight on them (one per worker)."""

    def __init__(self, ledger: Ledger, settings: CohortSettings, token: str, records: dict[str, dict[str, Any]],
                 emit: EventHook):
        self.ledger, self.settings, self.token, self.emit = ledger, settings, token, emit
        self.taken = {r["row"]["output"].split("/", 1)[1]: k for k, r in records.items() if r["row"].get("output")}
        self.attempts: dict[str, int] = {}
        self.retries = 0
        self.names: list[str] = []
        #: slot -> (actor handle, generation, worker info from setup; None while it loads the weights)
        self.actors: dict[int, tuple[Any, int, dict | None]] = {}
        #: Ray future -> (slot, scan or None for a setup call, attempt folder)
        self.inflight: dict[Any, tuple[int, ScanTask | None, Path | None]] = {}
        self.ray: Any = None
        self.died: tuple[type[BaseException], ...] = ()
        self.actor_class: Any = None
        self.worker_settings: WorkerSettings | None = None

    def run(self, todo: list[ScanTask]) -> tuple[float, list[str], int]:
        from tqgd.cohort.cluster import (
            actor_class,
            default_workers,
            ray_session,
            worker_died_errors,
        )

        settings = self.settings
        local_cpus = None
        if settings.address is None:
            local_cpus = int(max(1, (settings.workers or os.cpu_count() or 1) * settings.cpus_per_worker))
        started = time.perf_counter()
        with ray_session(settings.address, local_cpus) as ray:
            ray_seconds = round(time.perf_counter() - started, 2)
            count = min(settings.workers or default_workers(ray, settings.cpus_per_worker, settings.gpus_per_worker),
                        len(todo))
            self.ray, self.died = ray, worker_died_errors(ray)
            self.actor_class = actor_class(ray, settings.cpus_per_worker, settings.gpus_per_worker)
            worker = WorkerSettings(weights=str(settings.weights.resolve()),
                                    heart_weights=str(settings.heart_weights.resolve())
                                    if settings.heart_weights else None,
                                    options=dict(settings.options), device="0" if settings.gpus_per_worker else "cpu",
                                    threads=max(1, int(settings.cpus_per_worker)), out=str(self.ledger.out),
                                    token=self.token, trust=settings.trust, lean_memory=settings.lean_memory)
            self.worker_settings = worker
            self._loop(todo, count)
        return ray_seconds, self.names, self.retries

    def _start(self, slot: int, generation: int) -> None:
        actor = self.actor_class.remote(self.worker_settings, f"w{slot}.{generation}")
        self.actors[slot] = (actor, generation, None)
        self.inflight[actor.setup.remote()] = (slot, None, None)

    def _loop(self, todo: list[ScanTask], count: int) -> None:
        ray = self.ray
        queue = deque(todo)
        setup_deaths = 0
        for slot in range(count):
            self._start(slot, 0)
        while self.inflight:
            [ref], _ = ray.wait(list(self.inflight), num_returns=1)
            slot, task, folder = self.inflight.pop(ref)
            actor, generation, info = self.actors[slot]
            try:
                value = ray.get(ref)
            except self.died as exc:
                with contextlib.suppress(Exception):  # already gone: nothing to stop
                    ray.kill(actor, no_restart=True)
                self._start(slot, generation + 1)
                if task is None:
                    setup_deaths += 1
                    if setup_deaths > count * self.settings.max_attempts:
                        raise CohortError(f"workers keep dying while loading the weights ({exc}); check memory and "
                                          "the Ray logs") from exc
                else:
                    self._worker_died(task, folder, info, queue)
                continue
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, TQGDError):
                    raise cause from None  # a broken setup or an unwritable OUT stops the run; done scans stay done
                raise CohortError(f"a worker failed outside any one scan: {exc}") from exc
            if task is None:
                self.actors[slot] = (actor, generation, value)
                self.names.append(value["name"])
                self.emit("workers", {"names": list(self.names)})
            else:
                self._commit(task, value, folder)
            self._dispatch(slot, queue)

    def _dispatch(self, slot: int, queue: deque) -> None:
        if not queue:
            return
        actor, _, info = self.actors[slot]
        task = queue.popleft()
        attempt = self.attempts.get(task.key, 0) + 1
        self.attempts[task.key] = attempt
        folder = self.ledger.attempt_dir(task.key, attempt)
        self.inflight[actor.run.remote(task, str(folder))] = (slot, task, folder)
        self.emit("started", {"key": task.key, "worker": info["name"], "pid": info["pid"], "attempt": attempt})

    def _worker_died(self, task: ScanTask, folder: Path | None, info: dict | None, queue: deque) -> None:
        if folder is not None:
            self.ledger.discard(folder)
        attempt = self.attempts[task.key]
        worker = info["name"] if info else None
        if attempt >= self.settings.max_attempts:
            row = failed_row(task, WORKER_DIED, f"{WORKER_DIED} on each of {attempt} attempts (last: {worker}); "
                                                "the scan may need more memory than a worker has", None, worker)
            self._commit(task, row, None)
            return
        self.retries += 1
        queue.appendleft(task)
        self.emit("retry", {"key": task.key, "attempt": attempt, "worker": worker})
        busy = {slot for slot, _, _ in self.inflight.values()}
        for slot, (_, _, other) in self.actors.items():  # an idle worker takes it now, not the dead one's successor
            if slot not in busy and other is not None and queue:
                self._dispatch(slot, queue)

    def _commit(self, task: ScanTask, row: dict[str, Any], folder: Path | None) -> None:
        written = row.pop("written", None)
        if row["status"] != "ok" and folder is not None:
            self.ledger.discard(folder)
        record = self.ledger.commit(task.key, row, Path(written) if written else None, self.taken, task.source,
                                    self.attempts.get(task.key, 1))
        self.emit("scan", {"row": record["row"], "attempts": record["attempts"]})

