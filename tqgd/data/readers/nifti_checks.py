"""Checks run on a NIfTI file before SimpleITK reads it: size, scaling and which geometry the file really means.

ITK zero-fills a truncated NIfTI without any error. It also picks among the file's two geometries (qform, sform)
by its own rules, orthogonalises a sheared sform, invents a position when neither is set, and adds ``scl_inter``
even when ``scl_slope`` is 0 (which the standard says means "not scaled"). nibabel differs on each of those, so
such a file has no one right reading; tqgd refuses it with the reason instead of guessing.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqgd.errors import ScanReadError

#: NIfTI-1 and NIfTI-2 header sizes (the first int32 of the file, in the file's byte order).
NIFTI1_HEADER_BYTES = 348
NIFTI2_HEADER_BYTES = 540
#: Per version: byte offset and value of the magic string of a single-file (.nii) NIfTI.
MAGIC = {1: (344, b"n+1\x00"), 2: (4, b"n+2\x00")}
#: qform and sform that put every corner of the volume this close (mm) describe one geometry; also the allowed
#: difference between the sform's voxel sizes and pixdim.
FORM_AGREEMENT_MM = 1e-3
#: Directions of the sform's axes may be off perpendicular by rounding, not more.
ORTHOGONALITY_TOLERANCE = 1e-4
#: Below this, 1 - (b^2 + c^2 + d^2) is float32 rounding and the quaternion's a is 0 (niftilib's rule, which ITK uses).
QUATERNION_ZERO_A = 1e-7
#: Larger volumes are a corrupt header, not a CT scan (2**31 voxels is 8 GiB of float32 HU).
MAX_VOXELS = 2**31
_GZIP_CHUNK_BYTES = 1 << 20
#: struct layouts: (field, offset NIfTI-1, format NIfTI-1, offset NIfTI-2, format NIfTI-2).
_FIELDS = (("dims", 40, "8h", 16, "8q"), ("bitpix", 72, "h", 14, "h"), ("pixdim", 76, "8f", 104, "8d"),
           ("vox_offset", 108, "f", 168, "q"), ("scl", 112, "2f", 176, "2d"), ("qform_code", 252, "h", 344, "i"),
           ("sform_code", 254, "h", 348, "i"), ("quatern", 256, "6f", 352, "6d"), ("srow", 280, "12f", 400, "12d"))


@dataclass(frozen=True)
class NiftiHeader:
    """The NIfTI-1/2 header fields tqgd checks."""

    dims: tuple[int, ...]
    bitpix: int
    pixdim: tuple[float, ...]
    vox_offset: int
    scl_slope: float
    scl_inter: float
    qform_code: int
    sform_code: int
    quatern: tuple[float, ...]  # b, c, d, then qoffset x, y, z
    srow: tuple[float, ...]  # srow_x, srow_y, srow_z (4 each)

    @property
    def voxels(self) -> int:
        """Voxel count over the dimensions dim[0] names."""
        n_dims = min(max(self.dims[0], 1), 7)
        return math.prod(max(d, 1) for d in self.dims[1:1 + n_dims])

    def qform(self) -> np.ndarray:
        """The 4x4 qform affine (RAS), as the NIfTI standard builds it from the quaternion, pixdim and qfac."""
        b, c, d, *offset = self.quatern
        a_squared = 1.0 - (b * b + c * c + d * d)
        if a_squared < QUATERNION_ZERO_A:  # a 180-degree turn stored in float32: renormalise, as niftilib does
            norm = math.sqrt(b * b + c * c + d * d) or 1.0
            a, b, c, d = 0.0, b / norm, c / norm, d / norm
        else:
            a = math.sqrt(a_squared)
        rotation = np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                             [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                             [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c]])
        qfac = -1.0 if self.pixdim[0] == -1 else 1.0
        affine = np.eye(4)
        affine[:3, :3] = rotation @ np.diag([self.pixdim[1], self.pixdim[2], qfac * self.pixdim[3]])
        affine[:3, 3] = offset
        return affine

    def sform(self) -> np.ndarray:
        """The 4x4 sform affine (RAS)."""
        return np.vstack([np.array(self.srow, dtype=float).reshape(3, 4), [0.0, 0.0, 0.0, 1.0]])


def parse_nifti_header(header: bytes, path: Path) -> NiftiHeader:
    """Decode a NIfTI-1 or NIfTI-2 header in either byte order."""
    for order in ("<", ">"):
        size = struct.unpack(f"{order}i", header[:4])[0] if len(header) >= 4 else 0
        if size in (NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES) and len(header) >= size:
            version = 1 if size == NIFTI1_HEADER_BYTES else 2
            magic_at, magic = MAGIC[version]
            if header[magic_at:magic_at + len(magic)] != magic:
                found = header[magic_at:magic_at + len(magic)]
                raise ScanReadError(f"the NIfTI-{version} magic {magic!r} is missing (found {found!r} at byte "
                                    f"{magic_at}); the header is damaged", path)
            values = {}
            for name, offset1, format1, offset2, format2 in _FIELDS:
                offset, layout = (offset1, format1) if version == 1 else (offset2, format2)
                values[name] = struct.unpack_from(f"{order}{layout}", header, offset)
            return NiftiHeader(dims=tuple(int(v) for v in values["dims"]), bitpix=int(values["bitpix"][0]),
                               pixdim=values["pixdim"], vox_offset=int(values["vox_offset"][0]),
                               scl_slope=float(values["scl"][0]), scl_inter=float(values["scl"][1]),
                               qform_code=int(values["qform_code"][0]), sform_code=int(values["sform_code"][0]),
                               quatern=values["quatern"], srow=values["srow"])
    raise ScanReadError("not a NIfTI file: the header size field is neither 348 (NIfTI-1) nor 540 (NIfTI-2); the file "
                        "is damaged or has the wrong extension", path)


def check_scaling(header: NiftiHeader, path: Path) -> None:
    """scl_slope 0 or NaN means "not scaled" (then scl_inter must be 0 or unset); otherwise both must be finite."""
    slope, inter = header.scl_slope, header.scl_inter
    if math.isinf(slope):
        raise ScanReadError(f"scl_slope is {slope}; the voxel values cannot be scaled. Fix the header", path)
    if slope == 0 or math.isnan(slope):
        if math.isfinite(inter) and inter != 0:
            raise ScanReadError(f"scl_slope is {slope} (not scaled, by the NIfTI standard) but scl_inter is {inter:g}; "
                                "readers disagree on whether to add it, so HU are ambiguous. Set scl_inter to 0 or "
                                "scl_slope to 1", path)
    elif not math.isfinite(inter):
        raise ScanReadError(f"scl_slope is {slope:g} but scl_inter is {inter}; HU cannot be computed. Fix the header",
                            path)


def check_geometry(header: NiftiHeader, path: Path) -> None:
    """Refuse files whose patient geometry is missing, sheared, or given twice in two different ways."""
    if header.qform_code <= 0 and header.sform_code <= 0:
        raise ScanReadError("qform_code and sform_code are both 0: the file says nothing about where the voxels are in "
                            "the patient (ITK and nibabel would each guess differently). Re-save it with its "
                            "orientation", path)
    if header.sform_code > 0:
        linear = header.sform()[:3, :3]
        norms = np.linalg.norm(linear, axis=0)
        if not np.isfinite(linear).all() or norms.min() <= 0 or not np.allclose(
                (linear / norms).T @ (linear / norms), np.eye(3), atol=ORTHOGONALITY_TOLERANCE):
            raise ScanReadError(f"the sform {np.round(linear, 4).tolist()} is sheared or degenerate (its axes are not "
                                "perpendicular), which a CT volume cannot be; ITK would silently straighten it. Fix "
                                "the header", path)
        voxel_mm = np.abs(np.asarray(header.pixdim[1:4], dtype=float))
        if not np.allclose(norms, voxel_mm, atol=FORM_AGREEMENT_MM):
            raise ScanReadError(f"the sform's voxel sizes {np.round(norms, 4).tolist()} mm differ from pixdim "
                                f"{np.round(voxel_mm, 4).tolist()} mm; readers take one or the other, so sizes and "
                                "positions are ambiguous. Make them agree", path)
    if header.qform_code > 0 and header.sform_code > 0:
        corners = grid_corners(header)
        difference = float(np.abs(corners @ header.qform().T - corners @ header.sform().T).max())
        if not difference <= FORM_AGREEMENT_MM:
            raise ScanReadError(f"the qform and the sform place the voxels differently (up to {difference:.3g} mm apart "
                                "at the corners of the volume); readers pick different ones, so positions are "
                                "ambiguous. Set one of qform_code / sform_code to 0 or make them agree", path)


def grid_corners(header: NiftiHeader) -> np.ndarray:
    """(8, 4) homogeneous voxel indices (i, j, k, 1) of the corners of the volume."""
    extent = [max(d, 1) - 1 for d in (list(header.dims[1:4]) + [1, 1, 1])[:3]]
    return np.array([[i, j, k, 1.0] for i in (0, extent[0]) for j in (0, extent[1]) for k in (0, extent[2])])


def _gzip_size(path: Path) -> int:
    """Uncompressed size of a gzip file, read to the end; a truncated or damaged stream (CRC) is an error."""
    size = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_GZIP_CHUNK_BYTES):
                size += len(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise ScanReadError(f"the gzip stream is truncated or damaged ({exc}); copy the file again", path) from exc
    return size


def check_nifti(path: Path, compressed: bool, geometry: bool = True) -> None:
    """Refuse a NIfTI that is truncated (ITK would zero-fill it), absurdly large, or ambiguous in scaling or (when
    ``geometry``; label masks matched by voxel index skip it) in where its voxels are."""
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as fh:
            raw = fh.read(NIFTI2_HEADER_BYTES)
    except (EOFError, OSError, zlib.error) as exc:
        raise ScanReadError(f"cannot read the NIfTI header ({exc}); the file is damaged or not gzip", path) from exc
    header = parse_nifti_header(raw, path)
    if header.voxels > MAX_VOXELS:
        raise ScanReadError(f"the header's dimensions {header.dims[1:1 + max(header.dims[0], 1)]} make "
                            f"{header.voxels:,} voxels, more than any CT scan; the header is corrupt", path)
    check_scaling(header, path)
    if geometry:
        check_geometry(header, path)
    needed = header.vox_offset + header.voxels * max(header.bitpix, 8) // 8
    if compressed:  # read to the end: gzip checks the CRC there (the size trailer alone misses damage before it)
        found = _gzip_size(path)
    else:
        found = path.stat().st_size
    if found < needed:
        raise ScanReadError(f"NIfTI voxel data are truncated: {found} bytes where the header needs {needed}; copy the "
                            "file again", path)
