"""The output folder of a conversion: refuse unsafe locations, mark it as tqgd's, and clear leftovers at the end.

A folder is only written into when it is new, empty, or already marked by an earlier tqgd conversion (the
``.tqgd-dataset`` marker), so a mistyped OUT never mixes a dataset into someone's files. OUT and SRC must
not contain each other, so the source is never written into and the output is never read as input.
``remove_stale`` deletes files a previous (killed or differently configured) run left in the managed
folders, which is what makes a re-run end identical to an uninterrupted one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tqgd.errors import OutputError
from tqgd.io import check_writable

MARKER_NAME = ".tqgd-dataset"
MARKER_TEXT = "This folder was written by tqgd convert; re-running the conversion may replace its contents.\n"
#: Sub-folders whose whole content belongs to the conversion.
MANAGED_DIRS = ("images", "labels", "voc", "annotations", "folds", "masks")
#: Top-level files the conversion owns (plus the temporary files of their atomic writes).
MANAGED_FILE_RE = re.compile(r"^\.?(fold\d+\.yaml|orcascore\.yaml|dataset\.yaml|manifest\.csv|convert\.json)(\..*)?$")
#: The file written last: its presence means the conversion finished.
COMPLETION_FILE = "convert.json"


def _overlap(out: Path, source: Path) -> str | None:
    """Why ``out`` may not be used with ``source``, or None when they are apart."""
    if source.is_file():
        return "the input file lies inside the output folder" if source.is_relative_to(out) else None
    if out.is_relative_to(source):
        return "the output folder lies inside the input folder"
    if source.is_relative_to(out):
        return "the input folder lies inside the output folder"
    return None


def prepare_output(out: str | Path, sources: Iterable[str | Path]) -> Path:
    """Check and create ``out`` for a conversion of ``sources``; returns the resolved folder.

    Raises:
        OutputError: ``out`` overlaps a source, is a file, or is a non-empty folder tqgd did not write.
    """
    out = Path(out).resolve()
    for source in sources:
        source = Path(source).resolve()
        problem = _overlap(out, source)
        if problem:
            raise OutputError(f"{problem} ({source}); a conversion never writes into its input or reads its own "
                              "output: choose an output folder outside the input", out)
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose a folder path for the dataset", out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER_NAME).is_file():
        raise OutputError(f"folder is not empty and has no {MARKER_NAME} marker from an earlier tqgd conversion; "
                          "choose a new or empty folder so no unrelated file is overwritten", out)
    check_writable(out)  # a read-only or full output folder fails here, before any scan is read
    try:
        out.mkdir(parents=True, exist_ok=True)
        marker = out / MARKER_NAME
        if not marker.is_file():
            marker.write_text(MARKER_TEXT)
        (out / COMPLETION_FILE).unlink(missing_ok=True)  # no convert.json until this run has finished
    except OSError as exc:
        raise OutputError(f"cannot write the dataset here ({exc.strerror}); choose a writable folder", out) from exc
    return out


def remove_stale(out: Path, keep: set[Path]) -> list[Path]:
    """Delete files in the managed folders (and managed top-level files) of ``out`` not in ``keep``."""
    keep = {Path(p).resolve() for p in keep}
    candidates = [p for d in MANAGED_DIRS if (out / d).is_dir() for p in (out / d).rglob("*") if p.is_file()]
    candidates += [p for p in out.iterdir() if p.is_file() and MANAGED_FILE_RE.match(p.name)]
    removed = []
    for path in sorted(candidates):
        if path.resolve() not in keep:
            try:
                path.unlink()
            except OSError as exc:
                raise OutputError(f"cannot remove a file left by an earlier run ({exc.strerror})", path) from exc
            removed.append(path)
    for folder in MANAGED_DIRS:  # folders a previous run needed (e.g. voc/) but this one does not
        if (out / folder).is_dir() and not any((out / folder).iterdir()):
            (out / folder).rmdir()
    return removed
