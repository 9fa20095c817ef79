"""write_dicom_series: valid CT series (checked with pydicom and GDCM via SimpleITK), lossless, deterministic."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from tests.data.conftest import OBLIQUE_DIRECTION, ct_volume
from tqgd.data.readers import read_ct
from tqgd.data.writers import write_dicom_series
from tqgd.errors import ConfigError, OutputError

LOSSLESS_COMPRESSED = [RLELossless, JPEGLSLossless, JPEG2000Lossless]


def _sitk_series(folder):
    """The series as GDCM (through SimpleITK) reads it: an independent decoder and geometry."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_series_tags_follow_the_volume(dicom_series):
    folder, volume = dicom_series
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"IM{i:04d}.dcm" for i in range(1, 7)]
    datasets = [pydicom.dcmread(f) for f in files]
    for k, ds in enumerate(datasets):
        assert ds.SOPClassUID == CTImageStorage and ds.file_meta.MediaStorageSOPClassUID == CTImageStorage
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.Modality == "CT" and ds.InstanceNumber == k + 1
        assert (ds.Rows, ds.Columns) == (24, 40)
        assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.8]
        assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx([-20.0, -30.5, 40.25 + 2.5 * k])
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert float(ds.SliceThickness) == 3.0 and float(ds.SpacingBetweenSlices) == 2.5
        assert float(ds.KVP) == 100.0 and ds.RescaleType == "HU"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 16, 15)
        assert str(ds.PatientName) == "Doe^Jane" and ds.PatientID == "PID-123"
        assert ds.StudyDate == "" and ds.StudyTime == ""  # no wall-clock time anywhere
        stored = np.frombuffer(ds.PixelData, dtype="<i2" if ds.PixelRepresentation else "<u2").reshape(24, 40)
        hu = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, volume.hu[k])
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({ds[keyword].value for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == 6
    assert all(pydicom.uid.UID(ds.SOPInstanceUID).is_valid for ds in datasets)


def test_gdcm_reads_what_was_written(dicom_series):
    folder, volume = dicom_series
    image = _sitk_series(folder)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), volume.hu)
    assert image.GetSpacing() == pytest.approx((0.8, 0.7, 2.5))
    assert image.GetOrigin() == pytest.approx(volume.origin_mm)


def test_oblique_geometry_round_trips_through_gdcm_and_read_ct(tmp_path):
    volume = ct_volume(direction=OBLIQUE_DIRECTION, spacing_mm=(1.25, 0.5, 0.6))
    write_dicom_series(volume, tmp_path, uid_seed="oblique")
    image = _sitk_series(tmp_path)
    np.testing.assert_allclose(np.array(image.GetDirection()).reshape(3, 3), OBLIQUE_DIRECTION, atol=1e-6)
    back = read_ct(tmp_path)
    np.testing.assert_allclose(back.direction, OBLIQUE_DIRECTION, atol=1e-6)
    assert back.origin_mm == pytest.approx(volume.origin_mm, abs=1e-5)
    assert back.spacing_mm == pytest.approx(volume.spacing_mm, abs=1e-5)
    np.testing.assert_array_equal(back.hu, volume.hu)


def test_same_uid_seed_gives_byte_identical_files(tmp_path):
    volume = ct_volume(shape=(3, 32, 32))
    first = write_dicom_series(volume, tmp_path / "a", uid_seed="phantom-7", transfer_syntax=JPEG2000Lossless)
    second = write_dicom_series(volume, tmp_path / "b", uid_seed="phantom-7", transfer_syntax=JPEG2000Lossless)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = write_dicom_series(volume, tmp_path / "c", uid_seed="phantom-8")
    assert pydicom.dcmread(other[0]).SeriesInstanceUID != pydicom.dcmread(first[0]).SeriesInstanceUID


def test_without_seed_uids_are_fresh(tmp_path):
    volume = ct_volume(shape=(1, 8, 8))
    a = pydicom.dcmread(write_dicom_series(volume, tmp_path / "a")[0])
    b = pydicom.dcmread(write_dicom_series(volume, tmp_path / "b")[0])
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.StudyInstanceUID != b.StudyInstanceUID


