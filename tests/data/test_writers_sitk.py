"""write_metaimage / write_nifti: dtype kept, geometry kept, compressed .zraw as OrCaScore ships, atomic."""

from __future__ import annotations

import re

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from tests.data.conftest import OBLIQUE_DIRECTION
from tqgd.data.writers import write_metaimage, write_nifti
from tqgd.errors import ConfigError

SPACING_ZYX = (2.5, 0.7, 0.8)
ORIGIN_XYZ = (-20.0, -30.5, 40.25)


def _header(path):
    return dict(re.findall(r"^(\w+) = (.*)$", path.read_text(), flags=re.MULTILINE))


@pytest.fixture
def hu_array():
    return np.random.default_rng(1).integers(-1024, 2000, size=(5, 12, 20)).astype(np.int16)


def test_metaimage_compressed_writes_mhd_and_zraw(tmp_path, hu_array):
    header = write_metaimage(hu_array, tmp_path / "TRV1P1CTI.mhd", spacing_mm=SPACING_ZYX, origin_mm=ORIGIN_XYZ,
                             direction=OBLIQUE_DIRECTION)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["TRV1P1CTI.mhd", "TRV1P1CTI.zraw"]
    fields = _header(header)
    assert fields["CompressedData"] == "True" and fields["ElementDataFile"] == "TRV1P1CTI.zraw"
    assert fields["ElementType"] == "MET_SHORT" and fields["DimSize"] == "20 12 5"
    image = sitk.ReadImage(str(header))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), hu_array)
    assert image.GetSpacing() == pytest.approx(SPACING_ZYX[::-1])
    assert image.GetOrigin() == pytest.approx(ORIGIN_XYZ)
    np.testing.assert_allclose(np.array(image.GetDirection()).reshape(3, 3), OBLIQUE_DIRECTION, atol=1e-9)


def test_metaimage_uncompressed_raw_holds_the_plain_bytes(tmp_path, hu_array):
    write_metaimage(hu_array, tmp_path / "scan.mhd", spacing_mm=SPACING_ZYX, compress=False)
    assert _header(tmp_path / "scan.mhd")["ElementDataFile"] == "scan.raw"
    np.testing.assert_array_equal(np.fromfile(tmp_path / "scan.raw", dtype="<i2").reshape(hu_array.shape), hu_array)


def test_label_volume_stays_uint8(tmp_path):
    labels = np.zeros((3, 8, 8), dtype=np.uint8)
    labels[1, 2:4, 2:4] = 3
    write_metaimage(labels, tmp_path / "TRV1P1R.mhd")
    assert _header(tmp_path / "TRV1P1R.mhd")["ElementType"] == "MET_UCHAR"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "TRV1P1R.mhd"))), labels)


def test_mha_is_one_file(tmp_path, hu_array):
    write_metaimage(hu_array, tmp_path / "scan.mha")
    assert [p.name for p in tmp_path.iterdir()] == ["scan.mha"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "scan.mha"))), hu_array)


def test_rewriting_replaces_both_files(tmp_path, hu_array):
    write_metaimage(hu_array, tmp_path / "scan.mhd")
    write_metaimage(hu_array + 1, tmp_path / "scan.mhd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.mhd", "scan.zraw"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "scan.mhd"))), hu_array + 1)


@pytest.mark.parametrize("name", ["scan.nii.gz", "scan.nii"])
def test_nifti_geometry_as_nibabel_sees_it(tmp_path, hu_array, name):
    write_nifti(hu_array, tmp_path / name, spacing_mm=SPACING_ZYX, origin_mm=ORIGIN_XYZ)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    image = nib.load(tmp_path / name)
    assert image.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asarray(image.dataobj).transpose(2, 1, 0), hu_array)  # nibabel is (x, y, z)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    expected = np.eye(4)
    expected[:3, :3] = lps_to_ras @ np.diag(SPACING_ZYX[::-1])
    expected[:3, 3] = lps_to_ras @ np.array(ORIGIN_XYZ)
    np.testing.assert_allclose(image.affine, expected, atol=1e-4)


@pytest.mark.parametrize(("call", "message"), [
    (lambda p: write_metaimage(np.zeros((4, 4)), p / "a.mhd"), r"3D \(z, y, x\) array"),
    (lambda p: write_metaimage(np.zeros((2, 4, 4)), p / "a.nrrd"), "must end in .mhd or .mha"),
    (lambda p: write_metaimage(np.zeros((2, 4, 4)), p / "a.mhd", spacing_mm=(1, 0, 1)), "three positive numbers"),
    (lambda p: write_metaimage(np.zeros((2, 4, 4)), p / "a.mhd", direction=np.ones((3, 3))), "orthonormal"),
    (lambda p: write_nifti(np.zeros((2, 4, 4)), p / "a.mhd"), "must end in .nii or .nii.gz"),
    (lambda p: write_nifti(np.zeros((2, 4, 4)), p / "a.nii", origin_mm=(0, np.nan, 0)), "three finite numbers"),
])
def test_bad_arguments_are_refused_before_writing(tmp_path, call, message):
    with pytest.raises(ConfigError, match=message):
        call(tmp_path)
    assert not any(tmp_path.iterdir())
