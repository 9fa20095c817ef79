"""Run tqgd.engine tests on one torch thread: CI runs two pytest workers on two cores, and two OpenMP threads per
worker made the build/forward matrix about five times slower (61 s vs 11 s, measured on the 2-core CI machine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import tqgd  # noqa: F401  - before any ultralytics import: ultralytics reads tqgd's offline/safe-load switches once


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
