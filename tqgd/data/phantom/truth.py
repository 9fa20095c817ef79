"""Ground truth from the final image: OrCaScore labels, per-lesion and per-distractor facts, heart boxes.

OrCaScore's definition is applied to the final (noisy, integer) HU: a lesion is the 6-connected component of
voxels above 130 HU inside the lesion's support that holds its densest part; every voxel of it gets the
artery's label (1 LAD, 2 LCX, 3 RCA). Supports of different objects never touch (see ``calcium.fits``), so
lesions never touch each other and distractor voxels are never labelled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from tqgd.data.phantom.calcium import CalcifiedObject
from tqgd.data.phantom.config import CALCIUM_THRESHOLD_HU
from tqgd.data.volume import CTVolume

_SIX_CONNECTED = ndimage.generate_binary_structure(3, 1)


@dataclass
class SliceArea:
    """One lesion's cross-section on one slice."""

    slice_index: int
    area_px: int
    area_mm2: float
    peak_hu: float


@dataclass
class CalciumFacts:
    """What a test or a scorer needs about one calcified object (lesion or distractor).

    Voxel indices are (z, y, x); ``centroid_mm`` is patient LPS (x, y, z); ``bbox_zyx`` is
    (z0, y0, x0, z1, y1, x1) with exclusive ends. ``density_hu`` and ``size_mm`` are what the generator drew
    (calcium density before partial volume, cross-section semi-axis), not measurements.
    """

    kind: str
    voxel_count: int
    volume_mm3: float
    peak_hu: float
    mean_hu: float
    centroid_zyx: list[float]
    centroid_mm: list[float]
    bbox_zyx: list[int]
    density_hu: float
    size_mm: float
    artery: str | None = None
    label: int = 0
    slices: list[SliceArea] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict (floats rounded to 0.001)."""
        out = asdict(self)
        for key in ("volume_mm3", "peak_hu", "mean_hu", "density_hu", "size_mm"):
            out[key] = round(float(out[key]), 3)
        out["centroid_zyx"] = [round(float(v), 3) for v in out["centroid_zyx"]]
        out["centroid_mm"] = [round(float(v), 3) for v in out["centroid_mm"]]
        return out


def _facts(kind: str, mask_zyx: np.ndarray, origin_zyx: tuple[int, int, int], volume: CTVolume,
           density_hu: float, size_mm: float, artery: str | None = None, label: int = 0) -> CalciumFacts:
    """Facts of the voxels ``mask_zyx`` (a window whose first voxel is at ``origin_zyx``)."""
    idx = np.argwhere(mask_zyx) + np.asarray(origin_zyx)
    values = volume.hu[idx[:, 0], idx[:, 1], idx[:, 2]]
    sz, sy, sx = volume.spacing_mm
    centroid = idx.mean(axis=0)
    slices = []
    pixel_mm2 = sy * sx
    for k in np.unique(idx[:, 0]):
        on = idx[:, 0] == k
        slices.append(SliceArea(int(k), int(on.sum()), round(float(on.sum() * pixel_mm2), 4),
                                float(values[on].max())))
    return CalciumFacts(kind=kind, voxel_count=len(idx), volume_mm3=len(idx) * sz * sy * sx,
                        peak_hu=float(values.max()), mean_hu=float(values.mean()), centroid_zyx=centroid.tolist(),
                        centroid_mm=volume.index_to_patient(centroid).tolist(),
                        bbox_zyx=[*idx.min(axis=0).tolist(), *(idx.max(axis=0) + 1).tolist()],
                        density_hu=density_hu, size_mm=size_mm, artery=artery, label=label, slices=slices)


def label_lesion(obj: CalcifiedObject, label_value: int, volume: CTVolume, labels: np.ndarray) -> CalciumFacts | None:
    """Write the lesion's component into ``labels`` and return its facts; None when nothing exceeds 130 HU."""
    support_fraction = obj.support_fraction
    candidates = obj.support & (volume.hu[obj.box] > CALCIUM_THRESHOLD_HU)
    if not candidates.any():
        return None
    components, _ = ndimage.label(candidates, structure=_SIX_CONNECTED)
    densest = np.unravel_index(np.argmax(np.where(candidates, support_fraction, -1.0)), candidates.shape)
    mask = components == components[densest]
    labels[obj.box][mask] = label_value
    origin = tuple(s.start for s in obj.box)
    return _facts("lesion", mask, origin, volume, obj.density_hu, obj.size_mm, obj.artery, label_value)


def mark_distractor(obj: CalcifiedObject, number: int, volume: CTVolume,
                    distractor_ids: np.ndarray) -> CalciumFacts | None:
    """Mark the object's voxels above 130 HU with ``number`` in ``distractor_ids``; None when there are none."""
    mask = obj.support & (volume.hu[obj.box] > CALCIUM_THRESHOLD_HU)
    if not mask.any():
        return None
    distractor_ids[obj.box][mask] = number
    return _facts(obj.kind, mask, tuple(s.start for s in obj.box), volume, obj.density_hu, obj.size_mm)


def spike_facts(position: tuple[int, int, int], volume: CTVolume, distractor_ids: np.ndarray,
                number: int) -> CalciumFacts:
    """Facts of a one-voxel noise spike (marked with ``number`` in ``distractor_ids``)."""
    distractor_ids[position] = number
    mask = np.ones((1, 1, 1), dtype=bool)
    value = float(volume.hu[position])
    return _facts("noise_spike", mask, position, volume, value, 0.0)


def mark_bone(volume: CTVolume, bone: np.ndarray, distractor_ids: np.ndarray, number: int) -> list[CalciumFacts]:
    """One distractor entry for all bone voxels (``bone`` mask) above 130 HU: ribs, sternum, spine, scapulae."""
    mask = bone & (volume.hu > CALCIUM_THRESHOLD_HU) & (distractor_ids == 0)
    if not mask.any():
        return []
    distractor_ids[mask] = number
    return [_facts("bone", mask, (0, 0, 0), volume, float(volume.hu[mask].max()), 0.0)]


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixel-edge bounding box of a (Y, X) mask; None when empty."""
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


Box = tuple[int, int, int, int]


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """Smallest box holding both (either may be None)."""
    if a is None or b is None:
        return a or b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
