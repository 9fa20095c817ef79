"""Read an X-ray angiography (XA) or radiofluoroscopy (XRF) cine as frames (N, H, W) with timing and spacing.

What the reader takes from the DICOM object:

- frames: the decoded Pixel Data (uncompressed or any encapsulated syntax pydicom decodes with pylibjpeg /
  pyjpegls: RLE, JPEG baseline/lossless, JPEG-LS, JPEG 2000) as float32 (N, H, W), stored values untouched
  (XA stores display-ready, usually log-transformed, intensities; there are no Hounsfield units);
- timing: Frame Time (0018,1063) in ms, else the mean of Frame Time Vector (0018,1065) without its leading 0,
  else Cine Rate (0018,0040) or Recommended Display Frame Rate (0008,2144) in frames per second;
- spacing: Imager Pixel Spacing (0018,1164) is measured at the detector. An object in the patient is magnified
  by SID / SOD (Distance Source to Detector (0018,1110) / Distance Source to Patient (0018,1111)), so the
  spacing at the isocentre is Imager Pixel Spacing x SOD / SID. Without both distances the Estimated Radiographic
  Magnification Factor (0018,1114) is used, then plain Pixel Spacing (0028,0030), then the uncorrected detector
  spacing; ``spacing_source`` says which one it was.

Objects the reader cannot use (another modality or SOP class, Enhanced XA, a single frame, no pixel data, an
undecodable transfer syntax) raise ``ScanReadError`` / ``UnsupportedFormatError`` naming the file and the fix.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tqgd.errors import ScanReadError, UnsupportedFormatError

XA_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.1"
XRF_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.2"
ENHANCED_XA_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.1.1"
ENHANCED_XRF_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.12.2.1"
#: SOP classes this reader decodes, and the modality each one carries.
READABLE_SOP_CLASSES: dict[str, str] = {XA_IMAGE_STORAGE: "XA", XRF_IMAGE_STORAGE: "RF"}
#: Fewer frames than this cannot show a heartbeat (the synchronisation needs a cine).
MIN_FRAMES = 2
MS_PER_S = 1000.0


@dataclass(frozen=True)
class XASequence:
    """One decoded cine: ``frames`` (N, H, W) float32 stored values; times in ms; spacings (row, column) in mm.

    ``pixel_spacing_mm`` is the isocentre spacing to measure with (None when the object gives no spacing at all);
    ``imager_spacing_mm`` the detector spacing as stored; ``magnification`` the factor divided out (1.0 if none).
    """

    path: Path
    frames: np.ndarray
    frame_time_ms: float | None
    pixel_spacing_mm: tuple[float, float] | None
    spacing_source: str
    imager_spacing_mm: tuple[float, float] | None = None
    magnification: float = 1.0
    sop_class_uid: str = XA_IMAGE_STORAGE
    modality: str = "XA"
    patient_id: str = ""
    series_uid: str = ""
    transfer_syntax_uid: str = ""
    attributes: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        """Number of frames N."""
        return int(self.frames.shape[0])

    @property
    def frame_rate_fps(self) -> float | None:
        """Frames per second (None when the object states no timing)."""
        return None if not self.frame_time_ms else MS_PER_S / self.frame_time_ms


def _float_pair(value, what: str, path: Path) -> tuple[float, float] | None:
    if value is None:
        return None
    items = list(value) if isinstance(value, MutableSequence | tuple) else [value]
    try:
        values = [float(v) for v in items]
    except (TypeError, ValueError):
        raise ScanReadError(f"{what} must be numbers, found {value!r}; fix the tag or remove it", path) from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(np.isfinite(values)) or min(values) <= 0:
        raise ScanReadError(f"{what} must be two positive numbers (row, column) in mm, found {list(values)}; "
                            "fix the tag or remove it", path)
    return values[0], values[1]


def _positive(ds, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def frame_time_ms(ds) -> float | None:
    """Frame interval in ms from Frame Time, Frame Time Vector, Cine Rate or Recommended Display Frame Rate."""
    direct = _positive(ds, "FrameTime")
    if direct is not None:
        return direct
    vector = ds.get("FrameTimeVector")
    if vector is not None and len(vector) > 1:
        intervals = np.asarray([float(v) for v in vector][1:], dtype=np.float64)
        if np.all(intervals > 0):
            return float(intervals.mean())
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(ds, keyword)
        if rate is not None:
            return MS_PER_S / rate
    return None


def isocentre_spacing(ds, path: Path) -> tuple[tuple[float, float] | None, str, tuple[float, float] | None, float]:
    """(spacing mm, source, imager spacing mm, magnification) as the module docstring orders the sources."""
    imager = _float_pair(ds.get("ImagerPixelSpacing"), "Imager Pixel Spacing (0018,1164)", path)
    if imager is not None:
        sid, sod = _positive(ds, "DistanceSourceToDetector"), _positive(ds, "DistanceSourceToPatient")
        if sid is not None and sod is not None:
            if sod > sid:
                raise ScanReadError(f"Distance Source to Patient ({sod} mm) exceeds Distance Source to Detector "
                                    f"({sid} mm): the patient cannot lie behind the detector; fix the tags", path)
            magnification = sid / sod
            return ((imager[0] / magnification, imager[1] / magnification), "imager spacing / (SID/SOD)", imager,
                    magnification)
        factor = _positive(ds, "EstimatedRadiographicMagnificationFactor")
        if factor is not None:
            return (imager[0] / factor, imager[1] / factor), "imager spacing / estimated magnification", imager, factor
    pixel = _float_pair(ds.get("PixelSpacing"), "Pixel Spacing (0028,0030)", path)
    if pixel is not None:
        return pixel, "pixel spacing", imager, 1.0
    if imager is not None:
        return imager, "imager spacing (no distances: detector plane, not isocentre)", imager, 1.0
    return None, "none", None, 1.0


def _check_class(ds, path: Path) -> tuple[str, str]:
    sop_class = str(ds.get("SOPClassUID", "") or getattr(getattr(ds, "file_meta", None),
                                                           "MediaStorageSOPClassUID", "") or "")
    modality = str(ds.get("Modality", "") or "")
    if sop_class in (ENHANCED_XA_IMAGE_STORAGE, ENHANCED_XRF_IMAGE_STORAGE):
        raise UnsupportedFormatError("Enhanced XA/XRF (per-frame functional groups) is not read yet; export the run "
                                     "as X-Ray Angiographic Image Storage (1.2.840.10008.5.1.4.1.1.12.1)", path)
    if sop_class not in READABLE_SOP_CLASSES:
        from pydicom.uid import UID

        name = UID(sop_class).name if sop_class else "no SOP Class UID"
        raise ScanReadError(f"expected an X-Ray Angiographic or Radiofluoroscopic Image Storage object (XA/RF cine), "
                            f"found {name} (modality {modality or 'missing'}); CT series go to 'tqgd detect'", path)
    return sop_class, modality or READABLE_SOP_CLASSES[sop_class]


def _decode(ds, path: Path) -> np.ndarray:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ScanReadError("the object has no Pixel Data (7FE0,0010): it holds no frames to read", path)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises several types for missing plugins and corrupt streams
        name = getattr(syntax, "name", str(syntax))
        raise UnsupportedFormatError(f"cannot decode the frames ({name}): {exc}; install the matching pydicom "
                                     "plugin (pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg, pylibjpeg-rle, "
                                     "pyjpegls) or convert with 'dcmdjpeg'/'gdcmconv --raw'", path) from exc
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise UnsupportedFormatError(f"expected grey frames (Samples per Pixel 1), found {ds.SamplesPerPixel}", path)
    return pixels


def read_xa(path: str | Path) -> XASequence:
    """Read one XA or XRF multi-frame DICOM file into an ``XASequence``.

    Raises:
        ScanReadError: not DICOM, another SOP class, a single frame, no pixel data, impossible geometry tags.
        UnsupportedFormatError: Enhanced XA/XRF, colour frames, or a transfer syntax no installed plugin decodes.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise ScanReadError("file not found; pass an XA multi-frame DICOM file", path)
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise ScanReadError(f"not a readable DICOM file ({exc}); pass an XA multi-frame DICOM file", path) from exc
    sop_class, modality = _check_class(ds, path)
    frames_declared = int(ds.get("NumberOfFrames", 1) or 1)
    if frames_declared < MIN_FRAMES:
        raise ScanReadError(f"a single frame (Number of Frames {frames_declared}): frame synchronisation needs a cine "
                            f"of at least {MIN_FRAMES} frames; export the whole run", path)
    pixels = _decode(ds, path)
    if pixels.ndim != 3 or pixels.shape[0] != frames_declared:
        raise ScanReadError(f"Number of Frames says {frames_declared} but the pixel data decodes to shape "
                            f"{pixels.shape}; the file is truncated or its tags are wrong", path)
    spacing, source, imager, magnification = isocentre_spacing(ds, path)
    return XASequence(path=path, frames=pixels.astype(np.float32), frame_time_ms=frame_time_ms(ds),
                      pixel_spacing_mm=spacing, spacing_source=source, imager_spacing_mm=imager,
                      magnification=magnification, sop_class_uid=sop_class, modality=modality,
                      patient_id=str(ds.get("PatientID", "") or ""), series_uid=str(ds.get("SeriesInstanceUID", "")),
                      transfer_syntax_uid=str(getattr(ds.file_meta, "TransferSyntaxUID", "")),
                      attributes={"positioner_primary_deg": _number(ds, "PositionerPrimaryAngle"),
                                  "positioner_secondary_deg": _number(ds, "PositionerSecondaryAngle"),
                                  "pixel_intensity_relationship": str(ds.get("PixelIntensityRelationship", ""))})


def _number(ds, keyword: str) -> float | None:
    value = ds.get(keyword)
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None
