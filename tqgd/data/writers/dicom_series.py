"""Write a ``CTVolume`` as a DICOM CT Image Storage series: one file per slice, real pydicom datasets.

HU are stored as integers (``stored = round((HU - intercept) / slope)``) in uint16 when they fit, else int16,
with the slice geometry (ImagePositionPatient, ImageOrientationPatient, PixelSpacing) taken from the volume.
Output is deterministic for a given ``uid_seed``: every UID comes from ``generate_uid(entropy_srcs=...)`` and no
tag holds the current date or time, so the same phantom gives byte-identical files.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from tqgd.data.volume import CTVolume
from tqgd.errors import ConfigError, OutputError
from tqgd.io import atomic_path

#: Transfer syntaxes this writer produces; all lossless, so a round trip gives back the same HU exactly.
#: JPEG Lossless (Process 14) is missing because pydicom has no encoder for it (reading it works).
WRITABLE_TRANSFER_SYNTAXES: dict[str, str] = {
    ExplicitVRLittleEndian: "uncompressed (explicit VR little endian)",
    ImplicitVRLittleEndian: "uncompressed (implicit VR little endian)",
    RLELossless: "RLE Lossless (pydicom's own encoder)",
    JPEGLSLossless: "JPEG-LS Lossless (pyjpegls)",
    JPEG2000Lossless: "JPEG 2000 Lossless (pylibjpeg-openjpeg)",
}

#: Soft-tissue display window written as WindowCenter/WindowWidth (viewers only; HU are unaffected).
DEFAULT_WINDOW_CENTER_HU = 40.0
DEFAULT_WINDOW_WIDTH_HU = 400.0

#: openjpeg always encodes 6 wavelet resolutions, which needs 2**5 pixels on each side.
MIN_JPEG2000_SIDE_PX = 32

_UID_PARTS = ("study", "series", "frame-of-reference")


def _uid(seed: str | None, *parts: object) -> UID:
    """A UID derived from ``seed`` and ``parts`` (stable across runs), or a random one when no seed is given."""
    if seed is None:
        return generate_uid()
    return generate_uid(entropy_srcs=[seed, *(str(p) for p in parts)])


def _stored_values(hu: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """HU (Z, Y, X) float -> stored integers (Z, Y, X) as uint16 when all are >= 0, else int16."""
    if not np.isfinite(hu).all():
        raise ConfigError("the volume holds NaN or infinite HU; DICOM stores integers only")
    stored = np.rint((hu.astype(np.float64) - intercept) / slope)
    low, high = float(stored.min()), float(stored.max())
    for dtype in (np.uint16, np.int16):
        info = np.iinfo(dtype)
        if low >= info.min and high <= info.max:
            return stored.astype(dtype)
    raise ConfigError(f"stored values span {low:.0f}..{high:.0f} with RescaleSlope {slope} and RescaleIntercept "
                      f"{intercept}, which fits neither uint16 nor int16; pass a larger rescale_slope or another "
                      "rescale_intercept")


def _slice_positions(volume: CTVolume) -> np.ndarray:
    """(Z, 3) patient position in mm of each slice's first voxel."""
    if volume.slice_positions_mm is not None:
        return np.asarray(volume.slice_positions_mm, dtype=np.float64)
    z_step = volume.direction[:, 2] * volume.spacing_mm[0]
    return np.asarray(volume.origin_mm) + np.arange(volume.shape[0])[:, None] * z_step


