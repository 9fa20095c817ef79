"""The one in-memory form of a CT scan that every tqgd reader returns.

Arrays are indexed (z, y, x): z is the slice index, y the row, x the column. Geometry follows DICOM/ITK
patient coordinates (LPS, millimetres): the centre of voxel (z, y, x) is at
``origin_mm + direction @ (spacing_xyz * (x, y, z))`` unless per-slice positions are known, in which case
the slice's own ImagePositionPatient is used (irregular or gapped series map exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ScanMetadata:
    """What later stages need to know about a scan, beyond its voxels.

    ``slice_thickness_mm`` is the reconstructed thickness (DICOM SliceThickness); ``slice_spacing_mm`` is the
    distance between neighbouring slice centres. They differ for overlapping reconstructions (e.g. 3 mm
    slices every 1.5 mm), which matters for Agatston normalisation. ``patient`` holds direct identifiers
    (name, birth date, ...) read from the file: they, and ``source`` (a path that may name the patient), are
    never written to tqgd outputs unless asked for.
    """

    source: Path
    format: str  # "dicom" | "metaimage" | "nifti" | "image"
    has_hu: bool = True
    kvp: float | None = None
    slice_thickness_mm: float | None = None
    slice_spacing_mm: float | None = None
    modality: str | None = None
    series_uid: str | None = None
    study_uid: str | None = None
    frame_of_reference_uid: str | None = None
    sop_instance_uids: list[str] = field(default_factory=list)
    scan_id: str | None = None
    patient: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def public_dict(self, include_identifiers: bool = False) -> dict[str, Any]:
        """JSON-ready metadata: UIDs and the scan ID; direct patient identifiers and the source path (folders are
        often named after the patient) only when ``include_identifiers`` is set."""
        out = {
            "format": self.format,
            "has_hu": self.has_hu,
            "kvp": self.kvp,
            "slice_thickness_mm": self.slice_thickness_mm,
            "slice_spacing_mm": self.slice_spacing_mm,
            "modality": self.modality,
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "scan_id": self.scan_id,
        }
        if include_identifiers:
            out["source"] = str(self.source)
            out["patient"] = dict(self.patient)
        return out


@dataclass
class CTVolume:
    """A CT volume in Hounsfield units with its geometry.

    Attributes:
        hu: float32 array (Z, Y, X); HU when ``meta.has_hu``, raw grey values otherwise (2D images).
        spacing_mm: voxel size (z, y, x) in mm; z is the slice-centre spacing.
        origin_mm: patient position (x, y, z) in mm of the centre of voxel (0, 0, 0).
        direction: (3, 3) matrix whose columns are the patient-space directions of the x, y, z index axes.
        slice_positions_mm: (Z, 3) patient position of each slice's first voxel, when the source has them.
        meta: scan metadata (kVp, thickness vs spacing, UIDs, identifiers).
    """

    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: np.ndarray
    meta: ScanMetadata
    slice_positions_mm: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.hu.ndim != 3:
            raise ValueError(f"CTVolume.hu must be 3D (z, y, x), got shape {self.hu.shape}")
        self.hu = np.asarray(self.hu, dtype=np.float32)
        self.spacing_mm = tuple(float(s) for s in self.spacing_mm)
        self.origin_mm = tuple(float(o) for o in self.origin_mm)
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        if self.slice_positions_mm is not None:
            self.slice_positions_mm = np.asarray(self.slice_positions_mm, dtype=np.float64).reshape(-1, 3)
            if len(self.slice_positions_mm) != self.hu.shape[0]:
                raise ValueError(f"{len(self.slice_positions_mm)} slice positions for {self.hu.shape[0]} slices")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(Z, Y, X) voxel counts."""
        return tuple(self.hu.shape)  # type: ignore[return-value]

    def index_to_patient(self, zyx: np.ndarray) -> np.ndarray:
        """Map continuous voxel indices (..., 3) ordered (z, y, x) to patient mm (..., 3) ordered (x, y, z)."""
        zyx = np.asarray(zyx, dtype=np.float64)
        z, y, x = zyx[..., 0], zyx[..., 1], zyx[..., 2]
        sz, sy, sx = self.spacing_mm
        col_x, col_y, col_z = self.direction[:, 0], self.direction[:, 1], self.direction[:, 2]
        in_plane = x[..., None] * sx * col_x + y[..., None] * sy * col_y
        if self.slice_positions_mm is not None:
            n = len(self.slice_positions_mm)
            zi = np.clip(z, 0, n - 1)
            lo = np.floor(zi).astype(int)
            hi = np.minimum(lo + 1, n - 1)
            frac = (zi - lo)[..., None]
            base = self.slice_positions_mm[lo] * (1 - frac) + self.slice_positions_mm[hi] * frac
            outside = (z - zi)[..., None] * sz * col_z  # extrapolate past the first/last slice
            return base + outside + in_plane
        return np.asarray(self.origin_mm) + in_plane + z[..., None] * sz * col_z
