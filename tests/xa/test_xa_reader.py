"""tqgd.xa.reader: frames, frame time and isocentre spacing of XA cines; compressed cines; clear errors."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage, JPEGLSLossless, RLELossless

from tests.xa.conftest import SMALL_FRAMES, SMALL_SIZE
from tqgd.errors import ScanReadError, UnsupportedFormatError
from tqgd.xa.reader import ENHANCED_XA_IMAGE_STORAGE, XRF_IMAGE_STORAGE, read_xa
from tqgd.xa.writer import XAHeader, write_xa


def _record(dicom_path):
    return json.loads(dicom_path.with_suffix(".json").read_text())


def test_reads_generated_run(small_run) -> None:
    seq = read_xa(small_run)
    truth = _record(small_run)
    assert seq.frames.shape == (SMALL_FRAMES, SMALL_SIZE, SMALL_SIZE)
    assert seq.frames.dtype == np.float32
    assert seq.frame_time_ms == pytest.approx(1000.0 / 15.0, abs=1e-3)
    assert seq.frame_rate_fps == pytest.approx(15.0, abs=1e-3)
    # isocentre spacing = detector spacing x SOD / SID, computed here from the generator's own numbers
    expected = truth["imager_spacing_mm"] * truth["sod_mm"] / truth["sid_mm"]
    assert seq.pixel_spacing_mm == pytest.approx((expected, expected), rel=1e-4)
    assert seq.imager_spacing_mm == pytest.approx((truth["imager_spacing_mm"],) * 2, rel=1e-5)
    assert seq.magnification == pytest.approx(truth["sid_mm"] / truth["sod_mm"], rel=1e-4)
    assert "SID/SOD" in seq.spacing_source
    assert seq.modality == "XA"
    assert seq.patient_id == truth["patient"]


def _rewrite(src, dst, edit):
    ds = pydicom.dcmread(src)
    edit(ds)
    ds.save_as(dst)
    return dst


def test_spacing_falls_back_when_distances_are_missing(small_run, tmp_path) -> None:
    truth = _record(small_run)
    imager = truth["imager_spacing_mm"]

    def no_distances(ds):
        del ds.DistanceSourceToDetector, ds.DistanceSourceToPatient
        ds.EstimatedRadiographicMagnificationFactor = "2.0"

    seq = read_xa(_rewrite(small_run, tmp_path / "mag.dcm", no_distances))
    assert seq.pixel_spacing_mm == pytest.approx((imager / 2.0,) * 2, rel=1e-5)
    assert "estimated magnification" in seq.spacing_source

    def detector_only(ds):
        no_distances(ds)
        del ds.EstimatedRadiographicMagnificationFactor

    seq = read_xa(_rewrite(small_run, tmp_path / "det.dcm", detector_only))
    assert seq.pixel_spacing_mm == pytest.approx((imager,) * 2, rel=1e-5)
    assert "not isocentre" in seq.spacing_source

    def pixel_spacing(ds):
        detector_only(ds)
        del ds.ImagerPixelSpacing
        ds.PixelSpacing = ["0.2", "0.25"]

    seq = read_xa(_rewrite(small_run, tmp_path / "px.dcm", pixel_spacing))
    assert seq.pixel_spacing_mm == pytest.approx((0.2, 0.25))
    assert seq.spacing_source == "pixel spacing"


def test_frame_time_from_vector_or_cine_rate(small_run, tmp_path) -> None:
    def vector(ds):
        del ds.FrameTime, ds.CineRate, ds.RecommendedDisplayFrameRate
        ds.FrameIncrementPointer = (0x0018, 0x1065)
        ds.FrameTimeVector = ["0"] + ["40", "60"] * ((ds.NumberOfFrames - 1) // 2) + ["50"] * (
            (ds.NumberOfFrames - 1) % 2)

    assert read_xa(_rewrite(small_run, tmp_path / "v.dcm", vector)).frame_time_ms == pytest.approx(50.0)

    def cine_rate(ds):
        del ds.FrameTime, ds.RecommendedDisplayFrameRate
        ds.CineRate = 30

    assert read_xa(_rewrite(small_run, tmp_path / "c.dcm", cine_rate)).frame_time_ms == pytest.approx(1000 / 30)

    def nothing(ds):
        del ds.FrameTime, ds.CineRate, ds.RecommendedDisplayFrameRate

    seq = read_xa(_rewrite(small_run, tmp_path / "n.dcm", nothing))
    assert seq.frame_time_ms is None and seq.frame_rate_fps is None


@pytest.mark.parametrize(("compression", "syntax"), [("rle", RLELossless), ("jpegls", JPEGLSLossless)])
def test_compressed_cine_decodes_to_the_same_frames(tmp_path, compression, syntax) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (7, 48, 40), dtype=np.uint8)
    header = XAHeader("P9", "Test^P9", "t", 12.5, 0.3, 1000.0, 800.0, 10.0, -5.0)
    plain = read_xa(write_xa(tmp_path / "plain.dcm", frames, header, "u"))
    packed_path = write_xa(tmp_path / f"{compression}.dcm", frames, header, "u", compression)
    assert pydicom.dcmread(packed_path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    packed = read_xa(packed_path)
    assert packed.transfer_syntax_uid == syntax
    np.testing.assert_array_equal(packed.frames, frames.astype(np.float32))
    np.testing.assert_array_equal(packed.frames, plain.frames)
    assert packed.frame_time_ms == pytest.approx(80.0)
    assert packed.pixel_spacing_mm == pytest.approx((0.24, 0.24))


def test_xrf_is_read(small_run, tmp_path) -> None:
    def as_rf(ds):
        ds.SOPClassUID = XRF_IMAGE_STORAGE
        ds.file_meta.MediaStorageSOPClassUID = XRF_IMAGE_STORAGE
        ds.Modality = "RF"

    seq = read_xa(_rewrite(small_run, tmp_path / "rf.dcm", as_rf))
    assert seq.modality == "RF" and seq.num_frames == SMALL_FRAMES


def test_wrong_sop_class_names_it(small_run, tmp_path) -> None:
    def as_ct(ds):
        ds.SOPClassUID = CTImageStorage
        ds.Modality = "CT"

    with pytest.raises(ScanReadError, match=r"CT Image Storage.*modality CT.*tqgd detect"):
        read_xa(_rewrite(small_run, tmp_path / "ct.dcm", as_ct))


def test_enhanced_xa_is_refused_with_advice(small_run, tmp_path) -> None:
    def enhanced(ds):
        ds.SOPClassUID = ENHANCED_XA_IMAGE_STORAGE

    with pytest.raises(UnsupportedFormatError, match="Enhanced XA.*1.2.840.10008.5.1.4.1.1.12.1"):
        read_xa(_rewrite(small_run, tmp_path / "exa.dcm", enhanced))


def test_single_frame_is_refused(tmp_path) -> None:
    frames = np.zeros((2, 16, 16), np.uint8)
    path = write_xa(tmp_path / "two.dcm", frames, XAHeader("P", "A^B", "", 15, 0.3, 1000, 750, 0, 0), "s")

    def one(ds):
        ds.NumberOfFrames = 1
        ds.PixelData = ds.PixelData[: 16 * 16]

    with pytest.raises(ScanReadError, match=r"single frame.*Number of Frames 1"):
        read_xa(_rewrite(path, tmp_path / "one.dcm", one))


def test_missing_pixel_data_is_refused(small_run, tmp_path) -> None:
    def strip(ds):
        del ds.PixelData

    with pytest.raises(ScanReadError, match=r"no Pixel Data \(7FE0,0010\)"):
        read_xa(_rewrite(small_run, tmp_path / "nopix.dcm", strip))


def test_not_dicom_and_missing_file(tmp_path) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("not a dicom file")
    with pytest.raises(ScanReadError, match="not a readable DICOM file") as info:
        read_xa(text)
    assert str(text) in str(info.value)
    with pytest.raises(ScanReadError, match="file not found"):
        read_xa(tmp_path / "absent.dcm")


def test_patient_behind_detector_is_refused(small_run, tmp_path) -> None:
    def swap(ds):
        ds.DistanceSourceToPatient = "1500"

    with pytest.raises(ScanReadError, match="exceeds Distance Source to Detector"):
        read_xa(_rewrite(small_run, tmp_path / "swap.dcm", swap))
