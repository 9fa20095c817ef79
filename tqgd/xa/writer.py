"""Write a cine (F, H, W) uint8 as one X-Ray Angiographic Image Storage object (multi-frame, 8-bit, LOG).

Modules written: Patient, General Study, General Series, General Equipment, General Image, Image Pixel,
Cine, Multi-frame, X-Ray Image, X-Ray Acquisition, XA Positioner and SOP Common (PS3.3 A.14). Frame Time (ms) is
the Frame Increment Pointer's target; Imager Pixel Spacing, Distance Source to Detector / to Patient and the
estimated magnification are written so a reader can recover the isocentre spacing. Every UID derives from
``uid_seed`` and no tag holds the date of writing, so a seed gives the same bytes. ``compression`` encodes the
frames losslessly with pydicom's encoders (RLE Lossless, JPEG-LS Lossless); the default is uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from tqgd.errors import ConfigError
from tqgd.io import atomic_path
from tqgd.xa.reader import XA_IMAGE_STORAGE

COMPRESSIONS: dict[str, str] = {"none": ExplicitVRLittleEndian, "rle": RLELossless, "jpegls": JPEGLSLossless}
MS_PER_S = 1000.0


@dataclass(frozen=True)
class XAHeader:
    """What the object says about the run: identity, timing (fps), geometry (mm, degrees), dose."""

    patient_id: str
    patient_name: str
    series_description: str
    fps: float
    imager_spacing_mm: float
    sid_mm: float
    sod_mm: float
    primary_deg: float
    secondary_deg: float
    kvp: float = 80.0
    tube_current_ma: int = 600
    exposure_time_ms: int = 6
    series_number: int = 1
    study_id: str = "1"


def _uid(seed: str, part: str) -> UID:
    return generate_uid(entropy_srcs=[seed, part])


def xa_dataset(frames: np.ndarray, header: XAHeader, uid_seed: str) -> Dataset:
    """The XA dataset for ``frames`` (F, H, W) uint8 (uncompressed; ``write_xa`` compresses)."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8 or frames.shape[0] < 2:
        raise ConfigError(f"an XA cine needs frames (F >= 2, H, W) of uint8, got {frames.shape} {frames.dtype}")
    sop_uid = _uid(uid_seed, "instance")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(XA_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.8.498.1")
    meta.ImplementationVersionName = "tqgd"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.SOPClassUID = UID(XA_IMAGE_STORAGE)
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate, ds.StudyTime = "20250101", "120000"
    ds.ContentDate, ds.ContentTime = "20250101", "120000"
    ds.AcquisitionDateTime = "20250101120000"
    ds.AccessionNumber = ""
    ds.Modality = "XA"
    ds.Manufacturer = "tqgd synthetic phantom"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = header.series_description
    ds.PatientName = header.patient_name
    ds.PatientID = header.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.BodyPartExamined = "HEART"
    ds.KVP = f"{header.kvp:g}"
    ds.RadiationSetting = "GR"
    ds.XRayTubeCurrent = header.tube_current_ma
    ds.ExposureTime = header.exposure_time_ms
    ds.DistanceSourceToDetector = f"{header.sid_mm:.2f}"
    ds.DistanceSourceToPatient = f"{header.sod_mm:.2f}"
    ds.EstimatedRadiographicMagnificationFactor = f"{header.sid_mm / header.sod_mm:.6f}"
    ds.ImagerPixelSpacing = [f"{header.imager_spacing_mm:.6f}"] * 2
    ds.FrameTime = f"{MS_PER_S / header.fps:.4f}"
    ds.CineRate = round(header.fps)
    ds.RecommendedDisplayFrameRate = round(header.fps)
    ds.PositionerMotion = "STATIC"
    ds.PositionerPrimaryAngle = f"{header.primary_deg:.2f}"
    ds.PositionerSecondaryAngle = f"{header.secondary_deg:.2f}"
    ds.StudyInstanceUID = _uid(uid_seed, "study")
    ds.SeriesInstanceUID = _uid(uid_seed, "series")
    ds.StudyID = header.study_id
    ds.SeriesNumber = header.series_number
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = int(frames.shape[0])
    ds.FrameIncrementPointer = (0x0018, 0x1063)  # Frame Time
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelIntensityRelationship = "LOG"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"  # Modality LUT: required with LOG
    ds.LossyImageCompression = "00"
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    return ds


def write_xa(path: str | Path, frames: np.ndarray, header: XAHeader, uid_seed: str,
             compression: str = "none") -> Path:
    """Write ``frames`` (F, H, W) uint8 as an XA file at ``path`` atomically; return the path."""
    if compression not in COMPRESSIONS:
        raise ConfigError(f"unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}")
    ds = xa_dataset(frames, header, uid_seed)
    if compression != "none":
        ds.compress(COMPRESSIONS[compression], np.asarray(frames), generate_instance_uid=False)
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)
