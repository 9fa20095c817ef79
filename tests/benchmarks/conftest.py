"""Benchmark smoke tests: the scripts in ``benchmarks/`` import each other by plain name (each runs as
``python benchmarks/NAME.py``), so that folder goes on ``sys.path`` here; torch runs on one thread, as in CI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import tqgd  # noqa: F401  - before any ultralytics import

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS_DIR))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
