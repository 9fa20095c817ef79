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

from tqgd.errors import ScanReadError, UnsupportedFormatError

_NATIVE_LITTLE_ENDIAN = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

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


def _native_dtype(ds: Dataset) -> np.dtype | None:
    """Little-endian dtype when the stored bits fill whole bytes (the fast path), else None."""
    bits_allocated = int(ds.get("BitsAllocated", 0) or 0)
    bits_stored = int(ds.get("BitsStored", bits_allocated) or bits_allocated)
    if bits_allocated not in (8, 16, 32) or bits_stored != bits_allocated:
        return None
    kind = "i" if int(ds.get("PixelRepresentation", 0) or 0) == 1 else "u"
    return np.dtype(f"<{kind}{bits_allocated // 8}")


def decode_frames(ds: Dataset, path: Path, rows: int, columns: int, n_frames: int) -> np.ndarray:
    """Stored values (n_frames, rows, columns) in the file's integer type; truncation is an error."""
    uid = transfer_syntax(ds)
    if uid in _NATIVE_LITTLE_ENDIAN:
        bits_allocated = int(ds.get("BitsAllocated", 0) or 0)
        needed = rows * columns * n_frames * bits_allocated // 8
        found = len(ds.PixelData)
        if found < needed:
            raise ScanReadError(f"pixel data are truncated: {found} bytes for {n_frames} frame(s) of {rows}x{columns} "
                                f"at {bits_allocated} bits (needs {needed}); the file was cut short in copying", path)
        dtype = _native_dtype(ds)
        if dtype is not None:
            return np.frombuffer(ds.PixelData, dtype=dtype, count=rows * columns * n_frames).reshape(
                n_frames, rows, columns)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # decoders raise many types; all mean the same to the user
        raise ScanReadError(f"pixel data could not be decoded as {uid.name}: {exc}; the file is truncated or "
                            f"corrupt. Re-export it, or {CONVERT_HINT}", path) from exc
    return pixels.reshape(n_frames, rows, columns)
