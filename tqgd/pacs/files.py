"""Durable writes of received instances: a file is complete and on disk before anyone is told it was received.

``store_instance`` writes to a temporary file in the target folder, flushes and fsyncs it, renames it over the
target and fsyncs the folder, so after a crash (power loss included) the instance is either fully there or absent.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

#: A DICOM UID: digits and dots, at most 64 characters (PS3.5 9.1); also safe as a file name.
UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MAX_UID_CHARS = 64


def is_uid(value: str) -> bool:
    """True for a syntactically valid DICOM UID."""
    return len(value) <= MAX_UID_CHARS and bool(UID_PATTERN.match(value))


def fsync_folder(folder: Path) -> None:
    """Make a rename or create inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and durably (see the module docstring)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(target.parent)
    return target


def remove_partials(folder: Path) -> int:
    """Delete temporary ``.part`` files a crash left in ``folder`` (never acknowledged); return how many."""
    removed = 0
    for path in folder.glob(".*.part"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed
