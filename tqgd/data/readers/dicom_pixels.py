"""Decode the stored pixel values of one DICOM file, once, with a clear error when they cannot be decoded.

Uncompressed little-endian data is viewed straight from the file's bytes (no copy, no per-pixel Python); any
other transfer syntax goes through pydicom's decoders (pylibjpeg, pyjpegls, openjpeg, RLE). A compressed
transfer syntax without an installed decoder is named together with what would decode it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from tqgd.data.readers.dicom_slices import whole_number
from tqgd.errors import ScanReadError, UnsupportedFormatError

_NATIVE_LITTLE_ENDIAN = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
#: BitsAllocated values of a greyscale CT image (1-bit data are overlays or masks, 64-bit is not an image type).
CT_BITS_ALLOCATED = (8, 16, 32)

#: What to tell a user whose file uses a compression no installed package decodes.
CONVERT_HINT = ("convert the series to uncompressed DICOM first (GDCM: gdcmconv --raw IN OUT; dcmtk: dcmdjpeg, "
                "dcmdjpls or dcmdrle)")


def transfer_syntax(ds: Dataset) -> UID:
    """The file's transfer syntax (pydicom's guess when the file meta lacks it)."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is None:
        return ImplicitVRLittleEndian if ds.is_implicit_VR else ExplicitVRLittleEndian
    return UID(uid)


def check_decodable(ds: Dataset, path: Path) -> None:
    """Raise ``UnsupportedFormatError`` naming the transfer syntax when no installed decoder can read the pixels."""
    from pydicom.pixels import get_decoder

    uid = transfer_syntax(ds)
    if uid in _NATIVE_LITTLE_ENDIAN or (uid.is_transfer_syntax and not uid.is_compressed):
        return
    label = f"{uid.name} ({uid})" if uid.name != uid else f"unknown transfer syntax {uid}"
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as exc:
        raise UnsupportedFormatError(f"pixel data are compressed as {label}, which pydicom cannot decode with any "
                                     f"plugin; {CONVERT_HINT}", path) from exc
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
        raise UnsupportedFormatError(f"pixel data are compressed as {label} but no decoder for it is installed "
                                     f"(needs {needs}); pip install the package, or {CONVERT_HINT}", path)


def pixel_format(ds: Dataset, path: Path) -> tuple[int, int, int]:
    """(BitsAllocated, BitsStored, PixelRepresentation), checked: 8/16/32 bits, stored within allocated, 0 or 1."""
    bits_allocated = whole_number(ds, "BitsAllocated", path, allowed=CT_BITS_ALLOCATED)
    if bits_allocated is None:
        raise ScanReadError("BitsAllocated (0028,0100) is missing; the size of a pixel is unknown. Re-export the series "
                            "with full headers", path)
    bits_stored = whole_number(ds, "BitsStored", path)
    if bits_stored is None:
        raise ScanReadError("BitsStored (0028,0101) is missing, so the bits that hold the value are unknown and HU "
                            "could come out wrong. Re-export the series with full headers", path)
    if not 1 <= bits_stored <= bits_allocated:
        raise ScanReadError(f"BitsStored (0028,0101) is {bits_stored} with BitsAllocated {bits_allocated}; expected 1 to "
                            f"{bits_allocated}. The header is corrupt", path)
    representation = whole_number(ds, "PixelRepresentation", path, allowed=(0, 1))
    if representation is None:
        raise ScanReadError("PixelRepresentation (0028,0103) is missing, so signed and unsigned pixels cannot be told "
                            "apart and HU could come out wrong. Re-export the series with full headers", path)
    return bits_allocated, bits_stored, representation


def _check_length(found: int, rows: int, columns: int, n_frames: int, bits_allocated: int, path: Path) -> None:
    """Uncompressed pixel data must hold exactly the frames the header describes (plus DICOM's even-length pad)."""
    needed = rows * columns * n_frames * bits_allocated // 8
    if found < needed:
        raise ScanReadError(f"pixel data are truncated: {found} bytes for {n_frames} frame(s) of {rows}x{columns} "
                            f"at {bits_allocated} bits (needs {needed}); the file was cut short in copying", path)
    if found > needed + needed % 2:
        raise ScanReadError(f"pixel data hold {found} bytes but {n_frames} frame(s) of {rows}x{columns} at "
                            f"{bits_allocated} bits need {needed}: Rows, Columns, BitsAllocated or NumberOfFrames do "
                            "not describe these pixels, so the image cannot be laid out. The header is corrupt", path)


def decode_frames(ds: Dataset, path: Path, rows: int, columns: int, n_frames: int) -> np.ndarray:
    """Stored values (n_frames, rows, columns) in the file's integer type; truncated or mis-sized data are errors."""
    uid = transfer_syntax(ds)
    bits_allocated, bits_stored, representation = pixel_format(ds, path)
    data = ds.get("PixelData")
    if not data:
        raise ScanReadError("Pixel Data (7FE0,0010) is empty; the file holds no image. Copy it again from the source",
                            path)
    if not uid.is_compressed:
        _check_length(len(data), rows, columns, n_frames, bits_allocated, path)
        if uid in _NATIVE_LITTLE_ENDIAN and bits_stored == bits_allocated:
            dtype = np.dtype(f"<{'i' if representation == 1 else 'u'}{bits_allocated // 8}")
            return np.frombuffer(data, dtype=dtype, count=rows * columns * n_frames).reshape(n_frames, rows, columns)
    try:
        pixels = ds.pixel_array
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # decoders raise many types (Rust ones a pyo3 PanicException, a BaseException)
        raise ScanReadError(f"pixel data could not be decoded as {uid.name}: {exc}; the file is truncated or "
                            f"corrupt. Re-export it, or {CONVERT_HINT}", path) from exc
    if pixels.size != n_frames * rows * columns:
        raise ScanReadError(f"pixel data decode to {pixels.size} values where {n_frames} frame(s) of {rows}x{columns} "
                            "are expected; the header does not describe these pixels. Re-export the series", path)
    return pixels.reshape(n_frames, rows, columns)
