"""Crop box -> full-slice box -> patient mm, checked voxel by voxel on oblique and flipped DICOM series.

The patient position of a pixel is computed independently from the files' own tags with pydicom:
ImagePositionPatient + column * PixelSpacing[1] * row direction + row * PixelSpacing[0] * column direction.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.data.readers import read_ct
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.data.writers import write_dicom_series
from tqgd.engine.detect import box_patient_mm, crop_to_full
from tqgd.scoring.boxes import box_pixel_range

_ANGLE = np.deg2rad(20.0)
#: Columns are the patient directions of the x, y, z index axes.
OBLIQUE = np.array([[np.cos(_ANGLE), -np.sin(_ANGLE), 0.0],
                    [np.sin(_ANGLE) * np.cos(0.3), np.cos(_ANGLE) * np.cos(0.3), -np.sin(0.3)],
                    [np.sin(_ANGLE) * np.sin(0.3), np.cos(_ANGLE) * np.sin(0.3), np.cos(0.3)]])
#: Rows run right-to-left and columns feet-to-head order is reversed: a flipped (mirrored) orientation.
FLIPPED = np.array([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
CROP_XYXY = (7, 5, 33, 21)


def _series(tmp_path, direction: np.ndarray) -> CTVolume:
    """Write a 6 x 24 x 40 series with distinct HU per voxel and read it back with read_ct."""
    hu = (np.arange(6 * 24 * 40, dtype=np.float32).reshape(6, 24, 40) % 2000) - 500
    volume = CTVolume(hu=hu, spacing_mm=(2.5, 0.7, 0.8), origin_mm=(-20.0, -30.5, 40.25), direction=direction,
                      meta=ScanMetadata(source=tmp_path / "in-memory", format="dicom"))
    write_dicom_series(volume, tmp_path / "series", uid_seed=f"mapping-{direction.sum():.3f}")
    return read_ct(tmp_path / "series")


def _pydicom_position(folder, z: int, row: int, col: int) -> np.ndarray:
    """Patient mm of pixel (row, col) on the z-th slice along the slice normal, from the DICOM tags alone."""
    datasets = [pydicom.dcmread(path) for path in sorted(folder.iterdir())]
    orientation = np.array(datasets[0].ImageOrientationPatient, dtype=np.float64)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    ordered = sorted(datasets, key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, float), normal)))
    ds = ordered[z]
    spacing_row, spacing_col = (float(v) for v in ds.PixelSpacing)
    return np.array(ds.ImagePositionPatient, float) + col * spacing_col * row_dir + row * spacing_row * col_dir


@pytest.mark.parametrize("direction", [OBLIQUE, FLIPPED], ids=["oblique", "flipped"])
@pytest.mark.parametrize(("z", "row", "col"), [(0, 0, 0), (3, 7, 11), (5, 15, 25)])
def test_one_pixel_crop_box_maps_to_the_same_voxel_and_position(tmp_path, direction, z, row, col) -> None:
    volume = _series(tmp_path, direction)
    x0, y0, x1, y1 = CROP_XYXY
    crop = volume.hu[z, y0:y1, x0:x1]
    crop_box = np.array([[col, row, col + 1, row + 1, 0.9, 0]], dtype=np.float64)  # pixel edges in the crop
    full = crop_to_full(crop_box, (x0, y0))[0]
    assert tuple(full[:4]) == (col + x0, row + y0, col + x0 + 1, row + y0 + 1)
    rows, cols = box_pixel_range(full[1], full[3], volume.shape[1]), box_pixel_range(full[0], full[2], volume.shape[2])
    assert rows == (row + y0, row + y0 + 1) and cols == (col + x0, col + x0 + 1)  # the box covers exactly that voxel
    assert volume.hu[z, rows[0], cols[0]] == crop[row, col]
    mm = box_patient_mm(volume, z, tuple(full[:4]))
    expected = _pydicom_position(tmp_path / "series", z, row + y0, col + x0)
    np.testing.assert_allclose(mm["centre_mm"], expected, atol=1e-3)
    np.testing.assert_allclose(mm["centre_mm"], volume.index_to_patient(np.array([z, row + y0, col + x0])), atol=1e-3)


@pytest.mark.parametrize("direction", [OBLIQUE, FLIPPED], ids=["oblique", "flipped"])
def test_box_corners_are_the_outer_pixel_edges(tmp_path, direction) -> None:
    volume = _series(tmp_path, direction)
    box = (12.0, 4.0, 15.0, 9.0)  # covers columns 12..14 and rows 4..8
    mm = box_patient_mm(volume, 2, box)
    half_col, half_row = 0.5 * 0.8 * volume.direction[:, 0], 0.5 * 0.7 * volume.direction[:, 1]
    top_left = _pydicom_position(tmp_path / "series", 2, 4, 12) - half_col - half_row
    bottom_right = _pydicom_position(tmp_path / "series", 2, 8, 14) + half_col + half_row
    np.testing.assert_allclose(mm["x0y0_mm"], top_left, atol=1e-3)
    np.testing.assert_allclose(mm["x1y1_mm"], bottom_right, atol=1e-3)
    np.testing.assert_allclose(mm["centre_mm"], (top_left + bottom_right) / 2, atol=1e-3)
    side = np.linalg.norm(np.subtract(mm["x1y0_mm"], mm["x0y0_mm"]))
    assert side == pytest.approx(3 * 0.8, abs=1e-3)  # three columns wide, whatever the orientation


def test_crop_to_full_keeps_scores_and_classes_and_copies() -> None:
    rows = np.array([[1.5, 2.0, 4.5, 6.0, 0.7, 2.0], [0.0, 0.0, 1.0, 1.0, 0.2, 0.0]])
    full = crop_to_full(rows, (10, 20))
    np.testing.assert_array_equal(full, [[11.5, 22.0, 14.5, 26.0, 0.7, 2.0], [10.0, 20.0, 11.0, 21.0, 0.2, 0.0]])
    assert rows[0, 0] == 1.5  # the input is not changed
    assert crop_to_full(np.zeros((0, 6)), (3, 4)).shape == (0, 6)
