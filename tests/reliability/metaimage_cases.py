"""Damaged MetaImage files for the fuzz suite, and an independent reader written from the format's rules.

A mutation is plain data: ``("field", key, value)`` sets a header line (``DELETE`` removes it), ``("line", text)``
adds a raw line, ``("data", action, arg)`` truncates, pads, corrupts, empties or removes the ``.raw``/``.zraw`` file.

``independent_metaimage`` parses the header with plain Python and the voxels with numpy/zlib, refusing anything the
format leaves ambiguous (duplicate keys, sizes that do not match DimSize exactly, data outside the header's folder).
"""

from __future__ import annotations

import math
import re
import shutil
import zlib
from pathlib import Path

import numpy as np

DELETE = "DELETE"
SHAPE_ZYX = (3, 10, 12)
SPACING_MM = (2.5, 0.7, 0.8)  # z, y, x
ORIGIN_MM = (-20.0, 30.5, 40.25)
DIRECTION = np.array([[0.0, -1.0, 0.0], [0.8, 0.0, 0.6], [-0.6, 0.0, 0.8]])

#: numpy dtypes of MetaImage element types (little endian; MSB files swap).
ELEMENT_DTYPES = {"MET_UCHAR": "u1", "MET_CHAR": "i1", "MET_USHORT": "u2", "MET_SHORT": "i2", "MET_UINT": "u4",
                  "MET_INT": "i4", "MET_ULONG": "u8", "MET_LONG": "i8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8"}

FIELD_VALUES: dict[str, list[str]] = {
    "NDims": ["2", "4", "0", "x", DELETE],
    "DimSize": ["10 12 3", "12 10 2", "12 10 4", "12 10 0", "12 -10 3", "a b c", "12 10", "12 10 3 1",
                "100000 100000 100000", "12 10 3.5", DELETE],
    "ElementType": ["MET_FLOAT", "MET_UCHAR", "MET_DOUBLE", "MET_USHORT", "MET_FOO", DELETE],
    "ElementSpacing": ["0 0.7 2.5", "-0.8 0.7 2.5", "nan 0.7 2.5", "a b c", "0.8 0.7", "1e-300 1 1", "0.8 0.7 2.5",
                       DELETE],
    "Offset": ["nan 0 0", "a 0 0", "0 0", "1e308 0 0", "5 6 7", DELETE],
    "TransformMatrix": ["1 0 0 0 1 0 0 0 1", "0 0 0 0 0 0 0 0 0", "1 1 0 0 1 0 0 0 1", "nan 0 0 0 1 0 0 0 1",
                        "1 0 0 0 1 0 0 0", "0 1 0 1 0 0 0 0 1", "-1 0 0 0 -1 0 0 0 1", DELETE],
    "CompressedData": ["False", "True", "maybe", DELETE],
    "CompressedDataSize": ["1", "100", "99999999", "x", "-5", DELETE],
    "ElementDataFile": ["missing.zraw", "../escape.zraw", "/etc/hostname", "LOCAL", "", DELETE],
    "BinaryDataByteOrderMSB": ["True", "False", DELETE],
    "ElementNumberOfChannels": ["1", "2", "3", "0", DELETE],
    "HeaderSize": ["0", "10", "-1", DELETE],
    "ObjectType": ["Mesh", DELETE],
}
RAW_LINES = ["DimSize = 12 10 2", "garbage line without equals", "ElementType = MET_FLOAT", "= 3", ""]
DATA_ACTIONS = ["truncate", "pad", "corrupt", "empty", "remove"]


def base_image(seed: int = 3) -> np.ndarray:
    """Random HU (Z, Y, X) int16 for the valid file."""
    return np.random.default_rng(seed).integers(-1024, 2000, size=SHAPE_ZYX).astype(np.int16)


def write_base(folder: Path, compress: bool) -> Path:
    """The valid MetaImage (``scan.mhd`` + data file) written by tqgd's writer (SimpleITK)."""
    from tqgd.data.writers import write_metaimage

    return write_metaimage(base_image(), folder / "scan.mhd", spacing_mm=SPACING_MM, origin_mm=ORIGIN_MM,
                           direction=DIRECTION, compress=compress)


def _header_lines(header: Path) -> list[tuple[str, str]]:
    lines = []
    for line in header.read_text().splitlines():
        key, sep, value = line.partition("=")
        lines.append((key.strip(), value.strip()) if sep else (line, None))
    return lines


def build_case(base: Path, folder: Path, mutations: list[tuple]) -> Path:
    """Copy the folder of the valid ``base`` header to ``folder`` and apply ``mutations``; returns the header path."""
    shutil.copytree(base.parent, folder)
    header = folder / base.name
    data_file = next(p for p in folder.iterdir() if p.suffix in (".raw", ".zraw"))
    lines = _header_lines(header)
    for mutation in mutations:
        kind = mutation[0]
        if kind == "field":
            key, value = mutation[1], mutation[2]
            lines = [(k, v) for k, v in lines if k != key]
            if value != DELETE:
                position = next((i for i, (k, _) in enumerate(lines) if k == "ElementDataFile"), len(lines))
                lines.insert(position if key != "ElementDataFile" else len(lines), (key, value))
        elif kind == "line":
            lines.insert(max(len(lines) - 1, 0), (mutation[1], None))
        elif kind == "data" and data_file.exists():
            action, fraction = mutation[1], mutation[2]
            data = data_file.read_bytes()
            cut = int(len(data) * fraction)
            if action == "truncate":
                data_file.write_bytes(data[:cut])
            elif action == "pad":
                data_file.write_bytes(data + bytes(max(cut, 1)))
            elif action == "corrupt" and data:
                data_file.write_bytes(data[:cut] + bytes([data[cut % len(data)] ^ 0xFF]) + data[cut + 1:])
            elif action == "empty":
                data_file.write_bytes(b"")
            elif action == "remove":
                data_file.unlink()
    header.write_text("".join(f"{k} = {v}\n" if v is not None else f"{k}\n" for k, v in lines))
    return header


