"""Shared machinery of the fuzz suites: hypothesis settings, a crash- and hang-proof case runner, and case counters.

Every case runs in a forked worker process with a time limit, so a hang or a crash inside a C library (ITK, OpenCV,
a DICOM decoder) fails the test with the case that caused it instead of stopping the run. Counts per suite and outcome
are written as JSON at the end of the session and printed in pytest's terminal summary (see ``conftest.py``).

``TQGD_FUZZ=long`` selects the long profile (many more examples per test) for the documented long run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

#: Examples per fuzz test: CI keeps the whole reliability suite within about two minutes on two cores.
CI_EXAMPLES = 60
LONG_EXAMPLES = 2000
PROFILE = os.environ.get("TQGD_FUZZ", "ci").strip().lower() or "ci"
EXAMPLES = LONG_EXAMPLES if PROFILE == "long" else CI_EXAMPLES
#: Seconds one case may take in the worker before it counts as a hang (reads here are a few ms to a second).
CASE_TIMEOUT_S = float(os.environ.get("TQGD_FUZZ_CASE_TIMEOUT_S", "30"))

FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=PROFILE != "long", database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])



def fuzz_settings(weight: float = 1.0) -> settings:
    """``FUZZ_SETTINGS`` with ``weight`` times the examples (for suites that spread over many file kinds)."""
    return settings(FUZZ_SETTINGS, max_examples=max(1, int(EXAMPLES * weight)))


#: suite name -> outcome -> count, for this process.
COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)


def count(suite: str, outcome: str) -> None:
    """Record one case of ``suite`` ending in ``outcome`` (e.g. "accepted", "refused", "failed")."""
    COUNTS[suite][outcome] += 1


def write_counts(path: Path) -> None:
    """Write this process's counts as JSON (one file per pytest worker)."""
    if COUNTS:
        path.write_text(json.dumps({"profile": PROFILE, "examples_per_test": EXAMPLES,
                                    "suites": {k: dict(v) for k, v in sorted(COUNTS.items())}}, indent=1))


@dataclass
class Outcome:
    """How one case ended in the worker: ``kind`` is ok, tqgd (a TQGDError), error (any other exception), hang or
    crash; ``value`` is the function's result for ok, else None; ``error_type``/``message``/``path`` describe errors."""

    kind: str
    value: Any = None
    error_type: str = ""
    message: str = ""
    path: str | None = None
    details: str = ""


def _serve(conn: Any) -> None:
    """Worker loop: run ``(function, args)`` requests and send back an ``Outcome`` each."""
    from tqgd.errors import TQGDError

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        function, args = request
        try:
            outcome = Outcome("ok", value=function(*args))
        except TQGDError as exc:
            outcome = Outcome("tqgd", error_type=type(exc).__name__, message=str(exc),
                              path=str(exc.path) if exc.path is not None else None)
        except BaseException as exc:  # the point of the worker: report anything, never die quietly
            outcome = Outcome("error", error_type=type(exc).__name__, message=str(exc)[:2000],
                              details=traceback.format_exc()[-4000:])
        conn.send(outcome)


class CaseRunner:
    """Runs module-level functions in a forked worker, one case at a time, each with ``CASE_TIMEOUT_S``."""

    def __init__(self, timeout_s: float = CASE_TIMEOUT_S):
        self.timeout_s = timeout_s
        self._context = multiprocessing.get_context("fork")
        self._process: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._conn.close()
        self._process = self._conn = None

    def run(self, function: Callable[..., Any], *args: Any) -> Outcome:
        """``function(*args)`` in the worker; a hang or a dead worker is reported as an ``Outcome``, not raised."""
        if self._process is None or not self._process.is_alive():
            self._start()
        self._conn.send((function, args))
        if not self._conn.poll(self.timeout_s):
            self._stop()
            return Outcome("hang", message=f"no answer within {self.timeout_s:g} s")
        try:
            return self._conn.recv()
        except (EOFError, ConnectionError):
            code = self._process.exitcode if self._process is not None else None
            self._stop()
            return Outcome("crash", message=f"worker died (exit code {code})")

    def close(self) -> None:
        """Stop the worker."""
        self._stop()


def check_refusal(outcome: Outcome, suite: str, where: Path, case: str = "", label: str = "refused") -> None:
    """Assert ``outcome`` is a tqgd error that names ``where`` (a file, or a folder holding the file), and count it
    as ``label (ErrorType)``."""
    if outcome.kind != "tqgd":
        count(suite, f"failed ({outcome.kind})")
        raise AssertionError(f"{suite}: {case}: expected a tqgd error, got {outcome.kind} {outcome.error_type}: "
                             f"{outcome.message}\n{outcome.details}")
    named = outcome.path is not None and (Path(outcome.path) == where or where in Path(outcome.path).parents
                                          or Path(outcome.path) in where.parents)
    if not named or not outcome.message.startswith(str(outcome.path)):
        count(suite, "failed (error does not name the file)")
        raise AssertionError(f"{suite}: {case}: the error does not name {where}: {outcome.message}")
    count(suite, f"{label} ({outcome.error_type})")


def check_no_crash(outcome: Outcome, suite: str, case: str = "") -> None:
    """Assert the case ended in a value or a tqgd error (never another exception, a hang or a crash)."""
    if outcome.kind not in ("ok", "tqgd"):
        count(suite, f"failed ({outcome.kind})")
        raise AssertionError(f"{suite}: {case}: {outcome.kind} {outcome.error_type}: {outcome.message}\n"
                             f"{outcome.details}")
