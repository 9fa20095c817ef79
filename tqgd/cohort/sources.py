"""The scans of a cohort: a folder tree of scans, or a CSV manifest of scan paths (and series UIDs).

Folder tree: every folder that holds DICOM files (a ``.dcm``/``.dicom``/``.ima`` name or the "DICM" preamble, as
``tqgd detect`` decides) is one series and is not searched further; every ``.mhd``, ``.mha``, ``.nii`` or ``.nii.gz``
file is one scan; everything else (MetaImage ``.raw`` data, notes, PNG exports) is counted as ignored. A folder
holding several DICOM series is one scan that fails with the reader's list of series: give such folders in a
manifest, one row per ``series_uid``.

Manifest: a CSV file with a header; column ``path`` (a scan as ``tqgd detect`` takes it, relative paths read from the
manifest's folder) and optionally ``series_uid``; other columns are not used. Each scan gets a ``key``: 16 hex digits
of the SHA-256 of its path (relative to the source folder, or as written in the manifest) and series UID, so a
re-run, or a moved source folder, finds the same scans.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tqgd.errors import CohortError

#: File endings of 3D scans in a folder tree (DICOM series are folders).
SCAN_SUFFIXES = (".nii.gz", ".mhd", ".mha", ".nii")
#: File endings of a DICOM file even without the "DICM" preamble.
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
MANIFEST_COLUMNS = ("path", "series_uid")


@dataclass(frozen=True)
class ScanTask:
    """One scan to process: ``key`` (stable ID of the source), ``path`` (absolute), ``series_uid`` (or None),
    ``source`` (the path as found: relative to the folder, or as written in the manifest)."""

    key: str
    path: str
    series_uid: str | None
    source: str


@dataclass
class CohortSource:
    """The scans of SOURCE and the files that were not taken as scans (folder trees only)."""

    scans: list[ScanTask]
    ignored: list[str]


def scan_key(source: str, series_uid: str | None) -> str:
    """16 hex digits identifying a scan: SHA-256 of its source path and series UID."""
    return hashlib.sha256(f"{source}\0{series_uid or ''}".encode()).hexdigest()[:16]


def _is_dicom(path: Path) -> bool:
    from tqgd.data.readers import looks_like_dicom

    return path.name.lower().endswith(DICOM_SUFFIXES) or looks_like_dicom(path)


def find_cohort(source: Path) -> CohortSource:
    """The scans of a folder tree, a manifest (``.csv``) or a single scan, in a stable (sorted) order.

    Raises:
        CohortError: a malformed manifest, or a source with no scans in it.
    """
    source = source.resolve()
    if source.is_file() and source.suffix.lower() == ".csv":
        return read_manifest(source)
    if source.is_file():
        return CohortSource([ScanTask(scan_key(source.name, None), str(source), None, source.name)], [])
    scans, ignored = [], []
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        names = sorted(f for f in files if not f.startswith("."))
        if any(_is_dicom(here / f) for f in names):
            dirs[:] = []  # a series folder: its files are its slices
            relative = here.relative_to(source).as_posix()
            scans.append(ScanTask(scan_key(relative, None), str(here), None, relative))
            continue
        for name in names:
            relative = (here / name).relative_to(source).as_posix()
            if name.lower().endswith(SCAN_SUFFIXES):
                scans.append(ScanTask(scan_key(relative, None), str(here / name), None, relative))
            else:
                ignored.append(relative)
    if not scans:
        raise CohortError("no scans found: expected DICOM series folders, .mhd/.mha or .nii/.nii.gz files anywhere "
                          "below, or a CSV manifest with a 'path' column", source)
    return CohortSource(sorted(scans, key=lambda s: s.source), ignored)


def read_manifest(manifest: Path) -> CohortSource:
    """Scans listed in a CSV manifest (see the module docstring).

    Raises:
        CohortError: no ``path`` column, an empty path, a row listed twice, or no rows; names the line.
    """
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = [(reader.line_num, row) for row in reader]  # line numbers as an editor shows them
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CohortError(f"the manifest cannot be read as CSV ({exc})", manifest) from exc
    if not rows:
        raise CohortError("the manifest lists no scans: expected a header line with a 'path' column, then one scan "
                          "per line", manifest)
    if "path" not in header:
        raise CohortError(f"the manifest has no 'path' column (columns: {', '.join(map(str, header))}); name the "
                          "column holding scan paths 'path' (optional: 'series_uid')", manifest)
    scans, seen = [], {}
    for line, row in rows:
        written = (row.get("path") or "").strip()
        if not written:
            raise CohortError(f"line {line}: empty path; every row needs a scan path", manifest)
        series_uid = (row.get("series_uid") or "").strip() or None
        key = scan_key(written, series_uid)
        if key in seen:
            raise CohortError(f"line {line} repeats line {seen[key]} ({written}"
                              f"{', ' + series_uid if series_uid else ''}); list each scan once", manifest)
        seen[key] = line
        path = Path(written).expanduser()
        path = path if path.is_absolute() else manifest.parent / path
        scans.append(ScanTask(key, str(path), series_uid, written))
    return CohortSource(scans, [])
