"""Ray set-up pieces that need no Ray: stopping a failed local start's processes, worker counts, error kinds."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from tqgd.cohort.cluster import default_workers, stop_children_using
from tqgd.errors import CohortError


def test_a_failed_start_stops_only_the_processes_naming_its_folder(tmp_path) -> None:
    code = "import time; time.sleep(60)"
    ours = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "tqgd-ray-x")])
    other = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "elsewhere")])
    try:
        assert stop_children_using(str(tmp_path / "tqgd-ray-x")) == [ours.pid]
        assert ours.wait(timeout=10) == -9 and other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_default_workers_follow_the_cluster_resources() -> None:
    ray = SimpleNamespace(cluster_resources=lambda: {"CPU": 16.0, "GPU": 2.0})
    assert default_workers(ray, 1.0, 0.0) == 16
    assert default_workers(ray, 2.0, 0.0) == 8
    assert default_workers(ray, 1.0, 0.25) == 8
    with pytest.raises(CohortError, match="has 2 GPU.*asks for 4"):
        default_workers(ray, 1.0, 4.0)
