"""read_ct on MetaImage (.mhd + .zraw/.raw, .mha) and NIfTI written by SimpleITK/nibabel, and their breakages."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from tests.data.conftest import OBLIQUE_DIRECTION, ct_volume
from tqgd.data.readers import read_ct
from tqgd.data.writers import write_dicom_series, write_metaimage, write_nifti
from tqgd.errors import ConfigError, ScanReadError

SPACING_XYZ = (0.8, 0.7, 2.5)
ORIGIN_XYZ = (-20.0, -30.5, 40.25)


@pytest.fixture
def hu_array():
    return np.random.default_rng(5).integers(-1024, 2500, size=(4, 12, 20)).astype(np.int16)


def _sitk_write(array, path, compress=False):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING_XYZ)
    image.SetOrigin(ORIGIN_XYZ)
    image.SetDirection(OBLIQUE_DIRECTION.flatten().tolist())
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


@pytest.mark.parametrize(("name", "compress", "data_file"), [
    ("TRV1P1CTI.mhd", True, "TRV1P1CTI.zraw"), ("scan.mhd", False, "scan.raw"), ("scan.mha", True, None),
])
def test_metaimage_written_by_simpleitk(tmp_path, hu_array, name, compress, data_file):
    path = _sitk_write(hu_array, tmp_path / name, compress)
    if data_file:
        assert (tmp_path / data_file).exists()
    volume = read_ct(path)
    np.testing.assert_array_equal(volume.hu, hu_array)
    assert volume.hu.dtype == np.float32 and volume.meta.format == "metaimage" and volume.meta.has_hu
    assert volume.spacing_mm == pytest.approx(SPACING_XYZ[::-1])
    assert volume.origin_mm == pytest.approx(ORIGIN_XYZ)
    np.testing.assert_allclose(volume.direction, OBLIQUE_DIRECTION, atol=1e-9)
    assert volume.meta.scan_id == name.rsplit(".", 1)[0] and volume.meta.slice_spacing_mm == 2.5


@pytest.mark.parametrize("name", ["scan.nii.gz", "scan.nii"])
def test_nifti_written_by_simpleitk(tmp_path, hu_array, name):
    volume = read_ct(_sitk_write(hu_array, tmp_path / name))
    np.testing.assert_array_equal(volume.hu, hu_array)
    assert volume.meta.format == "nifti" and volume.meta.scan_id == "scan"
    assert volume.spacing_mm == pytest.approx(SPACING_XYZ[::-1], abs=1e-6)  # NIfTI stores float32 spacing
    assert volume.origin_mm == pytest.approx(ORIGIN_XYZ, abs=1e-4)
    np.testing.assert_allclose(volume.direction, OBLIQUE_DIRECTION, atol=1e-5)


def test_nifti_scaling_is_applied(tmp_path):
    stored = np.arange(2 * 3 * 4, dtype=np.int16).reshape(4, 3, 2)  # nibabel order (x, y, z)
    image = nib.Nifti1Image(stored, np.diag([0.5, 0.6, 2.0, 1.0]))
    image.header.set_slope_inter(2.0, -1024.0)
    nib.save(image, tmp_path / "scaled.nii.gz")
    volume = read_ct(tmp_path / "scaled.nii.gz")
    np.testing.assert_array_equal(volume.hu, stored.transpose(2, 1, 0) * 2.0 - 1024.0)
    assert volume.spacing_mm == pytest.approx((2.0, 0.6, 0.5))


def test_dicom_and_metaimage_of_one_volume_read_the_same(tmp_path):
    volume = ct_volume(shape=(4, 24, 40), direction=OBLIQUE_DIRECTION)
    write_dicom_series(volume, tmp_path / "dicom")
    write_metaimage(volume.hu.astype(np.int16), tmp_path / "scan.mhd", spacing_mm=volume.spacing_mm,
                    origin_mm=volume.origin_mm, direction=volume.direction)
    from_dicom, from_mhd = read_ct(tmp_path / "dicom"), read_ct(tmp_path / "scan.mhd")
    np.testing.assert_array_equal(from_dicom.hu, from_mhd.hu)
    assert from_dicom.spacing_mm == pytest.approx(from_mhd.spacing_mm)
    assert from_dicom.origin_mm == pytest.approx(from_mhd.origin_mm)
    np.testing.assert_allclose(from_dicom.direction, from_mhd.direction, atol=1e-6)
    corner = np.array([3.0, 23.0, 39.0])
    np.testing.assert_allclose(from_dicom.index_to_patient(corner), from_mhd.index_to_patient(corner), atol=1e-5)


def test_two_dimensional_metaimage_is_one_slice(tmp_path, hu_array):
    sitk.WriteImage(sitk.GetImageFromArray(hu_array[0]), str(tmp_path / "slice.mhd"))
    volume = read_ct(tmp_path / "slice.mhd")
    assert volume.shape == (1, 12, 20)
    np.testing.assert_array_equal(volume.hu[0], hu_array[0])


def test_missing_data_file(tmp_path, hu_array):
    write_metaimage(hu_array, tmp_path / "scan.mhd")
    (tmp_path / "scan.zraw").unlink()
    with pytest.raises(ScanReadError, match=r"scan\.mhd: pixel data file 'scan\.zraw' named by ElementDataFile is "
                                            "missing"):
        read_ct(tmp_path / "scan.mhd")


def test_truncated_zraw(tmp_path, hu_array):
    write_metaimage(hu_array, tmp_path / "scan.mhd")
    data = (tmp_path / "scan.zraw").read_bytes()
    (tmp_path / "scan.zraw").write_bytes(data[: len(data) // 2])
    with pytest.raises(ScanReadError, match=rf"'scan\.zraw' holds {len(data) // 2} bytes but the header's "
                                            rf"CompressedDataSize is {len(data)}; the file is truncated"):
        read_ct(tmp_path / "scan.mhd")


def test_truncated_raw(tmp_path, hu_array):
    write_metaimage(hu_array, tmp_path / "scan.mhd", compress=False)
    (tmp_path / "scan.raw").write_bytes((tmp_path / "scan.raw").read_bytes()[:100])
    with pytest.raises(ScanReadError, match=r"'scan\.raw' holds 100 bytes but DimSize \[20, 12, 4\] needs 1920"):
        read_ct(tmp_path / "scan.mhd")


def test_header_without_dimensions(tmp_path):
    (tmp_path / "scan.mhd").write_text("ObjectType = Image\nNDims = 3\n")
    with pytest.raises(ScanReadError, match="not a MetaImage header: DimSize and ElementType are required"):
        read_ct(tmp_path / "scan.mhd")


def test_truncated_nifti_is_not_zero_filled(tmp_path, hu_array):
    path = write_nifti(hu_array, tmp_path / "scan.nii")
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ScanReadError, match=rf"NIfTI voxel data are truncated: {size - 100} bytes where the header "
                                            rf"needs {size}"):
        read_ct(path)


def test_truncated_gzip_nifti(tmp_path, hu_array):
    path = write_nifti(hu_array, tmp_path / "scan.nii.gz")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ScanReadError, match="gzip stream is truncated or damaged"):
        read_ct(path)


def test_file_that_is_not_nifti(tmp_path):
    (tmp_path / "scan.nii").write_bytes(b"\0" * 400)
    with pytest.raises(ScanReadError, match=r"not a NIfTI file: the header size field is neither 348"):
        read_ct(tmp_path / "scan.nii")


def test_non_finite_values_are_refused(tmp_path):
    values = np.zeros((2, 4, 4), dtype=np.float32)
    values[1, 2, 3] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(values), str(tmp_path / "scan.mha"))
    with pytest.raises(ScanReadError, match="NaN or infinity"):
        read_ct(tmp_path / "scan.mha")


def test_series_uid_is_refused_not_ignored(tmp_path, hu_array):
    write_nifti(hu_array, tmp_path / "scan.nii.gz")
    with pytest.raises(ConfigError, match="series_uid apply to DICOM folders only"):
        read_ct(tmp_path / "scan.nii.gz", series_uid="1.2.3")
