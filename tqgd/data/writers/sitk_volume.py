"""Write a (Z, Y, X) array as MetaImage (``.mhd`` + ``.zraw``/``.raw``, or ``.mha``) or NIfTI through SimpleITK.

The array's dtype is kept (int16 for HU, uint8 for labels), as OrCaScore ships them. A MetaImage header names
its data file, so both files are first written under their final names in a temporary folder next to the target
and then renamed into place, data file first: a reader never finds a header whose data is missing or partial.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tqgd.errors import ConfigError, OutputError
from tqgd.io import atomic_path

_NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _image(array_zyx: np.ndarray, spacing_mm: Sequence[float], origin_mm: Sequence[float],
           direction: np.ndarray | Sequence[float] | None) -> sitk.Image:
    """A SimpleITK image with the array's dtype and geometry; spacing is given (z, y, x), origin (x, y, z)."""
    array = np.asarray(array_zyx)
    if array.ndim != 3:
        raise ConfigError(f"expected a 3D (z, y, x) array, got shape {array.shape}")
    spacing = [float(s) for s in spacing_mm]
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ConfigError(f"spacing_mm must be three positive numbers (z, y, x), got {tuple(spacing_mm)}")
    origin = [float(o) for o in origin_mm]
    if len(origin) != 3 or not np.isfinite(origin).all():
        raise ConfigError(f"origin_mm must be three finite numbers (x, y, z), got {tuple(origin_mm)}")
    matrix = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64).reshape(3, 3)
    if not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-5):
        raise ConfigError(f"direction must be an orthonormal 3x3 matrix, got {matrix.tolist()}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=False)
    image.SetSpacing(spacing[::-1])
    image.SetOrigin(origin)
    image.SetDirection(matrix.flatten().tolist())
    return image


def _write(image: sitk.Image, path: Path, compress: bool) -> None:
    try:
        sitk.WriteImage(image, str(path), useCompression=compress)
    except RuntimeError as exc:
        last_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown ITK error"
        raise OutputError(f"SimpleITK could not write it: {last_line}", path) from exc


def write_metaimage(array_zyx: np.ndarray, path: str | Path, spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
                    origin_mm: Sequence[float] = (0.0, 0.0, 0.0), direction: np.ndarray | None = None,
                    compress: bool = True) -> Path:
    """Write a MetaImage: ``.mhd`` header plus ``.zraw`` (compressed) or ``.raw``; ``.mha`` keeps both in one file.

    Returns the header path. ``spacing_mm`` is (z, y, x), ``origin_mm`` (x, y, z), ``direction`` a 3x3 matrix
    whose columns are the patient directions of the x, y, z axes (identity by default).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mhd", ".mha"):
        raise ConfigError(f"a MetaImage path must end in .mhd or .mha, got {path.name!r}")
    image = _image(array_zyx, spacing_mm, origin_mm, direction)
    if suffix == ".mha":
        with atomic_path(path) as tmp:
            _write(image, tmp, compress)
        return path
    data_name = path.with_suffix(".zraw" if compress else ".raw").name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror}); choose a writable output folder", path.parent) from exc
    try:
        _write(image, staging / path.name, compress)
        if not (staging / data_name).exists():
            raise OutputError(f"SimpleITK did not write the expected data file {data_name}", path)
        os.replace(staging / data_name, path.parent / data_name)
        os.replace(staging / path.name, path)
    except OSError as exc:
        raise OutputError(f"cannot write MetaImage ({exc.strerror})", path) from exc
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    return path


def write_nifti(array_zyx: np.ndarray, path: str | Path, spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
                origin_mm: Sequence[float] = (0.0, 0.0, 0.0), direction: np.ndarray | None = None) -> Path:
    """Write a NIfTI file (``.nii``, or gzip-compressed ``.nii.gz``); arguments as for ``write_metaimage``.

    ITK stores the geometry in the NIfTI qform/sform (RAS on disk, LPS in memory), so reading it back with
    SimpleITK or tqgd gives the same origin and direction.
    """
    path = Path(path)
    if not path.name.lower().endswith(_NIFTI_SUFFIXES):
        raise ConfigError(f"a NIfTI path must end in .nii or .nii.gz, got {path.name!r}")
    image = _image(array_zyx, spacing_mm, origin_mm, direction)
    with atomic_path(path, suffix=".nii.gz" if path.name.lower().endswith(".nii.gz") else ".nii") as tmp:
        _write(image, tmp, compress=False)
    return path
