"""Checks run on a MetaImage header (``.mhd``) and its data file before SimpleITK reads them.

ITK's MetaImage reader forgives too much for CT: a repeated key silently wins, extra DimSize values are ignored, a
data file longer than DimSize needs is read from its start, a damaged ``.zraw`` can come back as zeros, and a
non-numeric Offset reads as 0. Each of those gives a volume with the wrong voxels in the wrong places and no error,
so this module holds the header to what the format says and the data file to exactly the size the header promises.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

from tqgd.errors import ScanReadError, UnsupportedFormatError

#: Bytes per voxel for MetaImage element types.
MET_ITEM_BYTES = {"MET_UCHAR": 1, "MET_CHAR": 1, "MET_USHORT": 2, "MET_SHORT": 2, "MET_UINT": 4, "MET_INT": 4,
                  "MET_ULONG": 8, "MET_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}
#: Larger volumes are a corrupt header, not a CT scan (2**31 voxels is 8 GiB of float32 HU).
MAX_VOXELS = 2**31
#: Geometry keys (and their synonyms) with the number of values each needs, in multiples of NDims.
_GEOMETRY_KEYS = {"ElementSpacing": 1, "ElementSize": 1, "Offset": 1, "Position": 1, "Origin": 1,
                  "TransformMatrix": 2, "Rotation": 2, "Orientation": 2}
_READ_CHUNK_BYTES = 1 << 20


def parse_header(path: Path) -> dict[str, str]:
    """``key = value`` lines of a MetaImage header; a key given twice is an error (ITK would silently keep one)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise ScanReadError(f"cannot read MetaImage header ({exc.strerror})", path) from exc
    fields: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep and line.strip():
            raise ScanReadError(f"line {number} ({line.strip()[:40]!r}) is not 'key = value'; ITK would read it as part "
                                "of the next key and drop that setting. Fix or remove the line", path)
        if not key:
            continue  # blank lines carry nothing
        if key in fields:
            raise ScanReadError(f"{key} is given twice (lines {lines[key]} and {number}); the header is ambiguous. Keep "
                                "one and check it against the data file", path)
        fields[key], lines[key] = value.strip(), number
    return fields


def _numbers(fields: dict[str, str], key: str, count: int, path: Path) -> list[float] | None:
    if key not in fields:
        return None
    try:
        values = [float(v) for v in fields[key].split()]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise ScanReadError(f"{key} must be {count} finite number(s) for this NDims, found {fields[key]!r}; the header "
                            "is corrupt", path)
    return values


def _dimensions(fields: dict[str, str], path: Path) -> list[int]:
    """NDims and DimSize, checked against each other and against ``MAX_VOXELS``."""
    ndims_text = fields.get("NDims", "")
    if not ndims_text.isdigit() or int(ndims_text) not in (2, 3):
        raise ScanReadError(f"NDims must be 2 or 3 for a CT image, found {ndims_text or 'nothing'!r}", path)
    ndims = int(ndims_text)
    parts = fields["DimSize"].split()
    if len(parts) != ndims or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ScanReadError(f"DimSize must be {ndims} positive whole numbers (NDims = {ndims}), found "
                            f"{fields['DimSize']!r}; the header is corrupt", path)
    dims = [int(p) for p in parts]
    if math.prod(dims) > MAX_VOXELS:
        raise ScanReadError(f"DimSize {dims} is {math.prod(dims):,} voxels, more than any CT scan ({MAX_VOXELS:,}); the "
                            "header is corrupt", path)
    for key, power in _GEOMETRY_KEYS.items():
        values = _numbers(fields, key, ndims ** power, path)
        if values is not None and power == 1 and key.startswith("Element") and min(values) <= 0:
            raise ScanReadError(f"{key} must be positive voxel sizes in mm, found {fields[key]!r}", path)
    return dims


def _data_path(fields: dict[str, str], path: Path) -> Path:
    """The one data file named by ElementDataFile, inside the header's folder."""
    name = fields.get("ElementDataFile", "")
    if not name:
        raise ScanReadError("ElementDataFile is missing: the header does not say where the voxels are", path)
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ScanReadError(f"ElementDataFile {name!r} holds control characters, so it is no file name; the header is "
                            "damaged", path)
    if name.upper() in {"LOCAL", "LIST"} or "%" in name:
        raise UnsupportedFormatError(f"ElementDataFile = {name}: tqgd reads a .mhd header with one separate data file "
                                     "(.raw/.zraw), or a single .mha file. Re-save the volume that way (e.g. with "
                                     "SimpleITK: sitk.WriteImage(sitk.ReadImage(path), 'scan.mhd'))", path)
    folder = path.parent.resolve()
    data_path = (folder / name).resolve()
    if folder not in data_path.parents:
        raise ScanReadError(f"ElementDataFile {name!r} points outside the header's folder; tqgd reads only data files "
                            "stored next to (or below) their header. Move the data file and fix the header", path)
    if not data_path.is_file():
        raise ScanReadError(f"pixel data file {name!r} named by ElementDataFile is missing; copy it next to the header",
                            path)
    return data_path


