"""Coronary artery masks for the geometric prior: from the phantom's centre lines, or from mask files.

The phantom sidecar (``phantom/<ID>.json``) lists each artery's centre line in patient mm (every 2 mm) with the scan
geometry. ``phantom_artery_mask`` marks every voxel whose centre lies within ``radius_mm`` of the centre line
(polyline resampled every ``CENTRELINE_RESAMPLE_MM``, nearest point by a k-d tree). The default radius covers the
lumen (at most 2.2 mm) and a plaque in its wall: phantom lesions sit 0.4-0.9 lumen radii off the centre line and
reach up to ~4 mm further, so a few voxels of the largest plaques may lie outside.

``ArteryMasks`` hands out the mask of one dataset image (slice and crop from the manifest), from the phantom
sidecars next to the converted source or from a folder of mask files matched like predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tqgd.baselines.dataset import DatasetSplit, SplitImage
from tqgd.errors import DatasetError, LabelError

#: Distance from the centre line (mm) counted as artery when no radius is given.
DEFAULT_ARTERY_RADIUS_MM = 5.0
#: Spacing of the resampled centre line (mm); well below the pixel size so the tube has no gaps.
CENTRELINE_RESAMPLE_MM = 0.25
#: Folder of the phantom sidecars inside a phantom set (``tqgd.data.phantom.layout.PHANTOM_DIR``).
PHANTOM_DIR = "phantom"


def phantom_sidecar(source_root: Path, patient: str) -> dict:
    """The sidecar JSON of ``patient`` in a phantom set at ``source_root``; DatasetError when absent."""
    path = Path(source_root) / PHANTOM_DIR / f"{patient}.json"
    if not path.is_file():
        raise DatasetError(f"no phantom sidecar for {patient}; artery masks and heart boxes from the phantom need a "
                           "dataset converted from a tqgd phantom set (or pass your own masks / ROI)", path)
    return json.loads(path.read_text(encoding="utf-8"))


def _resample(points_mm: np.ndarray, step_mm: float) -> np.ndarray:
    """Points every ``step_mm`` along a polyline (N, 3), ends included."""
    if len(points_mm) < 2:
        return points_mm
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points_mm, axis=0), axis=1))])
    samples = np.append(np.arange(0.0, arc[-1], step_mm), arc[-1])
    return np.stack([np.interp(samples, arc, points_mm[:, k]) for k in range(3)], axis=1)


def phantom_artery_mask(sidecar: dict, radius_mm: float = DEFAULT_ARTERY_RADIUS_MM) -> np.ndarray:
    """Boolean (Z, Y, X) mask of the voxels within ``radius_mm`` of any artery centre line of a phantom sidecar."""
    from scipy.spatial import cKDTree

    geometry = sidecar["geometry"]
    shape = tuple(int(v) for v in geometry["shape_zyx"])
    spacing_xyz = np.asarray(geometry["spacing_mm"][::-1], dtype=np.float64)
    origin = np.asarray(geometry["origin_mm"], dtype=np.float64)
    axes = np.asarray(geometry["direction"], dtype=np.float64).reshape(3, 3) * spacing_xyz  # columns: x, y, z steps
    points = np.concatenate([_resample(np.asarray(a["centreline_mm"], dtype=np.float64), CENTRELINE_RESAMPLE_MM)
                             for a in sidecar["arteries"].values()])
    index_xyz = np.linalg.solve(axes, (points - origin).T).T  # continuous (x, y, z) voxel indices
    reach = radius_mm / spacing_xyz
    low = np.maximum(np.floor(index_xyz.min(axis=0) - reach), 0).astype(int)
    high = np.minimum(np.ceil(index_xyz.max(axis=0) + reach) + 1, shape[::-1]).astype(int)
    mask = np.zeros(shape, dtype=bool)
    if np.any(high <= low):
        return mask
    x, y, z = np.meshgrid(*(np.arange(lo, hi) for lo, hi in zip(low, high, strict=True)), indexing="ij")
    centres = origin + np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1) @ axes.T
    distance, _ = cKDTree(points).query(centres, distance_upper_bound=radius_mm)
    inside = (distance <= radius_mm).reshape(x.shape)  # (x, y, z) order
    mask[low[2]:high[2], low[1]:high[1], low[0]:high[0]] = inside.transpose(2, 1, 0)
    return mask


class ArteryMasks:
    """Per-image artery masks (H, W) for a split: ``phantom`` sidecars or a folder of mask files.

    A folder holds 2D masks named like the images or 3D masks named like the patients (non-zero = artery), matched
    and cropped exactly as predictions are (``prediction_files.PredictionFolder``).
    """

    def __init__(self, split: DatasetSplit, source: str | Path, radius_mm: float = DEFAULT_ARTERY_RADIUS_MM):
        from tqgd.baselines.prediction_files import PredictionFolder

        self.split, self.radius_mm = split, radius_mm
        self.folder = None if str(source) == "phantom" else PredictionFolder(source)
        self.description = "phantom centre lines" if self.folder is None else str(source)
        self._patient: tuple[str, np.ndarray] | None = None

    def for_image(self, image: SplitImage) -> np.ndarray:
        """Boolean (H, W) artery mask in the image's pixels."""
        if self.folder is not None:
            prediction = self.folder.for_image(image)
            if prediction.is_probability:
                raise LabelError(f"artery mask for {image.stem} is a float map; give integer masks", self.folder.folder)
            return prediction.values != 0
        row = image.row
        if row is None:
            raise DatasetError(f"image {image.stem} has no manifest row, so its slice is unknown", self.split.root)
        if self._patient is None or self._patient[0] != row.patient:
            sidecar = phantom_sidecar(self.split.source_root(), row.patient)
            self._patient = (row.patient, phantom_artery_mask(sidecar, self.radius_mm))
        volume = self._patient[1]
        return volume[row.slice_index, row.crop_y0:row.crop_y0 + image.height, row.crop_x0:row.crop_x0 + image.width]
