"""Hand-built CT volumes and label files for scoring tests (made on the fly, never committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.detections import Detection, DetectionResult, SliceDetections

BACKGROUND_HU = 40.0  # soft tissue / blood, well below any calcium threshold


def make_volume(shape_zyx: tuple[int, int, int] = (4, 32, 32), spacing_mm: tuple[float, float, float] = (3.0, 0.5, 0.5),
                *, kvp: float | None = 120.0, slice_thickness_mm: float | None = None, fmt: str = "metaimage",
                has_hu: bool = True, scan_id: str = "HAND1", patient: dict[str, str] | None = None) -> CTVolume:
    """A uniform soft-tissue volume to paint lesions into (``volume.hu[z, y, x] = ...``)."""
    meta = ScanMetadata(source=Path(f"{scan_id}.mhd"), format=fmt, has_hu=has_hu, kvp=kvp,
                        slice_thickness_mm=slice_thickness_mm, slice_spacing_mm=spacing_mm[0], modality="CT",
                        scan_id=scan_id, patient=dict(patient or {}))
    return CTVolume(hu=np.full(shape_zyx, BACKGROUND_HU, dtype=np.float32), spacing_mm=spacing_mm,
                    origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)


def write_mhd(array_zyx: np.ndarray, path: Path, spacing_mm: tuple[float, float, float], dtype=np.int16) -> Path:
    """Write a MetaImage (+ .zraw) with SimpleITK; spacing given (z, y, x)."""
    image = sitk.GetImageFromArray(np.asarray(array_zyx).astype(dtype))
    image.SetSpacing((float(spacing_mm[2]), float(spacing_mm[1]), float(spacing_mm[0])))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def detection_result(volume: CTVolume, boxes: list[tuple[int, tuple[float, float, float, float], float, str]],
                     **overrides) -> DetectionResult:
    """DetectionResult on ``volume``'s grid from (slice, box_xyxy, confidence, class_name) tuples."""
    by_slice: dict[int, list[Detection]] = {}
    for z, box, confidence, name in boxes:
        by_slice.setdefault(z, []).append(Detection(box_xyxy=box, confidence=confidence, class_name=name))
    fields = dict(source=str(volume.meta.source), shape_zyx=volume.shape, spacing_mm=volume.spacing_mm,
                  origin_mm=volume.origin_mm, direction=volume.direction.ravel().tolist(),
                  slices=[SliceDetections(z, dets) for z, dets in sorted(by_slice.items())])
    fields.update(overrides)
    return DetectionResult(**fields)


def three_lesion_case(shape_zyx: tuple[int, int, int] = (6, 40, 40)) -> tuple[CTVolume, np.ndarray]:
    """CT + artery labels with three separate lesions: A (LAD), B (LCX), C (RCA); all voxels >= 130 HU.

    A: z 1-2, y 4-7, x 4-7 (32 voxels, 300 HU); B: z 2, y 20-22, x 20-22 (9 voxels, 500 HU);
    C: z 3-4, y 10-13, x 28-31 (32 voxels, 220 HU, one voxel 700 HU).
    """
    volume = make_volume(shape_zyx)
    labels = np.zeros(shape_zyx, dtype=np.uint8)
    volume.hu[1:3, 4:8, 4:8] = 300
    labels[1:3, 4:8, 4:8] = 1
    volume.hu[2, 20:23, 20:23] = 500
    labels[2, 20:23, 20:23] = 2
    volume.hu[3:5, 10:14, 28:32] = 220
    volume.hu[3, 11, 29] = 700
    labels[3:5, 10:14, 28:32] = 3
    return volume, labels


def four_label_case(shape_zyx: tuple[int, int, int] = (6, 40, 40)) -> tuple[CTVolume, np.ndarray]:
    """``three_lesion_case`` plus lesion E of label 4 (calcium of undetermined artery, as real OrCaScore references
    hold).

    E: z 1-2, y 30-32, x 10-13 (12 voxels per slice), 260 HU on slice 1, 260 HU with one voxel of 410 HU on slice 2.
    """
    volume, labels = three_lesion_case(shape_zyx)
    volume.hu[1:3, 30:33, 10:14] = 260
    volume.hu[2, 31, 12] = 410
    labels[1:3, 30:33, 10:14] = 4
    return volume, labels


def write_orcascore_case(root: Path, case_id: str, volume: CTVolume, labels: np.ndarray) -> tuple[Path, Path]:
    """Write ``Images/<ID>CTI.mhd`` and ``Reference standard/<ID>R.mhd`` (OrCaScore layout) under ``root``."""
    from tqgd.data.orcascore import image_path, reference_path

    image = write_mhd(volume.hu, image_path(root, case_id), volume.spacing_mm, np.int16)
    reference = write_mhd(labels, reference_path(root, case_id), volume.spacing_mm, np.uint8)
    return image, reference


def boxes_from_labels(labels: np.ndarray) -> list[tuple[int, tuple[float, float, float, float], float, str]]:
    """One tight box per 2D connected label component per slice, class named by artery or ``undetermined`` (label 4),
    as a perfect ``--classes artery`` detector would give."""
    from scipy import ndimage

    from tqgd.data.orcascore import REFERENCE_LABELS

    boxes = []
    for z in range(labels.shape[0]):
        for value, name in REFERENCE_LABELS.items():
            components, _ = ndimage.label(labels[z] == value, structure=np.ones((3, 3)))
            for rows, cols in ndimage.find_objects(components):
                boxes.append((z, (float(cols.start), float(rows.start), float(cols.stop), float(rows.stop)), 0.9, name))
    return boxes
