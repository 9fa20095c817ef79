"""DICOM CT reader: one file, a folder holding one series, or a folder holding several (pick by series UID).

Each file is parsed once and its pixels decoded once, straight into one preallocated (Z, Y, X) float32 volume:
HU = stored value x RescaleSlope + RescaleIntercept, with each slice's own slope and intercept. Slices are
ordered by position along the slice normal (``dicom_geometry``); classic CT and Enhanced CT (multi-frame) are
both read (``dicom_slices``, ``dicom_enhanced``); compressed pixel data go through pydicom's decoders
(``dicom_pixels``). Direct patient identifiers are kept in ``meta.patient`` only, and the scan ID comes from the
SeriesInstanceUID, never from a folder or file name (exports name those after patients).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from tqgd.data.readers import looks_like_dicom, reader
from tqgd.data.readers.dicom_folder import choose_series, parse_dicom, scan_folder, skipped_summary
from tqgd.data.readers.dicom_geometry import SeriesLayout, layout_series
from tqgd.data.readers.dicom_pixels import check_decodable, decode_frames, transfer_syntax
from tqgd.data.readers.dicom_slices import SliceHeader, numbers, slice_headers
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.errors import ScanReadError, SeriesError

#: DICOM elements that identify the patient directly; kept in ``meta.patient``, never printed by default.
IDENTIFIER_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "AccessionNumber",
                       "InstitutionName", "ReferringPhysicianName", "StudyDate")

#: Hex digits of the SeriesInstanceUID hash in a DICOM scan ID (48 bits: no clash in any realistic archive).
SCAN_ID_HEX_DIGITS = 12

#: Descriptive elements copied into ``meta.extra`` when present (useful for scoring and reports).
DESCRIPTIVE_KEYWORDS = ("SeriesDescription", "Manufacturer", "ManufacturerModelName", "ConvolutionKernel")


def _read_single_file(path: Path, series_uid: str | None) -> list[tuple[Path, Dataset]]:
    ds = parse_dicom(path, force=not looks_like_dicom(path))
    if not any(keyword in ds for keyword in ("SOPClassUID", "Modality", "PixelData")):
        raise ScanReadError(f"the DICOM file holds no image header ({len(ds)} element(s): no SOPClassUID, Modality or "
                            "Pixel Data); it is truncated or damaged, or not an image (e.g. a DICOMDIR)", path)
    found_uid = str(ds.get("SeriesInstanceUID", ""))
    if series_uid is not None and found_uid != series_uid:
        raise SeriesError(f"series_uid {series_uid!r} was asked for, but this file belongs to series {found_uid!r}",
                          path)
    return [(path, ds)]


@reader(".dcm", ".dicom", ".ima")
def read_dicom(path: str | Path, series_uid: str | None = None) -> CTVolume:
    """Read a DICOM CT file or series folder as a ``CTVolume`` in HU (see the module docstring).

    Raises:
        ScanReadError: not DICOM, not CT, no pixels, missing/invalid geometry or rescale tags, truncated data.
        SeriesError: several series without ``series_uid``, mixed sizes/orientations, duplicate slice positions.
        UnsupportedFormatError: a compression no installed decoder handles, colour images, legacy multi-frame.
    """
    path = Path(path)
    if path.is_dir():
        scan = scan_folder(path)
        files, skipped = choose_series(scan, path, series_uid).files, scan.skipped
    else:
        files, skipped = _read_single_file(path, series_uid), []
    return build_volume(files, path, skipped)


def _fill_hu(stored: np.ndarray, slope: float, intercept: float, out: np.ndarray) -> None:
    """Write stored x slope + intercept into ``out`` (Y, X) float32 without intermediate volumes."""
    if slope == 1.0 and float(intercept).is_integer():
        np.add(stored, np.float32(intercept), out=out, dtype=np.float32, casting="unsafe")  # exact below 2**24
    else:
        out[...] = stored * slope + intercept  # in float64, rounded once to float32


def _decode_into(files: Sequence[tuple[Path, Dataset]], headers: list[SliceHeader], layout: SeriesLayout,
                 hu: np.ndarray) -> None:
    """Decode each file once and put each of its frames at its z index in ``hu``."""
    z_of_header = np.empty(len(headers), dtype=int)
    z_of_header[layout.order] = np.arange(len(headers))
    start = 0
    for path, ds in files:
        n_frames = headers[start].frames_in_file
        frames = decode_frames(ds, path, headers[start].rows, headers[start].columns, n_frames)
        for frame in range(n_frames):
            header = headers[start + frame]
            _fill_hu(frames[frame], header.slope, header.intercept, hu[z_of_header[start + frame]])
        start += n_frames


def _metadata(files: Sequence[tuple[Path, Dataset]], headers: list[SliceHeader], layout: SeriesLayout,
              source: Path, skipped: list[tuple[Path, str]]) -> ScanMetadata:
    first = files[0][1]
    in_z = [headers[i] for i in layout.order]
    kvps = sorted({h.kvp for h in in_z if h.kvp is not None})
    thicknesses = sorted({h.thickness_mm for h in in_z if h.thickness_mm is not None})
    rescale_types = sorted({h.rescale_type or "HU" for h in in_z})
    syntaxes = sorted({transfer_syntax(ds).name for _, ds in files})
    extra: dict[str, Any] = {"n_files": len(files), "transfer_syntax": syntaxes, **layout.extra}
    extra.update({k: str(first.get(k)) for k in DESCRIPTIVE_KEYWORDS if first.get(k) not in (None, "")})
    if skipped:
        extra["skipped_files"] = len(skipped)
        extra["skipped_reasons"] = skipped_summary(skipped)
    if len(kvps) > 1:
        extra["kvp_values"] = kvps
    if len(thicknesses) > 1:
        extra["slice_thickness_values_mm"] = thicknesses
    if len({(h.slope, h.intercept) for h in in_z}) > 1:
        extra["rescale_varies_per_slice"] = True
    if rescale_types != ["HU"]:
        extra["rescale_type"] = rescale_types
        extra["note_rescale"] = f"RescaleType {rescale_types} is not HU: values are not Hounsfield units"
    if any(str(ds.get("LossyImageCompression", "00")) == "01" for _, ds in files):
        extra["lossy_compression"] = True
    tag_spacing = numbers(first, "SpacingBetweenSlices", files[0][0], 1)
    if tag_spacing is not None:
        extra["spacing_between_slices_tag_mm"] = tag_spacing[0]
    patient = {k: str(first.get(k)) for k in IDENTIFIER_KEYWORDS if first.get(k) not in (None, "")}
    by_path = dict(files)
    sop_uids = [str(by_path[h.path].get("SOPInstanceUID", "")) for h in in_z]
    return ScanMetadata(
        source=source, format="dicom", has_hu=rescale_types == ["HU"], kvp=kvps[0] if kvps else None,
        slice_thickness_mm=float(np.median([h.thickness_mm for h in in_z if h.thickness_mm is not None]))
        if thicknesses else None,
        slice_spacing_mm=layout.spacing_mm[0], modality="CT",
        series_uid=str(first.get("SeriesInstanceUID", "")) or None,
        study_uid=str(first.get("StudyInstanceUID", "")) or None,
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")) or None,
        sop_instance_uids=list(dict.fromkeys(sop_uids)),
        scan_id=dicom_scan_id(str(first.get("SeriesInstanceUID", "")), sop_uids),
        patient=patient, extra=extra)


def dicom_scan_id(series_uid: str, sop_instance_uids: Sequence[str]) -> str:
    """The scan ID of a DICOM series, ``series-`` and 12 hex digits of a hash of its SeriesInstanceUID.

    Hospital exports name folders and files after patients (``DOE_JOHN/``); the ID travels into output names, tables
    and reports, so it comes from the data, not the path, and is short enough for a file name (the full UID is kept
    in ``meta.series_uid``). A series without a SeriesInstanceUID is named by its SOPInstanceUIDs instead.
    """
    key = series_uid.strip() or "\n".join(sorted(sop_instance_uids))
    return f"series-{hashlib.sha256(key.encode()).hexdigest()[:SCAN_ID_HEX_DIGITS]}"


def build_volume(files: Sequence[tuple[Path, Dataset]], source: Path,
                 skipped: list[tuple[Path, str]] | None = None) -> CTVolume:
    """Assemble parsed DICOM files of one series into a ``CTVolume`` (checks, sorting, decoding, metadata)."""
    headers = [header for path, ds in files for header in slice_headers(ds, path)]
    first_ds = files[0][1]
    single_spacing = numbers(first_ds, "SpacingBetweenSlices", files[0][0], 1)
    layout = layout_series(headers, source, single_spacing[0] if single_spacing else headers[0].thickness_mm)
    checked: set[str] = set()
    for path, ds in files:
        uid = transfer_syntax(ds)
        if uid not in checked:
            check_decodable(ds, path)
            checked.add(uid)
    hu = np.empty((len(headers), headers[0].rows, headers[0].columns), dtype=np.float32)
    _decode_into(files, headers, layout, hu)
    meta = _metadata(files, headers, layout, source, skipped or [])
    positions = layout.positions_mm
    origin = tuple(positions[0]) if positions is not None else (0.0, 0.0, 0.0)
    return CTVolume(hu=hu, spacing_mm=layout.spacing_mm, origin_mm=origin, direction=layout.direction, meta=meta,
                    slice_positions_mm=positions)
