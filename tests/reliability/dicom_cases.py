"""Damaged DICOM series for the fuzz suite: a valid 3-slice CT series, then tag, VR, pixel and file mutations.

A mutation is plain data (so hypothesis can print it): ``("set", file, keyword, value)`` writes a value (``DELETE``
removes the element), ``("vr", file, keyword, vr, value)`` rewrites an element with another value representation,
``("pixels", file, n_bytes)`` cuts or pads the pixel data, ``("syntax", file, uid)`` relabels the transfer syntax
without re-encoding, and ``("file", file, action, arg)`` truncates, drops or duplicates a whole file or adds junk.

``independent_series`` is the oracle: pydicom's own ``pixel_array`` times the file's RescaleSlope plus
RescaleIntercept, sorted along the slice normal, with the rules tqgd promises written out independently
(exact pixel-data length, finite HU, positive spacing).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom import config as pydicom_config
from pydicom.dataelem import DataElement
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

DELETE = "DELETE"
N_FILES = 3
ROWS, COLUMNS = 10, 12
SPACING_MM = (2.5, 0.7, 0.8)  # z, y, x

#: Nasty values per keyword (DS/IS values as the strings a file would hold).
VALUES: dict[str, list[Any]] = {
    "Rows": [0, 1, 5, 9, 11, 8192, 65535, DELETE],
    "Columns": [0, 6, 13, 24, 65535, DELETE],
    "RescaleSlope": [DELETE, "0", "", "NaN", "inf", "-1", "1e-30", "1e30", "2", "0.5", "abc", "1\\2"],
    "RescaleIntercept": [DELETE, "NaN", "-inf", "0", "1e38", "abc", "", "-1024\\0"],
    "PixelSpacing": [DELETE, ["0", "0"], ["NaN", "1"], ["-1", "1"], ["1"], ["1", "2", "3"], ["0.5", "0.7"],
                     ["inf", "1"], "", ["1e-30", "1"]],
    "ImagePositionPatient": [DELETE, ["NaN", "0", "0"], ["0", "0"], ["0", "0", "0"], ["1e300", "0", "0"], ""],
    "ImageOrientationPatient": [DELETE, ["0"] * 6, ["1", "0", "0", "1", "0", "0"], ["1", "0", "0", "0", "1", "0"],
                                ["0", "1", "0", "0", "0", "-1"], ["NaN", "0", "0", "0", "1", "0"],
                                ["1", "0", "0", "0", "1"], ["2", "0", "0", "0", "2", "0"]],
    "BitsAllocated": [0, 1, 8, 12, 32, 64, DELETE],
    "BitsStored": [0, 8, 12, 17, DELETE],
    "HighBit": [0, 11, 20],
    "PixelRepresentation": [0, 1, 2, DELETE],
    "SamplesPerPixel": [0, 3, DELETE],
    "PhotometricInterpretation": ["RGB", "PALETTE COLOR", "MONOCHROME1", "", "YBR_FULL", DELETE],
    "Modality": ["MR", "", "ct", DELETE],
    "NumberOfFrames": ["0", "1", "2", "-1", "x"],
    "SliceThickness": ["NaN", "-1", "0", "abc", DELETE],
    "KVP": ["abc", "NaN", "-120", "100", DELETE],
    "SpacingBetweenSlices": ["0", "-2", "NaN", DELETE],
    "SeriesInstanceUID": ["1.2.3.4", "", DELETE],
    "SOPClassUID": ["1.2.840.10008.5.1.4.1.1.4", DELETE],
    "RescaleType": ["US", "", "OD", DELETE],
}
#: Value representations an element may be rewritten with (and a value each).
WRONG_VRS: list[tuple[str, Any]] = [("DS", "8.5"), ("LO", "abc"), ("US", 3), ("SS", -5), ("FD", float("nan")),
                                    ("UL", 4294967295), ("OB", b"\x00\x01\x02"), ("SQ", [])]
SYNTAXES = ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.2", "1.2.3.4.5",
            "1.2.840.10008.1.2.1.99"]
FILE_ACTIONS = ["truncate", "drop", "duplicate", "junk", "empty"]
#: Elements pydicom requires before decoding whose absence cannot change HU (tqgd assumes these values).
DISPLAY_DEFAULTS = {"PhotometricInterpretation": "MONOCHROME2", "SamplesPerPixel": 1}


def _set(ds: pydicom.Dataset, keyword: str, value: Any) -> None:
    if value == DELETE:
        if keyword in ds:
            del ds[keyword]
        return
    tag = tag_for_keyword(keyword)
    ds[tag] = DataElement(tag, dictionary_VR(tag), value)


def _apply_to_dataset(ds: pydicom.Dataset, mutation: tuple) -> None:
    kind = mutation[0]
    if kind == "set":
        _set(ds, mutation[2], mutation[3])
    elif kind == "vr":
        tag = tag_for_keyword(mutation[2])
        ds[tag] = DataElement(tag, mutation[3], mutation[4])
    elif kind == "pixels":
        data = bytes(ds.PixelData)
        n = mutation[2]
        ds.PixelData = data[:n] if n <= len(data) else data + bytes(n - len(data))
    elif kind == "syntax":
        ds.file_meta.TransferSyntaxUID = mutation[2]


def _apply_to_file(folder: Path, files: list[Path], mutation: tuple) -> None:
    _, index, action, arg = mutation
    target = files[index % len(files)]
    if not target.exists():
        return
    if action == "truncate":
        data = target.read_bytes()
        target.write_bytes(data[: int(len(data) * arg)])
    elif action == "drop":
        target.unlink()
    elif action == "duplicate":
        shutil.copyfile(target, folder / f"copy_of_{target.name}")
    elif action == "junk":
        (folder / f"junk{index}.dcm").write_bytes(bytes(range(256)) * (1 + int(arg * 3)))
    elif action == "empty":
        target.write_bytes(b"")


def build_case(base: Path, folder: Path, mutations: list[tuple]) -> list[tuple]:
    """Copy the valid series ``base`` into ``folder`` and apply ``mutations`` (pydicom validation off, as a broken
    writer would produce); file mutations go last. Returns the mutations pydicom could write (the case as built)."""
    shutil.copytree(base, folder)
    files = sorted(folder.glob("*.dcm"))
    applied = []
    previous = pydicom_config.settings.writing_validation_mode
    pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
    try:
        for mutation in sorted(mutations, key=lambda m: m[0] == "file"):
            if mutation[0] == "file":
                _apply_to_file(folder, files, mutation)
                applied.append(mutation)
                continue
            target = files[mutation[1] % len(files)]
            original = target.read_bytes()
            try:
                ds = pydicom.dcmread(target)
                _apply_to_dataset(ds, mutation)
                ds.save_as(target, enforce_file_format=False)
            except Exception:  # pydicom cannot write this combination: the case goes on without it
                target.write_bytes(original)
                continue
            applied.append(mutation)
    finally:
        pydicom_config.settings.writing_validation_mode = previous
    return applied


class NotReadable(Exception):
    """The independent reader refuses the series (tqgd must refuse it too)."""


def _number_list(ds: pydicom.Dataset, keyword: str, count: int) -> np.ndarray:
    raw = ds.get(keyword)
    values = list(raw) if isinstance(raw, (list, tuple, pydicom.multival.MultiValue)) else [raw]
    try:
        array = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NotReadable(f"{keyword} {raw!r}") from exc
    if array.shape != (count,) or not np.isfinite(array).all():
        raise NotReadable(f"{keyword} {raw!r}")
    return array


def independent_series(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """HU (Z, Y, X) float64 and geometry of the one CT series in ``folder``, by pydicom and plain numpy.

    Raises:
        NotReadable: the series breaks a rule (any failure of this reader counts as one).
    """
    try:
        return _independent_series(folder)
    except NotReadable:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # includes pyo3's PanicException from the Rust RLE decoder
        raise NotReadable(f"{type(exc).__name__}: {exc}") from exc


def _independent_series(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    slices = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
        except Exception:  # junk next to the series is skipped, as tqgd documents
            continue
        if "PixelData" not in ds:
            continue
        if str(ds.get("Modality", "")) != "CT" or int(ds.get("NumberOfFrames", 1) or 1) != 1:
            raise NotReadable("not a single-frame CT image")
        rows, columns, bits = int(ds.Rows), int(ds.Columns), int(ds.BitsAllocated)
        if "TransferSyntaxUID" not in ds.file_meta:  # lost: the encoding the header was parsed with, uncompressed
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if ds.original_encoding[0] else \
                ExplicitVRLittleEndian
        syntax = ds.file_meta.TransferSyntaxUID
        if not syntax.is_compressed and len(ds.PixelData) not in (rows * columns * bits // 8,
                                                                   rows * columns * bits // 8 + 1):
            raise NotReadable("pixel data length does not match Rows x Columns x BitsAllocated")
        for keyword, default in DISPLAY_DEFAULTS.items():  # they do not change stored values, so not HU either
            if keyword not in ds:
                setattr(ds, keyword, default)
        try:
            stored = ds.pixel_array.astype(np.float64)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            raise NotReadable(f"pydicom cannot decode: {exc}") from exc
        hu = stored * _number_list(ds, "RescaleSlope", 1)[0] + _number_list(ds, "RescaleIntercept", 1)[0]
        spacing = _number_list(ds, "PixelSpacing", 2)
        if not (np.isfinite(hu).all() and (spacing > 0).all()) or _number_list(ds, "RescaleSlope", 1)[0] == 0:
            raise NotReadable("non-finite HU, zero slope or non-positive spacing")
        slices.append((ds, hu, spacing))
    if not slices:
        raise NotReadable("no images")
    if len({s[0].get("SeriesInstanceUID") for s in slices}) > 1:
        raise NotReadable("several series")
    single = len(slices) == 1  # one slice may lack its place: tqgd then notes origin (0, 0, 0) and axis directions
    first = slices[0][0]
    orientation = _number_list(first, "ImageOrientationPatient", 6) if not (
        single and first.get("ImageOrientationPatient") in (None, "")) else np.array([1.0, 0, 0, 0, 1, 0])
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    positions = np.zeros((1, 3)) if single and first.get("ImagePositionPatient") in (None, "") else np.array(
        [_number_list(s[0], "ImagePositionPatient", 3) for s in slices])
    order = np.argsort(positions @ normal, kind="stable")
    gaps = np.diff((positions @ normal)[order])
    if len(gaps) and gaps.min() < 1e-3:
        raise NotReadable("two slices at one position")
    hu = np.stack([slices[i][1] for i in order])
    spacing_z = float(np.median(gaps)) if len(gaps) else float(SPACING_MM[0])
    row_mm, col_mm = slices[0][2]
    return hu, {"positions": positions[order], "row": row, "col": col, "normal": normal,
                "pixel_mm": np.array([row_mm, col_mm]), "spacing_z": spacing_z}


def patient_position(geometry: dict[str, np.ndarray], zyx: np.ndarray) -> np.ndarray:
    """Patient (x, y, z) mm of voxel (z, y, x) on an integer slice index, from that slice's own position."""
    z, y, x = (float(v) for v in zyx)
    row_mm, col_mm = geometry["pixel_mm"]
    return geometry["positions"][int(z)] + x * col_mm * geometry["row"] + y * row_mm * geometry["col"]
