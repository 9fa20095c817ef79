"""Atomic file output: write to a temporary file in the target folder, then rename over the target.

A reader never sees a half-written file, and an interrupted run leaves either the old file or the new one. A full
disk or a read-only folder surfaces as an ``OutputError`` naming the file (never a bare ``OSError`` from deep in a
library), and ``check_writable`` finds either before any work starts, by writing a probe file (permission bits
alone mislead: root ignores them, and a read-only mount or a full disk does not show in them).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqgd.errors import OutputError

#: errno values that mean "this location cannot take the output" rather than a bug or a bad input.
def _file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file (0o666 less the umask); mkstemp's 0o600 is private."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})
_PROBE_PREFIX = ".tqgd-write-probe-"


def output_error(exc: OSError, target: Path, doing: str = "write") -> OutputError:
    """An ``OutputError`` for ``exc`` at ``target``, saying what to do for a full disk or a read-only place."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = "free some space or choose another output folder, then run again (finished files are kept)"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = "choose a writable output folder"
    else:
        advice = "check the disk and the output folder, then run again"
    return OutputError(f"cannot {doing} here ({reason}); {advice}", target)


def check_writable(folder: str | Path) -> Path:
    """Prove ``folder`` takes a file (create it if needed, write, flush and remove a probe); return it resolved.

    Folders created for the probe are removed again, so a run that fails later leaves nothing behind.

    Raises:
        OutputError: the folder cannot be created or written (read-only, no permission, full disk).
    """
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise OutputError("exists and is not a folder; choose a folder for the output", folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_PROBE_PREFIX, dir=folder)
        try:
            os.write(fd, b"tqgd")
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)
    except OSError as exc:
        raise output_error(exc, folder, "write output") from exc
    finally:
        for made in created:  # deepest first
            with contextlib.suppress(OSError):
                made.rmdir()
    return folder


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it is renamed to ``target``, on error removed.

    ``suffix`` defaults to the target's own suffix(es) so libraries that choose a writer by extension
    (SimpleITK, OpenCV) still see e.g. ``.nii.gz``.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or "".join(target.suffixes) or ".tmp",
                                        dir=target.parent)
        os.fchmod(fd, _file_mode())
        os.close(fd)
    except OSError as exc:
        raise output_error(exc, target.parent) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno in OUTPUT_ERRNOS:  # a full disk or read-only place while writing or renaming, not a bug
            raise output_error(exc, target) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``target``."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (numpy scalars and paths converted)."""
    return write_text(target, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