def _ds_number(value: float) -> str:
    """A DICOM DS string (at most 16 characters) that reads back as ``value`` to about 1e-6 mm."""
    value = 0.0 if abs(value) < 1e-9 else float(value)
    for digits in range(10, 3, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{value:.4g}"


def _series_dataset(volume: CTVolume, uids: dict[str, UID], *, patient_id: str, patient_name: str,
                    series_description: str, kvp: float, slice_thickness_mm: float, rescale_intercept: float,
                    rescale_slope: float, signed: bool) -> Dataset:
    """The tags every slice of the series shares (patient, study, series, frame of reference, image pixel)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Modality = "CT"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = uids["study"]
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = uids["series"]
    ds.SeriesNumber = 1
    ds.SeriesDescription = series_description
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = uids["frame-of-reference"]
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "tqgd"
    ds.AcquisitionNumber = 1
    ds.KVP = _ds_number(kvp)
    ds.SliceThickness = _ds_number(slice_thickness_mm)
    ds.SpacingBetweenSlices = _ds_number(volume.spacing_mm[0])
    ds.ImageOrientationPatient = [_ds_number(v) for v in (*volume.direction[:, 0], *volume.direction[:, 1])]
    ds.PixelSpacing = [_ds_number(volume.spacing_mm[1]), _ds_number(volume.spacing_mm[2])]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleIntercept = _ds_number(rescale_intercept)
    ds.RescaleSlope = _ds_number(rescale_slope)
    ds.RescaleType = "HU"
    ds.WindowCenter = _ds_number(DEFAULT_WINDOW_CENTER_HU)
    ds.WindowWidth = _ds_number(DEFAULT_WINDOW_WIDTH_HU)
    return ds


def _check_options(volume: CTVolume, transfer_syntax: str, rescale_slope: float, file_name: str) -> None:
    if transfer_syntax not in WRITABLE_TRANSFER_SYNTAXES:
        name = UID(transfer_syntax).name
        choices = "; ".join(f"{uid} = {what}" for uid, what in WRITABLE_TRANSFER_SYNTAXES.items())
        raise ConfigError(f"cannot write transfer syntax {name} ({transfer_syntax}): pydicom has no lossless encoder "
                          f"for it; choose one of: {choices}")
    if not (np.isfinite(rescale_slope) and rescale_slope > 0):
        raise ConfigError(f"rescale_slope must be a positive number, got {rescale_slope}")
    if "{index" not in file_name:
        raise ConfigError(f"file_name {file_name!r} must contain '{{index}}' (e.g. 'IM{{index:04d}}.dcm') so each "
                          "slice gets its own file")
    if transfer_syntax == JPEG2000Lossless and min(volume.shape[1:]) < MIN_JPEG2000_SIDE_PX:
        raise ConfigError(f"JPEG 2000 needs slices of at least {MIN_JPEG2000_SIDE_PX} px a side (openjpeg encodes 6 "
                          f"wavelet levels), got {volume.shape[1]}x{volume.shape[2]}; use RLE or JPEG-LS Lossless")
    if min(volume.spacing_mm) <= 0:
        raise ConfigError(f"voxel spacing must be positive to write DICOM geometry, got {volume.spacing_mm} mm")


def write_dicom_series(volume: CTVolume, out_dir: str | Path, *, patient_id: str = "ANON", patient_name: str = "",
                       study_uid: str | None = None, series_uid: str | None = None, series_description: str = "",
                       kvp: float = 120.0, slice_thickness_mm: float | None = None,
                       rescale_intercept: float = -1024.0, rescale_slope: float = 1.0,
                       transfer_syntax: str = ExplicitVRLittleEndian, uid_seed: str | None = None,
                       file_name: str = "IM{index:04d}.dcm") -> list[Path]:
    """Write ``volume`` (HU) to ``out_dir`` as one CT Image Storage file per slice; return the paths in z order.

    ``file_name`` is formatted with the 1-based ``index`` (= InstanceNumber). Slices are written in the volume's z
    order; when its z axis runs against the DICOM slice normal (row x column), ``read_ct`` returns the slices
    re-ordered along the normal, with the same patient positions. ``slice_thickness_mm`` defaults to
    the volume's own thickness, else its z spacing. ``uid_seed`` makes every UID (and so every byte) reproducible.

    Raises:
        ConfigError: unsupported transfer syntax, HU that do not fit 16 bits with this slope/intercept, bad options.
        OutputError: ``out_dir`` cannot be written.
    """
    _check_options(volume, transfer_syntax, rescale_slope, file_name)
    out_dir = Path(out_dir)
    stored = _stored_values(volume.hu, rescale_slope, rescale_intercept)
    thickness = slice_thickness_mm or volume.meta.slice_thickness_mm or volume.spacing_mm[0]
    uids = {part: _uid(uid_seed, part) for part in _UID_PARTS}
    uids["study"] = UID(study_uid) if study_uid else uids["study"]
    uids["series"] = UID(series_uid) if series_uid else uids["series"]
    shared = _series_dataset(volume, uids, patient_id=patient_id, patient_name=patient_name,
                             series_description=series_description, kvp=kvp, slice_thickness_mm=thickness,
                             rescale_intercept=rescale_intercept, rescale_slope=rescale_slope,
                             signed=stored.dtype == np.int16)
    positions = _slice_positions(volume)
    normal = np.cross(volume.direction[:, 0], volume.direction[:, 1])  # DICOM's slice normal, for SliceLocation
    paths = []
    for k in range(volume.shape[0]):
        index = k + 1
        ds = copy.deepcopy(shared)
        sop_uid = _uid(uid_seed, uids["series"], "instance", index)
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = index
        ds.ImagePositionPatient = [_ds_number(v) for v in positions[k]]
        ds.SliceLocation = _ds_number(float(positions[k] @ normal))
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.file_meta = _file_meta(sop_uid)
        if transfer_syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            _compress(ds, stored[k], transfer_syntax)
        ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
        target = out_dir / file_name.format(index=index)
        with atomic_path(target) as tmp:
            try:
                ds.save_as(tmp, enforce_file_format=True)
            except OSError as exc:
                raise OutputError(f"cannot write DICOM slice {index} ({exc.strerror})", target) from exc
        paths.append(target)
    return paths


def _compress(ds: Dataset, stored_slice: np.ndarray, transfer_syntax: str) -> None:
    """Encode one slice in place with pydicom's encoder for ``transfer_syntax`` (the SOP Instance UID is kept)."""
    try:
        ds.compress(transfer_syntax, stored_slice, generate_instance_uid=False)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"the {UID(transfer_syntax).name} encoder failed on a {ds.Rows}x{ds.Columns} slice: "
                          f"{str(exc).splitlines()[-1]}") from exc


def _file_meta(sop_instance_uid: UID) -> FileMetaDataset:
    """Part 10 file meta information for one CT slice (the transfer syntax is set by the caller)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"TQGD_PYDICOM_{pydicom.__version__}"[:16]
    return meta
