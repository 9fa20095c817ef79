"""NIfTI files with odd orientations, scalings and header forms, written with nibabel, for the fuzz suite.

``write_case`` turns a drawn case into a file; ``independent_nifti`` is the oracle: nibabel's scaled voxels and
nibabel's affine (sform when its code is set, else qform), converted from RAS to the LPS tqgd uses.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Byte offset of scl_slope (then scl_inter) in a NIfTI-1 header.
SCL_SLOPE_OFFSET = 112
#: Largest distance (mm) between where qform and sform put a corner of the volume for them to count as one geometry.
FORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class NiftiCase:
    """One file to write: voxel grid, on-disk type, geometry (both forms) and scaling."""

    shape_xyz: tuple[int, ...]
    dtype: str
    rotation: tuple[float, ...]  # 3x3 row-major, columns = directions of the i, j, k axes (RAS)
    spacing: tuple[float, float, float]
    offset: tuple[float, float, float]
    sform_code: int
    qform_code: int
    qform_rotation: tuple[float, ...] | None  # a different qform rotation (None: same as the sform)
    shear: float  # added to the sform's (0, 1) element: a non-orthogonal sform
    slope: float | None
    inter: float | None
    compressed: bool
    seed: int

    @property
    def name(self) -> str:
        """File name with its suffix."""
        return "scan.nii.gz" if self.compressed else "scan.nii"


def rotation_matrix(quaternion: tuple[float, float, float, float]) -> np.ndarray:
    """A proper rotation from a (not necessarily unit) quaternion."""
    a, b, c, d = np.asarray(quaternion, dtype=float) / np.linalg.norm(quaternion)
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c]])


def axis_rotation(permutation: tuple[int, int, int], signs: tuple[int, int, int]) -> np.ndarray:
    """A signed permutation matrix (the odd orientations scanners write: LAS, PSR, ...)."""
    matrix = np.zeros((3, 3))
    for column, (row, sign) in enumerate(zip(permutation, signs, strict=True)):
        matrix[row, column] = sign
    return matrix


def _affine(rotation: np.ndarray, spacing: tuple[float, float, float], offset: tuple[float, float, float]) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing)
    affine[:3, 3] = offset
    return affine


def write_case(case: NiftiCase, folder: Path) -> Path:
    """Write ``case`` with nibabel and return the path."""
    import nibabel as nib

    rng = np.random.default_rng(case.seed)
    info = np.iinfo(case.dtype) if np.dtype(case.dtype).kind in "iu" else None
    low, high = (max(info.min, -1024), min(info.max, 3000)) if info else (-1024, 3000)
    data = rng.integers(low, high, size=case.shape_xyz).astype(case.dtype)
    rotation = np.array(case.rotation).reshape(3, 3)
    sform = _affine(rotation, case.spacing, case.offset)
    sform[0, 1] += case.shear
    image = nib.Nifti1Image(data, affine=None)
    image.header.set_sform(sform, code=case.sform_code)
    q_rotation = rotation if case.qform_rotation is None else np.array(case.qform_rotation).reshape(3, 3)
    image.header.set_qform(_affine(q_rotation, case.spacing, case.offset), code=case.qform_code)
    image.header.set_xyzt_units("mm")
    data_bytes = bytearray(image.to_bytes())
    if case.slope is not None or case.inter is not None:  # raw header bytes: nibabel refuses to write odd values
        struct.pack_into("<ff", data_bytes, SCL_SLOPE_OFFSET, case.slope, case.inter)
    path = folder / case.name
    path.write_bytes(gzip.compress(bytes(data_bytes), mtime=0) if case.compressed else bytes(data_bytes))
    return path


def independent_nifti(path: Path) -> tuple[np.ndarray, np.ndarray] | str:
    """(HU as (Z, Y, X) float64, 4x4 LPS affine mapping (i, j, k, 1) to mm) by nibabel, or why it is ambiguous."""
    try:
        return _independent_nifti(path)
    except Exception as exc:  # nibabel refuses the file: tqgd must too
        return f"nibabel refuses it ({type(exc).__name__}: {exc})"


def _independent_nifti(path: Path) -> tuple[np.ndarray, np.ndarray] | str:
    import nibabel as nib

    image = nib.load(path)
    header = image.header
    if image.ndim != 3:
        return f"{image.ndim}D"
    raw = (gzip.decompress if path.name.endswith(".gz") else bytes)(path.read_bytes())
    slope, inter = struct.unpack_from("<ff", raw, SCL_SLOPE_OFFSET)  # as stored: nibabel "fixes" odd values on load
    if np.isinf(slope):  # 0 and NaN both mean "not scaled" (nibabel writes NaN by default)
        return "scl_slope is infinite"
    if slope != 0 and np.isfinite(slope) and not np.isfinite(inter):
        return "scl_inter is not finite"
    sform_code, qform_code = int(header["sform_code"]), int(header["qform_code"])
    if sform_code > 0 and qform_code > 0:
        extent = [n - 1 for n in image.shape[:3]]
        corners = np.array([[i, j, k, 1.0] for i in (0, extent[0]) for j in (0, extent[1]) for k in (0, extent[2])])
        difference = np.abs(corners @ header.get_sform().T - corners @ header.get_qform().T).max()
        if difference > FORM_TOLERANCE:
            return "qform and sform disagree"
    affine = image.affine.copy()
    linear = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    if not np.allclose(linear.T @ linear, np.eye(3), atol=1e-4):
        return "the affine is sheared"
    data = image.get_fdata(dtype=np.float64)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    return np.transpose(data, (2, 1, 0)), lps


def patient_position(lps_affine: np.ndarray, zyx: np.ndarray) -> np.ndarray:
    """LPS mm of voxel (z, y, x) = (k, j, i)."""
    k, j, i = (float(v) for v in zyx)
    return (lps_affine @ np.array([i, j, k, 1.0]))[:3]
