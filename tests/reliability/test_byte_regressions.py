"""Byte-level damage the fuzz suite found escaping as a crash or read where nibabel refuses, now named errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import RLELossless

from tests.reliability import dicom_cases as dc
from tests.reliability import nifti_cases as nc
from tests.reliability.test_fuzz_bytes import mutate
from tqgd.data.readers import read_ct
from tqgd.errors import ScanReadError


def test_rle_data_that_panics_the_rust_decoder_is_a_scan_read_error(tmp_path: Path) -> None:
    """pylibjpeg-rle raises pyo3's PanicException (a BaseException, not an Exception) on this byte flip."""
    from tqgd.data.volume import CTVolume, ScanMetadata
    from tqgd.data.writers import write_dicom_series

    hu = np.random.default_rng(4).integers(-1024, 2000, size=(1, dc.ROWS, dc.COLUMNS)).astype(np.float32)
    volume = CTVolume(hu=hu, spacing_mm=dc.SPACING_MM, origin_mm=(1.0, 2.0, 3.0), direction=np.eye(3),
                      meta=ScanMetadata(source=Path("b"), format="synthetic"))
    path = write_dicom_series(volume, tmp_path, transfer_syntax=RLELossless, uid_seed="bytes")[0]
    path.write_bytes(mutate(path.read_bytes(), [("flip", 0.82, 255)], seed=0))
    with pytest.raises(ScanReadError, match=r"IM0001.dcm: pixel data could not be decoded as RLE Lossless"):
        read_ct(path)


def test_nifti_without_its_magic_is_refused(tmp_path: Path) -> None:
    path = nc.write_case(nc.NiftiCase((6, 5, 3), "int16", tuple(np.eye(3).ravel()), (0.7, 0.7, 2.5), (1.0, 2.0, 3.0),
                                      1, 1, None, 0.0, 1.0, -1024.0, False, 9), tmp_path)
    data = bytearray(path.read_bytes())
    data[344:348] = b"xxxx"
    path.write_bytes(bytes(data))
    with pytest.raises(ScanReadError, match=r"scan.nii: the NIfTI-1 magic b'n\+1\\x00' is missing \(found b'xxxx'"):
        read_ct(path)


def test_damaged_gzip_stream_with_an_intact_size_trailer_is_refused(tmp_path: Path) -> None:
    """Three bytes inserted near the end of a .nii.gz left gzip's size trailer intact; only the CRC shows it."""
    path = nc.write_case(nc.NiftiCase((6, 5, 3), "int16", tuple(np.eye(3).ravel()), (0.7, 0.7, 2.5), (1.0, 2.0, 3.0),
                                      1, 1, None, 0.0, 1.0, -1024.0, True, 9), tmp_path)
    path.write_bytes(mutate(path.read_bytes(), [("insert", 0.90625, 3)], seed=0))
    with pytest.raises(ScanReadError, match=r"scan.nii.gz: the gzip stream is truncated or damaged"):
        read_ct(path)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` grey pixels (one short IDAT)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1024))) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [20_000, 60_000])
def test_png_declaring_gigapixels_is_refused_before_decoding(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(side, side))
    with pytest.raises(ScanReadError, match=r"bomb.png: the image header declares"):
        read_ct(path)


def test_png_mask_declaring_gigapixels_is_refused(tmp_path: Path) -> None:
    from tqgd.data.convert.mask_files import read_mask
    from tqgd.errors import LabelError

    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(20_000, 20_000))
    with pytest.raises(LabelError, match=r"bomb.png: cannot read the mask: the image header declares 20000 x 20000"):
        read_mask(path)


def test_unknown_value_representation_is_a_scan_read_error(tmp_path: Path) -> None:
    """Found by the long fuzz run: one flipped bit made a VR unknown; pydicom only failed when the value was first
    used, deep inside the reader, with a NotImplementedError."""
    from tqgd.data.volume import CTVolume, ScanMetadata
    from tqgd.data.writers import write_dicom_series

    hu = np.random.default_rng(4).integers(-1024, 2000, size=(1, dc.ROWS, dc.COLUMNS)).astype(np.float32)
    volume = CTVolume(hu=hu, spacing_mm=dc.SPACING_MM, origin_mm=(1.0, 2.0, 3.0), direction=np.eye(3),
                      meta=ScanMetadata(source=Path("b"), format="synthetic"))
    path = write_dicom_series(volume, tmp_path, transfer_syntax=RLELossless, uid_seed="bytes")[0]
    path.write_bytes(mutate(path.read_bytes(), [("flip", 0.5625, 1)], seed=0))
    with pytest.raises(ScanReadError, match=r"IM0001.dcm: a DICOM header element cannot be decoded "
                                            r"\(NotImplementedError: Unknown Value Representation"):
        read_ct(path)
