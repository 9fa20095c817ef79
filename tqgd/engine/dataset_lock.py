"""A cross-process lock around building an ultralytics dataset, because fold lists share one labels.cache.

ultralytics keeps one ``labels.cache`` per label folder, keyed by a hash of the image list. The fold lists of a
converted dataset all point into the same ``labels/`` folder, so two trainings of different folds started together
rewrote that file under each other (``FileNotFoundError`` when one unlinked it between the other's check and unlink,
or a half-written cache that no longer unpickles). Building under this lock makes them take turns for the few seconds
a build takes. The lock file lives in the temp folder, keyed by the dataset root, so read-only datasets need no write
access. POSIX advisory lock (``fcntl.flock``); where ``fcntl`` does not exist (Windows) builds are not serialised.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def lock_path(dataset_root: str | Path) -> Path:
    """The lock file of one dataset root (the data YAML's ``path``): same root, same file, in every process."""
    key = hashlib.sha1(str(Path(dataset_root).expanduser().resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"tqgd-dataset-{key}.lock"


@contextmanager
def dataset_build_lock(dataset_root: str | Path) -> Iterator[None]:
    """Hold the dataset's exclusive lock while the block runs; waits while another process holds it."""
    if fcntl is None:
        yield
        return
    descriptor = os.open(lock_path(dataset_root), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
