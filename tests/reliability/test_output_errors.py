"""A full or read-only output folder gives a clear error before work is lost, and nothing half-written is left.

Simulated at the ``tqgd.io`` level (always) and for real with a tiny tmpfs and a read-only bind mount (where this
process may mount): a re-run once space is back ends byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import cv2
import pytest

import tqgd.io
from tests.data.orca_synthetic import write_orcascore_folder
from tests.helpers import run_tqgd
from tests.reliability import mounts
from tests.reliability.checkpoints import save_tqgd_checkpoint
from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.errors import OutputError

OPTIONS = OrcaConvertOptions(folds=3, negatives="all")
CLI_OPTIONS = ("--folds", "3", "--negatives", "all")


def digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file, with the folder's own path written as OUT (dataset YAMLs hold it)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes().replace(str(root).encode(), b"OUT")).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_nothing_half_written(out: Path) -> None:
    """Every finished image decodes; no temporary file of an atomic write is left behind."""
    leftovers = [p for p in out.rglob(".*") if p.is_file() and p.name != ".tqgd-dataset"]
    assert leftovers == []
    for image in out.glob("images/*.png"):
        assert cv2.imread(str(image), cv2.IMREAD_UNCHANGED) is not None, image


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_orcascore_folder(tmp_path_factory.mktemp("orca") / "src", patients=3, slices=8, size=64)


@pytest.fixture(scope="module")
def reference(src: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Digest of an uninterrupted conversion."""
    out = tmp_path_factory.mktemp("reference") / "out"
    convert_orcascore(src, out, OPTIONS)
    return digest(out)


def test_a_write_that_finds_the_disk_full_is_an_output_error_and_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "score.json"
    target.write_text("old")

    def full(_source, _target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tqgd.io.os, "replace", full)
    with pytest.raises(OutputError, match=r"score.json: cannot write here \(No space left on device\); free some "
                                          r"space or choose another output folder"):
        tqgd.io.write_json(target, {"agatston": 1.0})
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["score.json"]


def test_a_library_writing_into_a_full_disk_gets_an_output_error(tmp_path) -> None:
    """A writer inside ``atomic_path`` (matplotlib, OpenCV, SimpleITK) that hits ENOSPC: named error, no temp file."""
    with pytest.raises(OutputError, match=r"report.png: cannot write here \(No space left on device\)"):
        with tqgd.io.atomic_path(tmp_path / "report.png") as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []


def test_check_writable_probes_and_leaves_nothing(tmp_path, monkeypatch) -> None:
    assert tqgd.io.check_writable(tmp_path / "a" / "b") == (tmp_path / "a" / "b").resolve()
    assert list(tmp_path.iterdir()) == []  # the folders made for the probe are gone again

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tqgd.io.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=r"cannot write output here \(Read-only file system\); choose a writable"):
        tqgd.io.check_writable(tmp_path)


def test_read_only_output_fails_before_any_scan_is_read(src, tmp_path, monkeypatch) -> None:
    import tqgd.data.readers

    reads = []
    real_read = tqgd.data.readers.read_ct
    monkeypatch.setattr(tqgd.data.readers, "read_ct", lambda *a, **k: reads.append(a) or real_read(*a, **k))

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tqgd.io.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=r"out: cannot write output here \(Read-only file system\)"):
        convert_orcascore(src, tmp_path / "out", OPTIONS)
    assert reads == []


def test_disk_full_midway_then_rerun_matches_an_uninterrupted_run(src, reference, tmp_path, monkeypatch) -> None:
    out = tmp_path / "out"
    real_replace, calls = os.replace, []

    def fills_up(source, target):
        calls.append(target)
        if len(calls) > 20:  # the 21st file no longer fits
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(source, target)

    monkeypatch.setattr(tqgd.io.os, "replace", fills_up)
    with pytest.raises(OutputError, match=r"cannot write here \(No space left on device\); free some space"):
        convert_orcascore(src, out, OPTIONS)
    assert not (out / "convert.json").exists()
    assert_nothing_half_written(out)
    monkeypatch.setattr(tqgd.io.os, "replace", real_replace)
    convert_orcascore(src, out, OPTIONS)
    assert digest(out) == reference


def test_real_full_disk_then_rerun_with_space(src, reference, tmp_path, monkeypatch, capsys) -> None:
    mounts.require_mounting(tmp_path)
    with mounts.small_disk(tmp_path / "disk", size_kib=96) as disk:
        out = disk / "out"
        code, _, err = run_tqgd(monkeypatch, capsys, "convert", "orcascore", src, out, *CLI_OPTIONS)
        assert code == 1 and "No space left on device" in err and "free some space" in err, err
        assert "Traceback" not in err and not (out / "convert.json").exists()
        assert_nothing_half_written(out)
        mounts.grow(disk, 64 * 1024)
        code, _, err = run_tqgd(monkeypatch, capsys, "convert", "orcascore", src, out, *CLI_OPTIONS)
        assert code == 0, err
        assert digest(out) == reference


def test_real_read_only_output_folders(src, tmp_path, monkeypatch, capsys) -> None:
    mounts.require_mounting(tmp_path)
    (tmp_path / "empty").mkdir()
    with mounts.read_only_view(tmp_path / "empty", tmp_path / "ro") as ro:
        code, _, err = run_tqgd(monkeypatch, capsys, "convert", "orcascore", src, ro / "out", *CLI_OPTIONS)
        assert code == 1 and "Read-only file system" in err and "choose a writable output folder" in err, err
        image = src / "Images" / "TRV1P1CTI.mhd"
        mask = src / "Reference standard" / "TRV1P1R.mhd"
        code, _, err = run_tqgd(monkeypatch, capsys, "score", image, "--mask", mask, "--out", ro / "score")
        assert code == 1 and "Read-only file system" in err and "Traceback" not in err, err
        weights = save_tqgd_checkpoint(tmp_path / "w.pt")
        code, out, err = run_tqgd(monkeypatch, capsys, "detect", src / "Images", "--weights", weights, "--out",
                                  ro / "detect", "--device", "cpu")
        assert code == 1 and "Read-only file system" in err and "scans failed" not in err, out + err


def test_train_and_val_into_a_read_only_project_fail_with_a_named_error(tmp_path, monkeypatch, capsys) -> None:
    """ultralytics stopped with a bare OSError traceback when it could not create the run folder."""
    mounts.require_mounting(tmp_path)
    src = write_orcascore_folder(tmp_path / "src", patients=3, slices=4, size=64)
    data = convert_orcascore(src, tmp_path / "ds", OrcaConvertOptions(folds=2, negatives="all")).out / "orcascore.yaml"
    weights = save_tqgd_checkpoint(tmp_path / "w.pt")
    (tmp_path / "empty").mkdir()
    with mounts.read_only_view(tmp_path / "empty", tmp_path / "ro") as ro:
        for command in (["train", "--data", data, "--epochs", "1", "--imgsz", "64", "--device", "cpu"],
                        ["val", "--weights", weights, "--data", data, "--device", "cpu"]):
            code, _, err = run_tqgd(monkeypatch, capsys, *command, "--project", ro)
            assert code == 1 and "Read-only file system" in err and "Traceback" not in err, err


def test_atomic_files_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    """Outputs (and the installed weights) are readable by others as any new file is, not 0o600 from mkstemp."""
    import os

    umask = os.umask(0o022)
    try:
        with tqgd.io.atomic_path(tmp_path / "weights.pt") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "weights.pt").stat().st_mode & 0o777 == 0o644
