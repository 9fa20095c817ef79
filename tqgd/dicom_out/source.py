"""The source CT series as pydicom datasets, in the z order of the volume ``read_ct`` returns.

SEG frames and SR references must name the instances the scored voxels came from; the datasets are re-read and
ordered with the reader's own geometry code (``dicom_geometry.layout_series``), then checked against the scored
scan's series UID and slice count, so a mismatch stops with a named error instead of a SEG on the wrong slices.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from tqgd.data.readers.dicom_folder import choose_series, parse_dicom, scan_folder
from tqgd.data.readers.dicom_geometry import layout_series
from tqgd.data.readers.dicom_slices import numbers, slice_headers
from tqgd.errors import DicomOutputError


def source_datasets(path: str | Path, series_uid: str | None, n_slices: int) -> list[Dataset]:
    """The ``n_slices`` CT datasets of series ``series_uid`` at ``path`` (a file or folder), in volume z order.

    Raises:
        DicomOutputError: the input is not a single-frame DICOM CT series matching the scored scan.
    """
    path = Path(path)
    if path.is_dir():
        files = choose_series(scan_folder(path), path, series_uid).files
    else:
        files = [(path, parse_dicom(path))]
    headers = [header for file, ds in files for header in slice_headers(ds, file)]
    if len(headers) != len(files):
        raise DicomOutputError("DICOM results are written for single-frame CT series only; this series holds "
                               f"{len(headers)} frames in {len(files)} file(s) (Enhanced CT). Score it without "
                               "--dicom, or export it as single-frame CT", path)
    single = numbers(files[0][1], "SpacingBetweenSlices", files[0][0], 1)
    layout = layout_series(headers, path, single[0] if single else headers[0].thickness_mm)
    ordered = [files[i][1] for i in layout.order]
    found_uid = str(ordered[0].get("SeriesInstanceUID", ""))
    if series_uid and found_uid != series_uid:
        raise DicomOutputError(f"the scored scan is series {series_uid}, but the DICOM files here are series "
                               f"{found_uid}; give the series that was scored", path)
    if len(ordered) != n_slices:
        raise DicomOutputError(f"the scored mask has {n_slices} slices but the DICOM series has {len(ordered)}; "
                               "give the series that was scored", path)
    if str(ordered[0].get("Modality", "")) != "CT":
        raise DicomOutputError(f"expected a CT series (Modality CT), got Modality {ordered[0].get('Modality')!r}", path)
    return ordered
