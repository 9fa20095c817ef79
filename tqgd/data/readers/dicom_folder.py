"""Find the DICOM image files under a folder and group them by series, parsing each file exactly once.

Files that are not DICOM images (DICOMDIR, reports, .txt notes, thumbnails) are skipped and counted, never
fatal. A file that claims to be DICOM (the "DICM" preamble) but cannot be parsed is an error: skipping it would
silently leave a hole in the scan. Several image series in one folder are listed so the user can pick one.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from tqgd.data.readers import looks_like_dicom
from tqgd.errors import ScanReadError, SeriesError

NOT_DICOM_MESSAGE = ("not a DICOM file (no 'DICM' marker at byte 128 and no readable DICOM header); point tqgd at a "
                     "DICOM series folder or file, .mhd, .nii(.gz) or image file")

#: File endings tried as DICOM even without the Part 10 preamble (old ACR-NEMA style exports).
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")


@dataclass
class SeriesFiles:
    """The image files of one SeriesInstanceUID found in a folder."""

    uid: str
    files: list[tuple[Path, Dataset]] = field(default_factory=list)

    @property
    def description(self) -> str:
        return str(self.files[0][1].get("SeriesDescription", "") or "").strip()

    @property
    def modality(self) -> str:
        return str(self.files[0][1].get("Modality", "") or "").strip() or "?"

    def summary(self) -> str:
        """One line for a listing: UID, description, modality and file count."""
        description = self.description or "(no description)"
        return f"{self.uid or '(no SeriesInstanceUID)'}  {description!r}  {self.modality}  {len(self.files)} file(s)"


@dataclass
class FolderScan:
    """Image series found under a folder, and the files that were skipped with the reason for each."""

    series: dict[str, SeriesFiles]
    skipped: list[tuple[Path, str]]


def parse_dicom(path: Path, *, force: bool = False) -> Dataset:
    """Parse one file with pydicom (pixel bytes read, not decoded); any failure becomes a ``ScanReadError``.

    ``force`` reads files without the "DICM" preamble; what comes back must still look like a DICOM image header.
    A file that ends inside an element (pydicom only warns) is reported as truncated.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=force)
        except pydicom.errors.InvalidDicomError as exc:
            raise ScanReadError(NOT_DICOM_MESSAGE, path) from exc
        except Exception as exc:  # pydicom raises many types on damaged headers; all mean "unreadable" to the user
            raise ScanReadError(f"DICOM header cannot be parsed ({type(exc).__name__}: {exc}); the file is damaged "
                                "or truncated. Copy it again from the source", path) from exc
        try:  # pydicom decodes element values lazily: a damaged one (e.g. an unknown VR) would fail later, anywhere
            for _ in ds.iterall():
                pass
        except Exception as exc:
            raise ScanReadError(f"a DICOM header element cannot be decoded ({type(exc).__name__}: {exc}); the file is "
                                "damaged. Copy it again from the source", path) from exc
    for warning in caught:
        if "end of file" in str(warning.message).lower():
            raise ScanReadError(f"the file is truncated ({warning.message}); copy it again from the source", path)
        warnings.warn(warning.message, warning.category, stacklevel=2)
    if force and not any(keyword in ds for keyword in ("SOPClassUID", "Modality", "PixelData")):
        raise ScanReadError(NOT_DICOM_MESSAGE, path)
    return ds


def _walk_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (recursively, hidden files excluded), in a stable order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / name for name in sorted(files) if not name.startswith("."))
    return found


def _read_candidate(path: Path) -> tuple[Dataset | None, str]:
    """Parse ``path`` if it is a DICOM image; otherwise (None, reason it was skipped)."""
    if looks_like_dicom(path):
        ds = parse_dicom(path)
    elif path.suffix.lower() in DICOM_SUFFIXES or path.suffix == "":
        try:
            ds = parse_dicom(path, force=True)
        except ScanReadError:
            return None, "not DICOM"
    else:
        return None, "not DICOM"
    if "PixelData" not in ds:
        return None, "DICOM without pixel data (e.g. DICOMDIR, report)"
    return ds, ""


def scan_folder(folder: Path) -> FolderScan:
    """Parse every file under ``folder`` once and group the DICOM images by SeriesInstanceUID."""
    series: dict[str, SeriesFiles] = {}
    skipped: list[tuple[Path, str]] = []
    for path in _walk_files(folder):
        ds, reason = _read_candidate(path)
        if ds is None:
            skipped.append((path, reason))
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        series.setdefault(uid, SeriesFiles(uid)).files.append((path, ds))
    return FolderScan(series, skipped)


def skipped_summary(skipped: list[tuple[Path, str]]) -> str:
    """'3 not DICOM, 1 DICOM without pixel data' for messages and metadata."""
    counts = Counter(reason for _, reason in skipped)
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def choose_series(scan: FolderScan, folder: Path, series_uid: str | None) -> SeriesFiles:
    """The one series to read: the only one, or the one named by ``series_uid``; else a listing error."""
    if not scan.series:
        detail = f" ({len(scan.skipped)} file(s) skipped: {skipped_summary(scan.skipped)})" if scan.skipped else ""
        raise ScanReadError(f"no DICOM image files found in this folder or below{detail}; point tqgd at the folder "
                            "that holds the CT slices", folder)
    listing = "\n  ".join(s.summary() for s in sorted(scan.series.values(), key=lambda s: (-len(s.files), s.uid)))
    if series_uid is not None:
        if series_uid not in scan.series:
            raise SeriesError(f"no series with SeriesInstanceUID {series_uid!r} here; the folder holds:\n  {listing}",
                              folder)
        return scan.series[series_uid]
    if len(scan.series) > 1:
        raise SeriesError(f"the folder holds {len(scan.series)} image series; choose one with --series-uid "
                          f"(series_uid=...):\n  {listing}", folder)
    return next(iter(scan.series.values()))