def _inflated_size(data_path: Path, compressed_bytes: int, path: Path) -> int:
    """Bytes the zlib stream in the first ``compressed_bytes`` of ``data_path`` inflates to; damage is an error."""
    inflater = zlib.decompressobj()
    size = 0
    try:
        with open(data_path, "rb") as fh:
            left = compressed_bytes
            while left > 0 and not inflater.eof:
                chunk = fh.read(min(_READ_CHUNK_BYTES, left))
                if not chunk:
                    break
                left -= len(chunk)
                size += len(inflater.decompress(chunk))
            size += len(inflater.flush())
    except zlib.error as exc:
        raise ScanReadError(f"compressed pixel data file {data_path.name!r} is damaged ({exc}); copy it again", path) \
            from exc
    if not inflater.eof:
        raise ScanReadError(f"compressed pixel data file {data_path.name!r} ends before its zlib stream does; the file "
                            "is truncated: copy it again", path)
    return size


def check_metaimage_header(path: Path) -> None:
    """Refuse a MetaImage whose header is malformed or whose data file does not hold exactly the promised voxels."""
    fields = parse_header(path)
    if "DimSize" not in fields or "ElementType" not in fields:
        raise ScanReadError("not a MetaImage header: DimSize and ElementType are required", path)
    if fields.get("ObjectType", "Image") != "Image":
        raise ScanReadError(f"ObjectType is {fields['ObjectType']!r}, expected 'Image'", path)
    dims = _dimensions(fields, path)
    item = MET_ITEM_BYTES.get(fields["ElementType"])
    if item is None:
        raise ScanReadError(f"ElementType {fields['ElementType']!r} is not one of {', '.join(MET_ITEM_BYTES)}", path)
    channels = fields.get("ElementNumberOfChannels", "1")
    if not channels.isdigit() or int(channels) < 1:
        raise ScanReadError(f"ElementNumberOfChannels must be a positive whole number, found {channels!r}", path)
    data_path = _data_path(fields, path)
    expected = math.prod(dims) * item * int(channels)
    actual = data_path.stat().st_size
    name = data_path.name
    compressed = fields.get("CompressedData", "False")
    if compressed not in ("True", "False"):
        raise ScanReadError(f"CompressedData must be True or False, found {compressed!r}", path)
    if compressed == "True":
        if fields.get("HeaderSize", "0") != "0":
            raise UnsupportedFormatError(f"HeaderSize {fields['HeaderSize']} together with CompressedData is not "
                                         "supported; re-save the volume without a header offset", path)
        promised = fields.get("CompressedDataSize", str(actual))
        if not promised.isdigit():
            raise ScanReadError(f"CompressedDataSize must be a whole number of bytes, found {promised!r}", path)
        if actual < int(promised):
            raise ScanReadError(f"compressed pixel data file {name!r} holds {actual} bytes but the header's "
                                f"CompressedDataSize is {promised}; the file is truncated: copy it again", path)
        actual = _inflated_size(data_path, int(promised), path)
        if actual != expected:
            raise ScanReadError(f"compressed pixel data file {name!r} inflates to {actual} bytes but DimSize {dims} needs "
                                f"{expected} (as {fields['ElementType']}); the header does not match the data", path)
        return
    header_size = fields.get("HeaderSize", "0")
    skip = int(header_size) if header_size.lstrip("-").isdigit() else None
    if skip is None or skip < -1:
        raise ScanReadError(f"HeaderSize must be a whole number of bytes (or -1), found {header_size!r}", path)
    if actual < expected + max(skip, 0) or (skip >= 0 and actual != expected + skip):
        problem = "is truncated" if actual < expected + max(skip, 0) else "is longer than the header says"
        raise ScanReadError(f"pixel data file {name!r} holds {actual} bytes but DimSize {dims} needs {expected} (as "
                            f"{fields['ElementType']}): the file {problem} or the header is wrong", path)
