"""tqgd.cohort.worker: a worker's set-up honours ``--lean-memory`` before it imports torch and loads the weights."""

from __future__ import annotations

import pytest

from tqgd.cohort.worker import ScanWorker, WorkerSettings
from tqgd.engine import detect_run, heap


@pytest.mark.parametrize("lean", [True, False])
def test_setup_sets_the_heap_thresholds_only_when_asked(monkeypatch, tmp_path, lean) -> None:
    import torch

    from tqgd.cohort import ledger

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the test process keeps its threads
    monkeypatch.setattr(heap, "map_large_allocations", lambda: calls.append("heap"))
    monkeypatch.setattr(ledger, "check_token", lambda *args: calls.append("token"))
    monkeypatch.setattr(detect_run, "make_setup", lambda *args: calls.append("weights") or "setup")
    settings = WorkerSettings(weights=str(tmp_path / "w.pt"), heart_weights=None, options={}, device="cpu",
                              threads=1, out=str(tmp_path), token="t", lean_memory=lean)
    worker = ScanWorker(settings, "worker-0")
    assert worker.setup()["pid"] > 0
    assert worker.detect_setup == "setup"
    assert calls == (["heap", "token", "weights"] if lean else ["token", "weights"])
