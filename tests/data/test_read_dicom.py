"""read_ct on DICOM: real files from pydicom, series written by tqgd, sorting, several series, skipped files."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.data.conftest import OBLIQUE_DIRECTION, ct_volume
from tqgd.data.readers import read_ct
from tqgd.data.writers import write_dicom_series
from tqgd.errors import SeriesError


def _hu_from_bytes(path):
    """Independent HU of an uncompressed slice: raw little-endian stored values x slope + intercept."""
    ds = pydicom.dcmread(path)
    dtype = "<i2" if ds.PixelRepresentation == 1 else "<u2"
    stored = np.frombuffer(ds.PixelData, dtype=dtype).reshape(ds.Rows, ds.Columns).astype(np.float64)
    return stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def test_ct_small_matches_its_tags_and_bytes(pydicom_file):
    path = pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    volume = read_ct(path)
    assert volume.shape == (1, 128, 128) and volume.hu.dtype == np.float32
    np.testing.assert_array_equal(volume.hu[0], _hu_from_bytes(path))
    assert volume.spacing_mm[1:] == tuple(float(v) for v in ds.PixelSpacing)
    assert volume.origin_mm == tuple(float(v) for v in ds.ImagePositionPatient)
    assert volume.meta.kvp == float(ds.KVP) and volume.meta.slice_thickness_mm == float(ds.SliceThickness)
    assert volume.meta.series_uid == ds.SeriesInstanceUID and volume.meta.modality == "CT"
    assert volume.meta.patient["PatientName"] == str(ds.PatientName)
    assert "patient" not in volume.meta.public_dict()


def test_jpeg2000_lossless_ct_equals_its_uncompressed_twin(pydicom_file):
    compressed = read_ct(pydicom_file("693_J2KR.dcm"))
    plain = read_ct(pydicom_file("693_UNCR.dcm"))
    assert compressed.meta.extra["transfer_syntax"] == ["JPEG 2000 Image Compression (Lossless Only)"]
    np.testing.assert_array_equal(compressed.hu, plain.hu)
    np.testing.assert_array_equal(plain.hu[0], _hu_from_bytes(pydicom_file("693_UNCR.dcm")))


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # the file's own (anonymised) UIDs
def test_jpeg_lossless_process14_ct_matches_gdcm(pydicom_file):
    """pydicom cannot encode JPEG Lossless, so a real Siemens CT slice from pydicom-data is decoded by both."""
    path = pydicom_file("bad_sequence.dcm")
    volume = read_ct(path)
    assert "Process 14" in volume.meta.extra["transfer_syntax"][0]
    gdcm_hu = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # GDCM applies slope/intercept itself
    np.testing.assert_array_equal(volume.hu, gdcm_hu)


def test_written_series_round_trips(tmp_path):
    volume = ct_volume(shape=(5, 24, 40), direction=OBLIQUE_DIRECTION, spacing_mm=(1.5, 0.6, 0.7))
    write_dicom_series(volume, tmp_path, kvp=100.0, slice_thickness_mm=3.0, uid_seed="rt",
                       transfer_syntax=pydicom.uid.ImplicitVRLittleEndian)
    back = read_ct(tmp_path)
    np.testing.assert_array_equal(back.hu, volume.hu)
    assert back.spacing_mm == pytest.approx(volume.spacing_mm, abs=1e-6)
    assert back.origin_mm == pytest.approx(volume.origin_mm, abs=1e-6)
    np.testing.assert_allclose(back.direction, OBLIQUE_DIRECTION, atol=1e-6)
    assert back.meta.kvp == 100.0
    assert (back.meta.slice_thickness_mm, back.meta.slice_spacing_mm) == pytest.approx((3.0, 1.5))
    assert back.meta.scan_id.startswith("series-") and len(back.meta.sop_instance_uids) == 5  # never a folder name
    expected_positions = np.asarray(volume.origin_mm) + np.outer(np.arange(5) * 1.5, OBLIQUE_DIRECTION[:, 2])
    np.testing.assert_allclose(back.slice_positions_mm, expected_positions, atol=1e-5)


def test_order_comes_from_positions_not_names_or_instance_numbers(dicom_series, tmp_path):
    folder, volume = dicom_series
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    rng = np.random.default_rng(3)
    sources = sorted(folder.iterdir())
    for new_index, source in zip(rng.permutation(len(sources)), sources, strict=True):
        ds = pydicom.dcmread(source)
        ds.InstanceNumber = int(new_index) + 1  # misleading: agrees with the shuffled name, not the position
        ds.save_as(shuffled / f"IM{new_index:04d}.dcm")
    back = read_ct(shuffled)
    np.testing.assert_array_equal(back.hu, volume.hu)
    assert back.origin_mm == pytest.approx(volume.origin_mm)


def test_descending_positions_are_sorted_along_the_normal(tmp_path):
    flipped = np.diag([1.0, 1.0, -1.0]) @ np.diag([1.0, -1.0, 1.0])  # normal points to -z: feet-first order
    volume = ct_volume(shape=(4, 24, 40), direction=flipped)
    write_dicom_series(volume, tmp_path)
    back = read_ct(tmp_path)
    np.testing.assert_array_equal(back.hu, volume.hu)
    np.testing.assert_allclose(back.direction, flipped)


def test_z_axis_against_the_normal_comes_back_reordered(tmp_path):
    head_first = np.diag([1.0, 1.0, -1.0])  # slices stored top to bottom, as scanners number them
    volume = ct_volume(shape=(4, 24, 40), direction=head_first)
    write_dicom_series(volume, tmp_path)
    locations = [float(pydicom.dcmread(p).SliceLocation) for p in sorted(tmp_path.iterdir())]
    assert locations == pytest.approx([40.25, 37.75, 35.25, 32.75])
    back = read_ct(tmp_path)
    np.testing.assert_array_equal(back.hu, volume.hu[::-1])
    np.testing.assert_allclose(back.direction, np.eye(3))
    assert back.origin_mm == pytest.approx(tuple(volume.index_to_patient(np.array([3.0, 0.0, 0.0]))))
    np.testing.assert_allclose(back.index_to_patient(np.array([0.0, 23.0, 39.0])),
                               volume.index_to_patient(np.array([3.0, 23.0, 39.0])))  # same voxel, same place


def test_each_slice_uses_its_own_rescale(dicom_series):
    folder, volume = dicom_series
    path = folder / "IM0003.dcm"
    ds = pydicom.dcmread(path)
    ds.RescaleIntercept, ds.RescaleSlope = "-1000", "0.5"
    ds.PixelRepresentation = 1
    ds.PixelData = ((volume.hu[2].astype(np.int32) + 1000) * 2).astype("<i2").tobytes()
    ds.save_as(path)
    back = read_ct(folder)
    np.testing.assert_array_equal(back.hu, volume.hu)
    assert back.meta.extra["rescale_varies_per_slice"] is True


def test_irregular_gaps_keep_every_position(tmp_path):
    z_mm = np.array([0.0, 2.0, 4.0, 8.0, 10.0])  # one slice missing: a 4 mm gap among 2 mm gaps
    positions = np.stack([np.full(5, -10.0), np.full(5, 5.0), z_mm], axis=1)
    volume = ct_volume(shape=(5, 24, 40), spacing_mm=(2.0, 0.7, 0.8), slice_positions_mm=positions)
    write_dicom_series(volume, tmp_path)
    back = read_ct(tmp_path)
    np.testing.assert_allclose(back.slice_positions_mm, positions)
    assert back.spacing_mm[0] == 2.0  # the median gap
    irregular = back.meta.extra["irregular_slice_spacing"]
    assert (irregular["min_gap_mm"], irregular["max_gap_mm"], irregular["irregular_gaps"]) == (2.0, 4.0, 1)
    assert back.index_to_patient(np.array([3.0, 0.0, 0.0]))[2] == pytest.approx(8.0)


def test_regular_series_records_no_irregularity(dicom_series):
    assert "irregular_slice_spacing" not in read_ct(dicom_series[0]).meta.extra


def test_non_dicom_files_are_skipped_and_counted(dicom_series):
    folder, volume = dicom_series
    (folder / "notes.txt").write_text("exported by PACS")
    (folder / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    dicomdir = pydicom.dcmread(folder / "IM0001.dcm")  # a DICOM file without pixel data, like DICOMDIR
    del dicomdir.PixelData
    dicomdir.save_as(folder / "DICOMDIR")
    back = read_ct(folder)
    np.testing.assert_array_equal(back.hu, volume.hu)
    assert back.meta.extra["skipped_files"] == 3
    assert back.meta.extra["skipped_reasons"] == "2 not DICOM, 1 DICOM without pixel data (e.g. DICOMDIR, report)"


def test_series_in_a_subfolder_is_found(dicom_series, tmp_path):
    folder, volume = dicom_series
    study = tmp_path / "study"
    shutil.copytree(folder, study / "DICOM" / "S0001")
    np.testing.assert_array_equal(read_ct(study).hu, volume.hu)


def test_extensionless_dicom_file_is_read(dicom_series, tmp_path):
    folder, volume = dicom_series
    target = tmp_path / "IMG00001"
    shutil.copy(folder / "IM0002.dcm", target)
    np.testing.assert_array_equal(read_ct(target).hu[0], volume.hu[1])


@pytest.fixture
def two_series(tmp_path):
    first, second = ct_volume(shape=(3, 24, 40), seed=1), ct_volume(shape=(2, 24, 40), seed=2)
    write_dicom_series(first, tmp_path, uid_seed="one", series_description="calcium score 3mm",
                       file_name="A{index}.dcm")
    write_dicom_series(second, tmp_path, uid_seed="two", series_description="angio", file_name="B{index}.dcm")
    uids = [pydicom.dcmread(tmp_path / name).SeriesInstanceUID for name in ("A1.dcm", "B1.dcm")]
    return tmp_path, (first, second), uids


def test_several_series_are_listed(two_series):
    folder, _, (uid_a, uid_b) = two_series
    with pytest.raises(SeriesError, match="holds 2 image series") as info:
        read_ct(folder)
    message = str(info.value)
    assert f"{uid_a}  'calcium score 3mm'  CT  3 file(s)" in message
    assert f"{uid_b}  'angio'  CT  2 file(s)" in message


def test_series_uid_picks_one(two_series):
    folder, (first, second), (uid_a, uid_b) = two_series
    np.testing.assert_array_equal(read_ct(folder, series_uid=uid_b).hu, second.hu)
    np.testing.assert_array_equal(read_ct(folder, series_uid=uid_a).hu, first.hu)


def test_unknown_series_uid_lists_what_is_there(two_series):
    folder, _, (uid_a, _) = two_series
    with pytest.raises(SeriesError, match=rf"(?s)no series with SeriesInstanceUID '9\.9\.9'.*{uid_a}"):
        read_ct(folder, series_uid="9.9.9")


def test_series_uid_must_match_a_single_file(dicom_series):
    with pytest.raises(SeriesError, match="belongs to series"):
        read_ct(dicom_series[0] / "IM0001.dcm", series_uid="1.2.3")


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"])
def test_third_party_compressed_files_equal_their_uncompressed_twin(tmp_path, pydicom_file, name):
    """pydicom's MR_small in RLE, JPEG-LS and JPEG 2000 (encoded by other tools), relabelled as CT: same HU."""

    def as_ct(source, target):
        ds = pydicom.dcmread(source)
        ds.Modality, ds.RescaleSlope, ds.RescaleIntercept = "CT", "1", "-1024"
        ds.save_as(target)
        return target

    plain = read_ct(as_ct(pydicom_file("MR_small.dcm"), tmp_path / "plain.dcm"))
    compressed = read_ct(as_ct(pydicom_file(name), tmp_path / "compressed.dcm"))
    assert compressed.meta.extra["transfer_syntax"] != plain.meta.extra["transfer_syntax"]
    np.testing.assert_array_equal(compressed.hu, plain.hu)
    np.testing.assert_array_equal(plain.hu[0], _hu_from_bytes(tmp_path / "plain.dcm"))