def test_given_study_and_series_uids_are_used(tmp_path):
    ds = pydicom.dcmread(write_dicom_series(ct_volume(shape=(1, 8, 8)), tmp_path, study_uid="1.2.3.4",
                                            series_uid="1.2.3.4.5", uid_seed="s")[0])
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == ("1.2.3.4", "1.2.3.4.5")


@pytest.mark.parametrize("syntax", LOSSLESS_COMPRESSED, ids=lambda uid: uid.name)
def test_compressed_series_decode_to_the_same_hu(tmp_path, syntax):
    volume = ct_volume(shape=(3, 32, 40), hu_low=-2000, hu_high=3000)  # below -1024: signed stored values
    paths = write_dicom_series(volume, tmp_path, uid_seed="c", transfer_syntax=syntax)
    ds = pydicom.dcmread(paths[0])
    assert ds.file_meta.TransferSyntaxUID == syntax and ds.PixelRepresentation == 1
    np.testing.assert_array_equal(sitk.GetArrayFromImage(_sitk_series(tmp_path)), volume.hu)  # GDCM's decoders
    np.testing.assert_array_equal(read_ct(tmp_path).hu, volume.hu)  # pydicom's decoders


def test_jpeg_lossless_process14_cannot_be_written(tmp_path):
    with pytest.raises(ConfigError, match=r"JPEG Lossless.*no lossless encoder.*1\.2\.840\.10008\.1\.2\.5 = RLE"):
        write_dicom_series(ct_volume(shape=(1, 8, 8)), tmp_path, transfer_syntax=JPEGLosslessSV1)
    assert not any(tmp_path.iterdir())


def test_jpeg2000_refuses_slices_too_small_for_its_wavelet_levels(tmp_path):
    with pytest.raises(ConfigError, match="JPEG 2000 needs slices of at least 32 px a side.*got 16x40"):
        write_dicom_series(ct_volume(shape=(1, 16, 40)), tmp_path, transfer_syntax=JPEG2000Lossless)


def test_stored_type_is_unsigned_when_values_allow(tmp_path):
    volume = ct_volume(shape=(1, 8, 8), hu_low=-1024, hu_high=3000)
    ds = pydicom.dcmread(write_dicom_series(volume, tmp_path)[0])
    assert ds.PixelRepresentation == 0 and int(ds.pixel_array.min()) >= 0


def test_slope_and_intercept_are_applied_on_write(tmp_path):
    volume = ct_volume(shape=(2, 8, 8))
    volume.hu[:] = np.round(volume.hu) + 0.5  # half-HU steps need a 0.5 slope to stay exact
    write_dicom_series(volume, tmp_path, rescale_slope=0.5, rescale_intercept=-2048.0)
    ds = pydicom.dcmread(tmp_path / "IM0001.dcm")
    assert float(ds.RescaleSlope) == 0.5 and float(ds.RescaleIntercept) == -2048.0
    np.testing.assert_array_equal(read_ct(tmp_path).hu, volume.hu)


def test_values_that_do_not_fit_16_bits_are_refused(tmp_path):
    volume = ct_volume(shape=(1, 4, 4))
    volume.hu[0, 0, 0] = 70000
    with pytest.raises(ConfigError, match="fits neither uint16 nor int16"):
        write_dicom_series(volume, tmp_path)


@pytest.mark.parametrize(("options", "message"), [
    ({"rescale_slope": 0.0}, "rescale_slope must be a positive number"),
    ({"file_name": "slice.dcm"}, r"must contain '\{index\}'"),
])
def test_bad_options_are_refused(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        write_dicom_series(ct_volume(shape=(1, 4, 4)), tmp_path, **options)


def test_nan_hu_is_refused(tmp_path):
    volume = ct_volume(shape=(1, 4, 4))
    volume.hu[0, 1, 1] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        write_dicom_series(volume, tmp_path)


def test_unwritable_folder_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot write here"):
        write_dicom_series(ct_volume(shape=(1, 4, 4)), blocker / "out")


def test_no_temporary_files_are_left(tmp_path):
    write_dicom_series(ct_volume(shape=(2, 8, 8)), tmp_path, transfer_syntax=RLELossless)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IM0001.dcm", "IM0002.dcm"]


def test_default_is_explicit_little_endian(tmp_path):
    ds = pydicom.dcmread(write_dicom_series(ct_volume(shape=(1, 4, 4)), tmp_path)[0])
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
