"""What each DICOM CT slice says about itself, checked: size, position, orientation, spacing and HU rescale.

A classic CT file is one slice; an Enhanced CT file holds many frames whose facts sit in its functional group
sequences (see ``dicom_enhanced``). Both become ``SliceHeader`` records, so sorting and checking a series
(``dicom_geometry``) and filling the volume (``dicom``) work the same for either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from tqgd.errors import ScanReadError, UnsupportedFormatError

#: Rows/Columns beyond this are a corrupt header, not a CT image (clinical CT is 512, at most 2048).
MAX_IMAGE_SIDE_PX = 8192


@dataclass(frozen=True)
class SliceHeader:
    """One slice (one frame) of a DICOM file, as the file describes it."""

    path: Path
    frame: int  # 0-based frame in the file; 0 for single-frame files
    rows: int
    columns: int
    position_mm: np.ndarray | None  # (3,) ImagePositionPatient of the first voxel, patient mm (x, y, z)
    orientation: np.ndarray | None  # (6,) row direction cosines, then column direction cosines
    pixel_spacing_mm: tuple[float, float]  # (between rows = y, between columns = x)
    slope: float
    intercept: float
    thickness_mm: float | None
    kvp: float | None
    rescale_type: str | None
    frames_in_file: int = 1  # frames held by the file this slice came from

    @property
    def label(self) -> str:
        """File name, plus the frame number for multi-frame files (used in error messages)."""
        return self.path.name if self.frames_in_file == 1 else f"{self.path.name} frame {self.frame + 1}"


def _tag(keyword: str) -> str:
    """'(0028,0030)' for 'PixelSpacing', so messages name the element as DICOM tools show it."""
    tag = tag_for_keyword(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else ""


def numbers(item: Dataset, keyword: str, path: Path, count: int) -> list[float] | None:
    """``count`` finite numbers from ``item.<keyword>``, or None when the element is absent or empty."""
    raw: Any = item.get(keyword)
    if raw is None or raw == "" or (isinstance(raw, (list, tuple, MultiValue)) and len(raw) == 0):
        return None
    values = list(raw) if isinstance(raw, (list, tuple, MultiValue)) else [raw]
    try:
        parsed = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ScanReadError(f"{keyword} {_tag(keyword)} must hold {count} number(s), found {raw!r}", path) from exc
    if len(parsed) != count or not all(math.isfinite(v) for v in parsed):
        raise ScanReadError(f"{keyword} {_tag(keyword)} must hold {count} finite number(s), found {raw!r}", path)
    return parsed


def required_numbers(item: Dataset, keyword: str, path: Path, count: int) -> list[float]:
    """Like ``numbers`` but a missing element is an error that names the tag."""
    values = numbers(item, keyword, path, count)
    if values is None:
        raise ScanReadError(f"{keyword} {_tag(keyword)} is missing; it is required to read the scan in mm and HU. "
                            "Re-export the series from the scanner or PACS with full headers", path)
    return values


def whole_number(item: Dataset, keyword: str, path: Path, default: int | None = None,
                 allowed: Collection[int] | None = None) -> int | None:
    """One whole number from ``item.<keyword>`` (``default`` when absent or empty); anything else names the tag.

    Header integers (Rows, BitsAllocated, NumberOfFrames, ...) arrive from damaged files as text, lists, NaN or
    sequences; each is refused here with the value found, never passed on to ``int()`` deeper down.
    """
    raw: Any = item.get(keyword)
    if raw is None or raw == "" or (isinstance(raw, (list, tuple, MultiValue)) and len(raw) == 0):
        return default
    expected = f"one whole number{f' (one of {sorted(allowed)})' if allowed else ''}"
    if isinstance(raw, (list, tuple, MultiValue, Sequence, bytes)) or (isinstance(raw, float) and not raw.is_integer()):
        raise ScanReadError(f"{keyword} {_tag(keyword)} must hold {expected}, found {raw!r}; the header is corrupt",
                            path)
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ScanReadError(f"{keyword} {_tag(keyword)} must hold {expected}, found {raw!r}; the header is corrupt",
                            path) from exc
    if allowed is not None and value not in allowed:
        raise ScanReadError(f"{keyword} {_tag(keyword)} must hold {expected}, found {value}; the header is corrupt",
                            path)
    return value


def image_size(ds: Dataset, path: Path) -> tuple[int, int]:
    """(Rows, Columns), refusing absent, zero or absurd values before any memory is allocated."""
    rows, columns = whole_number(ds, "Rows", path), whole_number(ds, "Columns", path)
    if rows is None or columns is None:
        raise ScanReadError("Rows (0028,0010) or Columns (0028,0011) is missing; the image size is unknown", path)
    if not (0 < rows <= MAX_IMAGE_SIDE_PX and 0 < columns <= MAX_IMAGE_SIDE_PX):
        raise ScanReadError(f"image size Rows x Columns = {rows} x {columns} is not a CT image (expected 1 to "
                            f"{MAX_IMAGE_SIDE_PX} pixels a side); the header is corrupt", path)
    return rows, columns


def pixel_spacing(item: Dataset, path: Path) -> tuple[float, float]:
    """PixelSpacing (row spacing = y, column spacing = x) in mm; missing, zero, negative or NaN is an error."""
    values = required_numbers(item, "PixelSpacing", path, 2)
    if not all(v > 0 for v in values):
        raise ScanReadError(f"PixelSpacing (0028,0030) must be two positive sizes in mm, found {values}; areas and "
                            "Agatston scores cannot be computed. Fix the header or re-export the series", path)
    return values[0], values[1]


def rescale(item: Dataset, path: Path) -> tuple[float, float, str | None]:
    """(RescaleSlope, RescaleIntercept, RescaleType): HU = stored x slope + intercept; a zero slope is an error."""
    slope = required_numbers(item, "RescaleSlope", path, 1)
    intercept = required_numbers(item, "RescaleIntercept", path, 1)
    if slope[0] == 0:
        raise ScanReadError("RescaleSlope (0028,1053) is 0, so every voxel would have the same HU; the header is "
                            "corrupt. Re-export the series", path)
    kind = item.get("RescaleType")
    kind_text = str(kind).strip() if kind is not None else ""
    return slope[0], intercept[0], kind_text or None


def optional_number(item: Dataset, keyword: str, path: Path) -> float | None:
    """A single optional number (KVP, SliceThickness, SpacingBetweenSlices); absent or empty gives None."""
    values = numbers(item, keyword, path, 1)
    return values[0] if values else None


def check_ct_image(ds: Dataset, path: Path) -> None:
    """Refuse DICOM that is not a greyscale CT image: other modality, no pixel data, colour or 3-sample images."""
    modality = str(ds.get("Modality", "")).strip()
    if modality != "CT":
        found = repr(modality) if modality else "missing"
        raise ScanReadError(f"Modality (0008,0060) is {found}, expected 'CT'; tqgd scores calcium in CT only", path)
    if "PixelData" not in ds:
        raise ScanReadError("no Pixel Data (7FE0,0010) element: this DICOM file holds no image (a report, "
                            "a DICOMDIR or a header-only export?)", path)
    samples = whole_number(ds, "SamplesPerPixel", path, default=1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise UnsupportedFormatError(f"expected a greyscale CT image (SamplesPerPixel 1, MONOCHROME1/2), found "
                                     f"SamplesPerPixel {samples}, PhotometricInterpretation {photometric!r}", path)


def frame_count(ds: Dataset, path: Path) -> int:
    """NumberOfFrames (1 when absent); zero, negative or non-numeric values are an error."""
    frames = whole_number(ds, "NumberOfFrames", path, default=1)
    if frames < 1:
        raise ScanReadError(f"NumberOfFrames (0028,0008) is {frames}; a file with pixels holds at least one frame. The "
                            "header is corrupt", path)
    return frames


def is_multi_frame(ds: Dataset, path: Path) -> bool:
    """True for Enhanced (functional-group) or other multi-frame files."""
    return "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds or \
        frame_count(ds, path) > 1


def classic_slice_header(ds: Dataset, path: Path) -> SliceHeader:
    """The one slice of a single-frame CT file (CT Image Storage)."""
    rows, columns = image_size(ds, path)
    position = numbers(ds, "ImagePositionPatient", path, 3)
    orientation = numbers(ds, "ImageOrientationPatient", path, 6)
    slope, intercept, kind = rescale(ds, path)
    return SliceHeader(
        path=path, frame=0, rows=rows, columns=columns,
        position_mm=np.array(position) if position else None,
        orientation=np.array(orientation) if orientation else None,
        pixel_spacing_mm=pixel_spacing(ds, path), slope=slope, intercept=intercept,
        thickness_mm=optional_number(ds, "SliceThickness", path), kvp=optional_number(ds, "KVP", path),
        rescale_type=kind)


def slice_headers(ds: Dataset, path: Path) -> list[SliceHeader]:
    """Every slice a CT file holds: one for classic CT, one per frame for Enhanced CT."""
    check_ct_image(ds, path)
    if is_multi_frame(ds, path):
        from tqgd.data.readers.dicom_enhanced import enhanced_slice_headers

        return enhanced_slice_headers(ds, path)
    return [classic_slice_header(ds, path)]
