"""The dataset lock: one process at a time builds a dataset from one root (fold lists share one labels.cache)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tqgd  # noqa: F401  (configures ultralytics offline before its import)

# isort: split
from ultralytics.models.yolo.detect import DetectionTrainer, DetectionValidator

from tqgd.engine.dataset_lock import dataset_build_lock, lock_path
from tqgd.engine.trainer import TQGDTrainer
from tqgd.engine.validator import TQGDValidator

#: A child process that takes the lock of the root in argv[1] and prints the time it got it.
CHILD = ("import sys, time\nfrom tqgd.engine.dataset_lock import dataset_build_lock\n"
         "with dataset_build_lock(sys.argv[1]):\n    print(time.time(), flush=True)\n")


def is_locked(root: Path) -> bool:
    """Whether some open file description holds the root's lock (a non-blocking try on a new one fails)."""
    descriptor = os.open(lock_path(root), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def start_child(root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, text=True)


def test_same_root_same_lock_file_and_other_roots_differ(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "a") == lock_path(tmp_path / "b" / ".." / "a")
    assert lock_path(tmp_path / "a") != lock_path(tmp_path / "b")


def test_another_process_waits_until_the_lock_is_released(tmp_path: Path) -> None:
    with dataset_build_lock(tmp_path):
        child = start_child(tmp_path)
        time.sleep(1.5)  # ample time for the child to start and block on the lock
        released = time.time()
    acquired = float(child.communicate(timeout=60)[0])
    assert child.returncode == 0
    assert acquired >= released
    assert not is_locked(tmp_path)


def test_another_root_does_not_wait(tmp_path: Path) -> None:
    with dataset_build_lock(tmp_path / "fold-a"):
        child = start_child(tmp_path / "fold-b")
        out = child.communicate(timeout=60)[0]  # would time out if the roots shared a lock
    assert child.returncode == 0 and float(out) > 0


def test_lock_is_released_when_the_build_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), dataset_build_lock(tmp_path):
        assert is_locked(tmp_path)
        raise RuntimeError("unreadable list")
    assert not is_locked(tmp_path)


@pytest.mark.parametrize(("ours", "theirs"), [(TQGDTrainer, DetectionTrainer), (TQGDValidator, DetectionValidator)])
def test_trainer_and_validator_build_datasets_under_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             ours: type, theirs: type) -> None:
    held = []
    monkeypatch.setattr(theirs, "build_dataset", lambda self, img_path, mode="val", batch=None: held.append(
        (img_path, is_locked(tmp_path))) or "dataset")
    builder = ours.__new__(ours)  # only build_dataset runs; it reads nothing but data["path"]
    builder.data = {"path": tmp_path}
    assert builder.build_dataset("folds/fold1_train.txt", "train", 4) == "dataset"
    assert held == [("folds/fold1_train.txt", True)]
    assert not is_locked(tmp_path)
