"""Real read-only and full file systems for the output and input tests: a read-only bind mount and a tiny tmpfs.

Permission bits prove nothing as root (root writes through them), so where the test process may mount (root with
CAP_SYS_ADMIN, as in the project's containers) the tests use real mounts; elsewhere they say why they cannot.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=30)


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True, timeout=30)


def mounting_possible(scratch: Path) -> str | None:
    """None when this process can make and remove a tmpfs mount, else the reason it cannot."""
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root to mount a read-only view or a small tmpfs"
    probe = scratch / "mount-probe"
    probe.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"mount is not permitted here ({exc})"
    _umount(probe)
    return None


def require_mounting(scratch: Path) -> None:
    """Skip the calling test, with the reason, when mounts cannot be made here."""
    reason = mounting_possible(scratch)
    if reason is not None:
        pytest.skip(reason)


@contextlib.contextmanager
def read_only_view(folder: Path, view: Path) -> Iterator[Path]:
    """``view`` shows ``folder`` read-only (a bind mount remounted ro): writes fail even for root."""
    view.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(folder), str(view))
    try:
        _mount("-o", "remount,ro,bind", str(view))
        yield view
    finally:
        _umount(view)


@contextlib.contextmanager
def small_disk(folder: Path, size_kib: int) -> Iterator[Path]:
    """``folder`` is a tmpfs of ``size_kib`` KiB: writing more fails with ENOSPC."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _umount(folder)


def grow(folder: Path, size_kib: int) -> None:
    """Make the tmpfs at ``folder`` larger ("free some space")."""
    _mount("-o", f"remount,size={size_kib}k", str(folder))
