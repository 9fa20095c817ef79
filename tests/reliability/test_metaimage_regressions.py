"""MetaImage damage the fuzz suite found read silently wrong by ITK (or crashing), now refused with a named error.

Each case edits the valid file of ``metaimage_cases`` one way; every one must end in a tqgd error naming the header.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import metaimage_cases as mc
from tqgd.data.readers import read_ct
from tqgd.errors import ScanReadError, UnsupportedFormatError


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("metaimage_regression")
    return {"zraw": mc.write_base(root / "zraw", compress=True), "raw": mc.write_base(root / "raw", compress=False)}


CASES = {
    "DimSize given twice": ("raw", [("line", "DimSize = 12 10 2")], r"DimSize is given twice \(lines \d+ and \d+\)"),
    "damaged zlib stream": ("zraw", [("data", "corrupt", 0.0)], r"compressed pixel data file 'scan.zraw' is damaged"),
    "zlib stream cut short": ("zraw", [("field", "CompressedDataSize", "100")],
                              r"'scan.zraw' ends before its zlib stream does"),
    "raw data one byte long": ("raw", [("data", "pad", 0.0)],
                               r"'scan.raw' holds 721 bytes but DimSize \[12, 10, 3\] needs 720 \(as MET_SHORT\): "
                               r"the file is longer than the header says"),
    "element type half the size": ("raw", [("field", "ElementType", "MET_UCHAR")],
                                   r"holds 720 bytes but DimSize \[12, 10, 3\] needs 360 \(as MET_UCHAR\)"),
    "compressed data read as raw": ("zraw", [("field", "CompressedData", "DELETE"),
                                             ("field", "CompressedDataSize", "DELETE")],
                                    r"'scan.zraw' holds \d+ bytes but DimSize \[12, 10, 3\] needs 720"),
    "four sizes for three dimensions": ("raw", [("field", "DimSize", "12 10 3 1")],
                                        r"DimSize must be 3 positive whole numbers \(NDims = 3\), found '12 10 3 1'"),
    "fractional size": ("raw", [("field", "DimSize", "12 10 3.5")], r"DimSize must be 3 positive whole numbers"),
    "offset not a number": ("zraw", [("field", "Offset", "a 0 0")], r"Offset must be 3 finite number\(s\)"),
    "offset NaN": ("zraw", [("field", "Offset", "nan 0 0")], r"Offset must be 3 finite number\(s\)"),
    "not an image": ("zraw", [("field", "ObjectType", "Mesh")], r"ObjectType is 'Mesh', expected 'Image'"),
    "line without '=' swallows the next key": ("zraw", [("line", "garbage line without equals")],
                                               r"line \d+ \('garbage line without equals'\) is not 'key = value'"),
    "direction not a rotation": ("raw", [("field", "TransformMatrix", "1 1 0 0 1 0 0 0 1")],
                                 r"the direction matrix .* is not a rotation"),
    "data file outside the folder": ("raw", [("field", "ElementDataFile", "../escape.raw")],
                                     r"ElementDataFile '../escape.raw' points outside the header's folder"),
    "absolute data file": ("raw", [("field", "ElementDataFile", "/etc/hostname")],
                           r"ElementDataFile '/etc/hostname' points outside the header's folder"),
    "absurd size": ("zraw", [("field", "DimSize", "100000 100000 100000")],
                    r"DimSize \[100000, 100000, 100000\] is 1,000,000,000,000,000 voxels, more than any CT scan"),
}
UNSUPPORTED = {
    "LOCAL data in a .mhd": ("zraw", [("field", "ElementDataFile", "LOCAL")], r"ElementDataFile = LOCAL: tqgd reads"),
    "header offset on compressed data": ("zraw", [("field", "HeaderSize", "10")],
                                         r"HeaderSize 10 together with CompressedData is not supported"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_damaged_metaimage_is_refused(bases: dict[str, Path], tmp_path: Path, name: str) -> None:
    kind, mutations, message = CASES[name]
    header = mc.build_case(bases[kind], tmp_path / "scan", mutations)
    with pytest.raises(ScanReadError, match=message) as caught:
        read_ct(header)
    assert caught.value.path == header


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_metaimage_layouts_are_named(bases: dict[str, Path], tmp_path: Path, name: str) -> None:
    kind, mutations, message = UNSUPPORTED[name]
    header = mc.build_case(bases[kind], tmp_path / "scan", mutations)
    with pytest.raises(UnsupportedFormatError, match=message):
        read_ct(header)


@pytest.mark.parametrize("kind", ["raw", "zraw"])
def test_valid_variants_still_read_exactly(bases: dict[str, Path], tmp_path: Path, kind: str) -> None:
    """Blank lines, an explicit HeaderSize 0 and a swapped-sign rotation are fine and read as the data say."""
    mutations = [("line", ""), ("field", "HeaderSize", "0"), ("field", "TransformMatrix", "-1 0 0 0 -1 0 0 0 1")]
    header = mc.build_case(bases[kind], tmp_path / "scan", mutations)
    expected, geometry = mc.independent_metaimage(header)
    volume = read_ct(header)
    assert (volume.hu == expected.astype("float32")).all()
    assert (volume.index_to_patient([2, 9, 11]) - mc.patient_position(geometry, [2, 9, 11])).__abs__().max() < 1e-6


def test_data_file_name_with_a_null_byte_is_refused(bases: dict[str, Path], tmp_path: Path) -> None:
    """Found by the long byte-mutation run: bytes appended to the header put a NUL into ElementDataFile, and the
    path check itself raised ValueError('embedded null byte')."""
    header = mc.build_case(bases["zraw"], tmp_path / "scan", [])
    header.write_bytes(header.read_bytes().rstrip(b"\n") + b"\xad\x00\n")
    with pytest.raises(ScanReadError, match=r"scan.mhd: ElementDataFile .* holds control characters"):
        read_ct(header)
