"""Integrity checks run before SimpleITK reads a NIfTI file (MetaImage: ``metaimage_checks``).

ITK zero-fills a truncated NIfTI without any error; these checks compare what the header promises with what the
file holds and say so plainly.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from tqgd.errors import ScanReadError

#: NIfTI-1 and NIfTI-2 header sizes (the first int32 of the file, in the file's byte order).
_NIFTI1_HEADER_BYTES = 348
_NIFTI2_HEADER_BYTES = 540
_GZIP_CHUNK_BYTES = 1 << 20


def _nifti_sizes(header: bytes, path: Path) -> tuple[int, int]:
    """(voxel data offset, voxel data bytes) from a NIfTI-1 or NIfTI-2 header."""
    for order in ("<", ">"):
        if len(header) >= 4 and struct.unpack(f"{order}i", header[:4])[0] == _NIFTI1_HEADER_BYTES and \
                len(header) >= _NIFTI1_HEADER_BYTES:
            dims = struct.unpack(f"{order}8h", header[40:56])
            bitpix = struct.unpack(f"{order}h", header[72:74])[0]
            offset = int(struct.unpack(f"{order}f", header[108:112])[0])
            break
        if len(header) >= 4 and struct.unpack(f"{order}i", header[:4])[0] == _NIFTI2_HEADER_BYTES and \
                len(header) >= _NIFTI2_HEADER_BYTES:
            bitpix = struct.unpack(f"{order}h", header[14:16])[0]
            dims = struct.unpack(f"{order}8q", header[16:80])
            offset = struct.unpack(f"{order}q", header[168:176])[0]
            break
    else:
        raise ScanReadError("not a NIfTI file: the header size field is neither 348 (NIfTI-1) nor 540 (NIfTI-2); "
                            "the file is damaged or has the wrong extension", path)
    n_dims = min(max(int(dims[0]), 1), 7)
    voxels = int(np.prod([max(int(d), 1) for d in dims[1:1 + n_dims]]))
    return offset, voxels * max(int(bitpix), 8) // 8


def _gzip_size(path: Path) -> int:
    """Uncompressed size of a gzip file, read to the end (a truncated stream is an error)."""
    size = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_GZIP_CHUNK_BYTES):
                size += len(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise ScanReadError(f"the gzip stream is truncated or damaged ({exc}); copy the file again", path) from exc
    return size


def check_nifti(path: Path, compressed: bool) -> None:
    """Refuse a NIfTI whose voxel data are shorter than its header says (ITK would fill the rest with zeros)."""
    try:
        if compressed:
            with gzip.open(path, "rb") as fh:
                header = fh.read(_NIFTI2_HEADER_BYTES)
        else:
            with open(path, "rb") as fh:
                header = fh.read(_NIFTI2_HEADER_BYTES)
    except (EOFError, OSError, zlib.error) as exc:
        raise ScanReadError(f"cannot read the NIfTI header ({exc}); the file is damaged or not gzip", path) from exc
    offset, data_bytes = _nifti_sizes(header, path)
    needed = offset + data_bytes
    if compressed:
        with open(path, "rb") as fh:  # gzip's last 4 bytes: uncompressed size mod 2**32 (fast path)
            fh.seek(-4, 2)
            trailer_size = struct.unpack("<I", fh.read(4))[0]
        found = trailer_size if trailer_size == needed % 2**32 else _gzip_size(path)
    else:
        found = path.stat().st_size
    if found < needed:
        raise ScanReadError(f"NIfTI voxel data are truncated: {found} bytes where the header needs {needed}; copy the "
                            "file again", path)
