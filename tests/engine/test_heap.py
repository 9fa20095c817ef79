"""tqgd.engine.heap (``tqgd detect --lean-memory``): large arrays go back to the OS when freed."""

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import run_tqgd
from tqgd.engine import heap
from tqgd.errors import ConfigError

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Raises glibc's dynamic threshold with one 8 MiB free, then frees 48 x 1 MiB arrays interleaved with small
# allocations that stay alive (the heap cannot shrink from the top) and prints the MiB that left the process.
PROBE = textwrap.dedent("""
    import os, numpy as np
    from tqgd.engine.heap import map_large_allocations
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    if os.environ.get("LEAN"):
        map_large_allocations()
    warm = np.ones(2**20); del warm
    big, keep = [], []
    for _ in range(48):
        big.append(np.ones(2**17)); keep.append(bytearray(200))
    before = rss(); del big
    print(before - rss())
""")


def released_mib(**extra_env: str) -> float:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(heap.__file__).parents[2]), **extra_env}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.split()[-1])


@pytest.mark.skipif(not GLIBC, reason="mallopt(M_MMAP_THRESHOLD) is glibc's; elsewhere nothing is done")
def test_freed_large_arrays_leave_the_process_only_with_the_fixed_threshold():
    assert released_mib(LEAN="1") > 40  # 48 MiB freed
    assert released_mib() < 8  # glibc's dynamic threshold keeps them in the heap


@pytest.mark.parametrize("env", [{"MALLOC_MMAP_THRESHOLD_": "65536"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}])
def test_the_users_own_malloc_choice_stands(monkeypatch, env):
    called = []
    monkeypatch.setattr(heap, "_mallopt", lambda: lambda *args: called.append(args) or 1)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert heap.map_large_allocations() is False
    assert called == []


def test_sets_the_threshold_through_mallopt(monkeypatch):
    for name in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    called = []
    monkeypatch.setattr(heap, "_mallopt", lambda: lambda *args: called.append(args) or 1)
    assert heap.map_large_allocations() is True
    assert called == [(heap.M_MMAP_THRESHOLD, 128 * 1024), (heap.M_TRIM_THRESHOLD, 128 * 1024)]
    monkeypatch.setattr(heap, "_mallopt", lambda: None)  # no glibc: nothing to call
    assert heap.map_large_allocations() is False


@pytest.mark.parametrize("flag", [True, False])
def test_detect_sets_it_only_with_lean_memory(monkeypatch, capsys, tmp_path, flag):
    from tqgd.engine import detect_run

    calls = []
    monkeypatch.setattr(heap, "map_large_allocations", lambda: calls.append("heap"))

    def stop(*args, **kwargs):
        calls.append("setup")
        raise ConfigError("stopped here by the test")

    monkeypatch.setattr(detect_run, "make_setup", stop)
    (tmp_path / "scan.png").write_bytes(b"")
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", tmp_path / "scan.png", "--weights", tmp_path / "scan.png",
                            *(["--lean-memory"] if flag else []))
    assert code != 0 and "stopped here by the test" in err
    assert calls == (["heap", "setup"] if flag else ["setup"])