class NotReadable(Exception):
    """The independent reader refuses the file (tqgd must refuse it too)."""


def _floats(fields: dict[str, str], key: str, count: int, default: list[float] | None = None) -> list[float]:
    if key not in fields:
        if default is None:
            raise NotReadable(f"{key} missing")
        return default
    try:
        values = [float(v) for v in fields[key].split()]
    except ValueError as exc:
        raise NotReadable(f"{key} {fields[key]!r}") from exc
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise NotReadable(f"{key} {fields[key]!r}")
    return values


def _fields(header: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in header.read_text(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep and line.strip():
            raise NotReadable(f"line {line!r} is not 'key = value'")
        if not key:
            continue  # blank lines and empty keys carry nothing
        if key in fields:
            raise NotReadable(f"{key} given twice")
        fields[key] = value.strip()
    return fields


def _voxels(header: Path, fields: dict[str, str], dims: list[int]) -> np.ndarray:
    if fields.get("ElementType") not in ELEMENT_DTYPES:
        raise NotReadable("ElementType")
    header_size = fields.get("HeaderSize", "0")
    if fields.get("ElementNumberOfChannels", "1") != "1" or not header_size.lstrip("-").isdigit() or \
            int(header_size) < -1 or (header_size != "0" and fields.get("CompressedData") == "True"):
        raise NotReadable("channels or header size")
    name = fields.get("ElementDataFile", "")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise NotReadable("ElementDataFile holds control characters")
    data_path = (header.parent / name).resolve()
    if not name or name.upper() in ("LOCAL", "LIST") or header.parent.resolve() not in data_path.parents:
        raise NotReadable("ElementDataFile")
    if not data_path.is_file():
        raise NotReadable("data file missing")
    data = data_path.read_bytes()
    compressed = fields.get("CompressedData", "False")
    if compressed not in ("True", "False"):
        raise NotReadable("CompressedData")
    if compressed == "True":
        promised = fields.get("CompressedDataSize", str(len(data)))
        if not promised.isdigit() or int(promised) > len(data):
            raise NotReadable("CompressedDataSize")
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(data[: int(promised)]) + inflater.flush()
        except zlib.error as exc:
            raise NotReadable("zlib") from exc
        if not inflater.eof:
            raise NotReadable("zlib stream cut short")
    if header_size == "-1":  # the voxels are the last bytes of the file
        data = data[max(len(data) - int(np.prod(dims)) * np.dtype(ELEMENT_DTYPES[fields["ElementType"]]).itemsize, 0):]
    elif header_size != "0":
        data = data[int(header_size):]
    byte_order = fields.get("BinaryDataByteOrderMSB", fields.get("ElementByteOrderMSB", "False"))
    dtype = np.dtype(ELEMENT_DTYPES[fields["ElementType"]]).newbyteorder(">" if byte_order == "True" else "<")
    if len(data) != int(np.prod(dims)) * dtype.itemsize:
        raise NotReadable(f"{len(data)} bytes for DimSize {dims}")
    return np.frombuffer(data, dtype=dtype).reshape(dims[::-1]).astype(np.float64)


def independent_metaimage(header: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """HU (Z, Y, X) float64 and geometry (origin, direction, spacing x/y/z) of a 3D MetaImage, by plain parsing."""
    fields = _fields(header)
    if fields.get("ObjectType", "Image") != "Image" or fields.get("NDims") != "3":
        raise NotReadable("not a 3D image")
    try:
        dims = [int(v) for v in fields.get("DimSize", "").split()]
    except ValueError as exc:
        raise NotReadable("DimSize") from exc
    if len(dims) != 3 or min(dims) <= 0 or math.prod(dims) > 10**8:
        raise NotReadable("DimSize")
    spacing = _floats(fields, "ElementSpacing", 3, [1.0, 1.0, 1.0])
    if min(spacing) <= 0:
        raise NotReadable("ElementSpacing")
    origin = _floats(fields, "Offset", 3, [0.0, 0.0, 0.0])
    matrix = np.array(_floats(fields, "TransformMatrix", 9, [1, 0, 0, 0, 1, 0, 0, 0, 1])).reshape(3, 3).T
    if not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-4):
        raise NotReadable("TransformMatrix is not a rotation")
    hu = _voxels(header, fields, dims)
    return hu, {"origin": np.array(origin), "direction": matrix, "spacing_xyz": np.array(spacing)}


def patient_position(geometry: dict[str, np.ndarray], zyx: np.ndarray) -> np.ndarray:
    """Patient (x, y, z) mm of voxel (z, y, x): origin + direction @ (spacing * index)."""
    index_xyz = np.asarray(zyx, dtype=float)[::-1]
    return geometry["origin"] + geometry["direction"] @ (geometry["spacing_xyz"] * index_xyz)
