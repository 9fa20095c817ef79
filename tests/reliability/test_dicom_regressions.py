"""DICOM damage the fuzz suite found crashing the reader (TypeError/ValueError deep inside) or read silently wrong.

Each case is one mutation of a valid 3-slice series (``dicom_cases``); every one must now end in a ``ScanReadError``
that names the file and the element.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from tests.reliability import dicom_cases as dc
from tqgd.data.readers import read_ct
from tqgd.errors import ScanReadError


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tqgd.data.volume import CTVolume, ScanMetadata
    from tqgd.data.writers import write_dicom_series

    hu = np.random.default_rng(1).integers(-1024, 2000, size=(dc.N_FILES, dc.ROWS, dc.COLUMNS)).astype(np.float32)
    volume = CTVolume(hu=hu, spacing_mm=dc.SPACING_MM, origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3),
                      meta=ScanMetadata(source=Path("base"), format="synthetic"))
    folder = tmp_path_factory.mktemp("regression") / "base"
    write_dicom_series(volume, folder, transfer_syntax=ExplicitVRLittleEndian, uid_seed="regression")
    return folder


CASES = {
    "PixelRepresentation as text": (("vr", 0, "PixelRepresentation", "LO", "abc"),
                                    r"PixelRepresentation \(0028,0103\) must hold one whole number \(one of \[0, 1\]\), "
                                    r"found 'abc'"),
    "PixelRepresentation NaN": (("vr", 0, "PixelRepresentation", "FD", float("nan")),
                                r"PixelRepresentation \(0028,0103\) must hold one whole number .*found nan"),
    "PixelRepresentation missing": (("set", 0, "PixelRepresentation", dc.DELETE),
                                    r"PixelRepresentation \(0028,0103\) is missing, so signed and unsigned"),
    "Rows as a decimal": (("vr", 1, "Rows", "DS", "8.5"), r"Rows \(0028,0010\) must hold one whole number, found "),
    "Rows as a sequence": (("vr", 1, "Rows", "SQ", []), r"Rows \(0028,0010\) is missing|Rows \(0028,0010\) must hold"),
    "Rows as 32-bit": (("vr", 2, "Rows", "UL", 4294967295), r"Rows \(0028,0010\) must hold one whole number|not a CT"),
    "BitsAllocated as bytes": (("vr", 0, "BitsAllocated", "OB", b"\x00\x01\x02"),
                               r"BitsAllocated \(0028,0100\) must hold one whole number \(one of \[8, 16, 32\]\)"),
    "BitsAllocated 12": (("set", 0, "BitsAllocated", 12), r"BitsAllocated \(0028,0100\) must hold .*found 12"),
    "empty pixel data": (("pixels", 1, 0), r"Pixel Data \(7FE0,0010\) is empty"),
    "fewer rows than pixels": (("set", 0, "Rows", 5), r"pixel data hold 240 bytes but 1 frame\(s\) of 5x12 at 16 bits "
                                                      r"need 120: Rows, Columns"),
    "excess pixel data": (("pixels", 2, 300), r"pixel data hold 300 bytes .* need 240"),
    "NumberOfFrames 0": (("set", 0, "NumberOfFrames", "0"), r"NumberOfFrames \(0028,0008\) is 0"),
    "NumberOfFrames text": (("vr", 0, "NumberOfFrames", "LO", "x"), r"NumberOfFrames \(0028,0008\) must hold one whole"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_damaged_header_is_a_named_scan_read_error(base: Path, tmp_path: Path, name: str) -> None:
    mutation, message = CASES[name]
    folder = tmp_path / "series"
    assert dc.build_case(base, folder, [mutation]) == [mutation]
    damaged = sorted(folder.glob("*.dcm"))[mutation[1]]
    with pytest.raises(ScanReadError, match=message) as caught:
        read_ct(damaged)
    assert caught.value.path == damaged


def test_deflate_label_on_padded_pixels_is_refused(base: Path, tmp_path: Path) -> None:
    """Relabelled as Deflated Explicit VR with extra bytes: once decoded as wrong-sized pixels, now a length error."""
    folder = tmp_path / "series"
    dc.build_case(base, folder, [("pixels", 0, 10_000), ("syntax", 0, "1.2.840.10008.1.2.1.99")])
    with pytest.raises(ScanReadError, match=r"IM0001.dcm: pixel data hold 10000 bytes"):
        read_ct(folder)


def test_missing_bits_stored_is_refused(base: Path, tmp_path: Path) -> None:
    """Found by the long fuzz run: tqgd assumed BitsStored = BitsAllocated where pydicom (rightly) refuses."""
    folder = tmp_path / "series"
    dc.build_case(base, folder, [("set", 0, "BitsStored", dc.DELETE)])
    with pytest.raises(ScanReadError, match=r"IM0001.dcm: BitsStored \(0028,0101\) is missing"):
        read_ct(sorted(folder.glob("*.dcm"))[0])
