"""Reliability suites: one forked case runner per module, and the fuzz counts in the terminal summary.

Each pytest process (xdist workers included) writes ``fuzz_counts_<worker>.json`` into the session's base temp
folder; the summary sums them into one line per suite (``-rA`` or plain runs both show it).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.fuzz import PROFILE, CaseRunner, write_counts


@pytest.fixture(scope="module")
def runner() -> Iterator[CaseRunner]:
    """A forked worker that runs one case at a time with a time limit."""
    case_runner = CaseRunner()
    yield case_runner
    case_runner.close()


def _base_temp(config: pytest.Config) -> Path | None:
    factory = getattr(config, "_tmp_path_factory", None)
    return factory.getbasetemp() if factory is not None else None


@pytest.fixture(scope="session", autouse=True)
def _fuzz_counts_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    write_counts(tmp_path_factory.getbasetemp() / f"fuzz_counts_{worker}.json")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """One line per fuzz suite: cases tried and how they ended (summed over xdist workers)."""
    base = _base_temp(config)
    if base is None or not base.exists():
        return
    totals: dict[str, Counter[str]] = {}
    for path in sorted(base.rglob("fuzz_counts_*.json")):
        for suite, outcomes in json.loads(path.read_text())["suites"].items():
            totals.setdefault(suite, Counter()).update(outcomes)
    if not totals:
        return
    terminalreporter.section(f"tqgd fuzz cases (profile {PROFILE})")
    for suite, outcomes in sorted(totals.items()):
        detail = ", ".join(f"{outcome} {n}" for outcome, n in sorted(outcomes.items()))
        terminalreporter.write_line(f"{suite}: {sum(outcomes.values())} cases: {detail}")
    terminalreporter.write_line(f"counts: {base}/fuzz_counts_*.json")
