"""Bad DICOM input: every case gets a specific error that names the file and what is wrong."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML, JPEG2000Lossless, JPEGLSLossless

from tests.data.conftest import ct_volume
from tqgd.data.readers import read_ct
from tqgd.data.writers import write_dicom_series
from tqgd.errors import ScanReadError, SeriesError, UnsupportedFormatError


def _edit(path, delete=(), **values):
    """Rewrite one DICOM file with some elements changed or deleted."""
    ds = pydicom.dcmread(path)
    for keyword in delete:
        delattr(ds, keyword)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)
    return path


def test_text_file_named_dcm(tmp_path):
    path = tmp_path / "scan.dcm"
    path.write_text("patient notes\n" * 20)
    with pytest.raises(ScanReadError, match=r"scan\.dcm: not a DICOM file \(no 'DICM' marker"):
        read_ct(path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(ScanReadError, match="empty.dcm: not a DICOM file"):
        read_ct(tmp_path / "empty.dcm")


def test_unknown_suffix(tmp_path):
    (tmp_path / "scan.xyz").write_text("?")
    with pytest.raises(ScanReadError, match=r"unknown scan format '\.xyz'; expected one of .*\.dcm"):
        read_ct(tmp_path / "scan.xyz")


def test_missing_path(tmp_path):
    with pytest.raises(ScanReadError, match="no such file or folder"):
        read_ct(tmp_path / "nowhere")


def test_mr_is_refused(pydicom_file):
    with pytest.raises(ScanReadError, match=r"MR_small\.dcm: Modality \(0008,0060\) is 'MR', expected 'CT'"):
        read_ct(pydicom_file("MR_small.dcm"))


def test_missing_modality(dicom_series):
    path = _edit(dicom_series[0] / "IM0001.dcm", delete=["Modality"])
    with pytest.raises(ScanReadError, match=r"Modality \(0008,0060\) is missing, expected 'CT'"):
        read_ct(path)


def test_no_pixel_data(dicom_series):
    path = _edit(dicom_series[0] / "IM0001.dcm", delete=["PixelData"])
    with pytest.raises(ScanReadError, match=r"no Pixel Data \(7FE0,0010\) element"):
        read_ct(path)


def test_folder_without_images(tmp_path, dicom_series):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    _edit(dicom_series[0] / "IM0001.dcm", delete=["PixelData"])
    (dicom_series[0] / "IM0001.dcm").rename(tmp_path / "empty" / "DICOMDIR")
    with pytest.raises(ScanReadError, match=r"no DICOM image files found .*2 file\(s\) skipped: 1 DICOM without pixel "
                                            r"data \(e\.g\. DICOMDIR, report\), 1 not DICOM"):
        read_ct(tmp_path / "empty")


def test_mixed_image_sizes(tmp_path):
    write_dicom_series(ct_volume(shape=(3, 24, 40)), tmp_path, uid_seed="same", file_name="A{index}.dcm")
    write_dicom_series(ct_volume(shape=(2, 32, 32), origin_mm=(0, 0, 100)), tmp_path, uid_seed="same",
                       file_name="B{index}.dcm")
    with pytest.raises(SeriesError, match=r"different image sizes .*24x40: 3 slice\(s\) \(e\.g\. A1\.dcm\); "
                                          r"32x32: 2 slice\(s\) \(e\.g\. B1\.dcm\)"):
        read_ct(tmp_path)


def test_mixed_orientations(dicom_series):
    _edit(dicom_series[0] / "IM0004.dcm", ImageOrientationPatient=[1, 0, 0, 0, 0, -1])
    with pytest.raises(SeriesError, match=r"different ImageOrientationPatient .*\(e\.g\. IM0004\.dcm\)"):
        read_ct(dicom_series[0])


def test_duplicate_positions(dicom_series):
    position = pydicom.dcmread(dicom_series[0] / "IM0002.dcm").ImagePositionPatient
    _edit(dicom_series[0] / "IM0005.dcm", ImagePositionPatient=position)
    with pytest.raises(SeriesError, match=r"two slices share one position .*IM0002\.dcm and IM0005\.dcm"):
        read_ct(dicom_series[0])


def test_missing_position_in_a_series(dicom_series):
    _edit(dicom_series[0] / "IM0003.dcm", delete=["ImagePositionPatient"])
    with pytest.raises(ScanReadError, match=r"ImagePositionPatient \(0020,0032\) is missing in 1 slice\(s\) \(e\.g\. "
                                            r"IM0003\.dcm\)"):
        read_ct(dicom_series[0])


def test_missing_pixel_spacing(dicom_series):
    path = _edit(dicom_series[0] / "IM0002.dcm", delete=["PixelSpacing"])
    with pytest.raises(ScanReadError, match=r"IM0002\.dcm: PixelSpacing \(0028,0030\) is missing"):
        read_ct(dicom_series[0])
    with pytest.raises(ScanReadError, match="PixelSpacing"):
        read_ct(path)


@pytest.mark.parametrize(("spacing", "message"), [
    (b"0\\0.8 ", r"must be two positive sizes in mm, found \[0\.0, 0\.8\]"),
    (b"-.7\\0.8", r"must be two positive sizes in mm, found \[-0\.7, 0\.8\]"),
    (b"NaN\\0.8", "must hold 2 finite number"),
])
def test_bad_pixel_spacing(dicom_series, spacing, message):
    path = dicom_series[0] / "IM0001.dcm"
    raw = path.read_bytes()
    assert raw.count(b"0.7\\0.8\x20") == 1  # the written value, padded to even length
    path.write_bytes(raw.replace(b"0.7\\0.8\x20", spacing.ljust(8)))
    with pytest.raises(ScanReadError, match=rf"IM0001\.dcm: PixelSpacing \(0028,0030\) {message}"):
        read_ct(path)


@pytest.mark.parametrize(("change", "message"), [
    ({"delete": ["RescaleSlope"]}, r"RescaleSlope \(0028,1053\) is missing"),
    ({"RescaleSlope": "0"}, r"RescaleSlope \(0028,1053\) is 0"),
    ({"delete": ["RescaleIntercept"]}, r"RescaleIntercept \(0028,1052\) is missing"),
])
def test_bad_rescale(dicom_series, change, message):
    path = _edit(dicom_series[0] / "IM0001.dcm", **change)
    with pytest.raises(ScanReadError, match=message):
        read_ct(path)


@pytest.mark.parametrize(("rows", "columns"), [(60000, 40), (24, 0)])
def test_absurd_image_size(dicom_series, rows, columns):
    path = _edit(dicom_series[0] / "IM0001.dcm", Rows=rows, Columns=columns)
    with pytest.raises(ScanReadError, match=rf"Rows x Columns = {rows} x {columns} is not a CT image"):
        read_ct(path)


def test_colour_image_is_refused(dicom_series):
    path = _edit(dicom_series[0] / "IM0001.dcm", SamplesPerPixel=3, PhotometricInterpretation="RGB")
    with pytest.raises(UnsupportedFormatError, match="expected a greyscale CT image .*'RGB'"):
        read_ct(path)


def test_truncated_uncompressed_pixels(dicom_series):
    path = dicom_series[0] / "IM0001.dcm"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ScanReadError, match=r"pixel data are truncated: 920 bytes for 1 frame\(s\) of 24x40 at 16 "
                                            r"bits \(needs 1920\)"):
        read_ct(path)


def test_truncated_compressed_pixels(tmp_path):
    path = write_dicom_series(ct_volume(shape=(1, 32, 40)), tmp_path, transfer_syntax=JPEG2000Lossless)[0]
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(ScanReadError, match="IM0001.dcm: the file is truncated"):
        read_ct(path)


def test_truncated_slice_in_a_folder_is_an_error_not_a_skip(tmp_path):
    paths = write_dicom_series(ct_volume(shape=(3, 32, 40)), tmp_path, transfer_syntax=JPEGLSLossless)
    paths[1].write_bytes(paths[1].read_bytes()[:-200])
    with pytest.raises(ScanReadError, match="IM0002.dcm: the file is truncated"):
        read_ct(tmp_path)


def test_compression_without_any_decoder(dicom_series):
    path = dicom_series[0] / "IM0001.dcm"
    ds = pydicom.dcmread(path)
    ds.PixelData = encapsulate([ds.PixelData])
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.save_as(path)
    with pytest.raises(UnsupportedFormatError, match=r"compressed as MPEG2 Main Profile / Main Level "
                                                     r"\(1\.2\.840\.10008\.1\.2\.4\.100\), which pydicom cannot decode"
                                                     r".*gdcmconv --raw"):
        read_ct(path)


def test_compression_whose_decoder_is_not_installed(tmp_path, monkeypatch):
    from pydicom.pixels import get_decoder

    path = write_dicom_series(ct_volume(shape=(1, 16, 16)), tmp_path, transfer_syntax=JPEGLSLossless)[0]
    monkeypatch.setattr(get_decoder(JPEGLSLossless), "_available", {})  # as if pyjpegls and pylibjpeg were absent
    with pytest.raises(UnsupportedFormatError, match=r"compressed as JPEG-LS Lossless Image Compression "
                                                     r"\(1\.2\.840\.10008\.1\.2\.4\.80\) but no decoder for it is "
                                                     r"installed \(needs gdcm"):
        read_ct(path)


def test_reading_never_changes_the_input(dicom_series):
    folder, _ = dicom_series
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    _edit(folder / "IM0006.dcm", RescaleSlope="0")
    before["IM0006.dcm"] = (folder / "IM0006.dcm").read_bytes()
    with pytest.raises(ScanReadError):
        read_ct(folder)
    read_ct(folder / "IM0001.dcm")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert np.isfinite(read_ct(folder / "IM0002.dcm").hu).all()
