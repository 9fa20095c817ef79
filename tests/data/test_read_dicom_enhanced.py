"""Enhanced CT (multi-frame): per-frame positions and rescale from the functional group sequences."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tqgd.data.readers import read_ct
from tqgd.errors import ScanReadError, UnsupportedFormatError

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # the sample file's own UIDs


@pytest.fixture
def enhanced_ct(pydicom_file):
    return pydicom.dcmread(pydicom_file("eCT_Supplemental.dcm"))


def _raw_frames(ds):
    """Stored values (frames, rows, columns) straight from the uncompressed bytes."""
    dtype = "<i2" if ds.PixelRepresentation == 1 else "<u2"
    return np.frombuffer(ds.PixelData, dtype=dtype).reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)


def _frame_z(ds, frame):
    return float(ds.PerFrameFunctionalGroupsSequence[frame].PlanePositionSequence[0].ImagePositionPatient[2])


def test_enhanced_ct_sample_is_read_frame_by_frame(pydicom_file, enhanced_ct):
    ds = enhanced_ct
    volume = read_ct(pydicom_file("eCT_Supplemental.dcm"))
    shared = ds.SharedFunctionalGroupsSequence[0]
    transform = shared.PixelValueTransformationSequence[0]
    slope, intercept = float(transform.RescaleSlope), float(transform.RescaleIntercept)
    # orientation (-1,0,0 / 0,1,0) gives a normal of (0,0,-1): the frame at z=-149 comes before the one at z=-159
    assert (_frame_z(ds, 0), _frame_z(ds, 1)) == (-159.0, -149.0)
    expected = _raw_frames(ds)[::-1] * slope + intercept
    np.testing.assert_array_equal(volume.hu, expected)
    np.testing.assert_allclose(volume.direction[:, 2], [0, 0, -1])
    pixel = float(shared.PixelMeasuresSequence[0].PixelSpacing[0])
    assert volume.spacing_mm == pytest.approx((10.0, pixel, pixel))
    assert volume.origin_mm == pytest.approx((99.5, -301.5, -149.0))
    assert volume.meta.slice_thickness_mm == float(shared.PixelMeasuresSequence[0].SliceThickness)
    # this sample is a perfusion map with RescaleType 'US': tqgd reads it but says the values are not HU
    assert volume.meta.has_hu is False and volume.meta.extra["rescale_type"] == ["US"]


def test_per_frame_rescale_overrides_the_shared_one(tmp_path, enhanced_ct):
    ds = enhanced_ct
    transform = Dataset()
    transform.RescaleIntercept, transform.RescaleSlope, transform.RescaleType = "-1000", "2", "HU"
    ds.PerFrameFunctionalGroupsSequence[0].PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleType = "HU"
    ds.save_as(tmp_path / "enhanced.dcm")
    volume = read_ct(tmp_path / "enhanced.dcm")
    raw = _raw_frames(ds)
    np.testing.assert_array_equal(volume.hu[1], raw[0] * 2.0 - 1000.0)  # frame 1 is second along the normal
    np.testing.assert_array_equal(volume.hu[0], raw[1] * 1.0 - 1024.0)
    assert volume.meta.has_hu is True and volume.meta.extra["rescale_varies_per_slice"] is True


def test_frame_without_position_is_refused(tmp_path, enhanced_ct):
    del enhanced_ct.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    enhanced_ct.save_as(tmp_path / "enhanced.dcm")
    with pytest.raises(ScanReadError, match="frame 2 has no PlanePositionSequence"):
        read_ct(tmp_path / "enhanced.dcm")


def test_frame_count_must_match_the_functional_groups(tmp_path, enhanced_ct):
    enhanced_ct.NumberOfFrames = 3
    enhanced_ct.save_as(tmp_path / "enhanced.dcm")
    with pytest.raises(ScanReadError, match="NumberOfFrames is 3 but PerFrameFunctionalGroupsSequence has 2 items"):
        read_ct(tmp_path / "enhanced.dcm")


def test_two_frames_at_one_position_are_duplicates(tmp_path, enhanced_ct):
    groups = enhanced_ct.PerFrameFunctionalGroupsSequence
    groups[1].PlanePositionSequence = copy.deepcopy(groups[0].PlanePositionSequence)
    enhanced_ct.save_as(tmp_path / "enhanced.dcm")
    with pytest.raises(ScanReadError, match=r"share one position .*enhanced\.dcm frame 1 and enhanced\.dcm frame 2"):
        read_ct(tmp_path / "enhanced.dcm")


def test_legacy_multi_frame_without_positions_is_refused(dicom_series):
    path = dicom_series[0] / "IM0001.dcm"
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.save_as(path)
    with pytest.raises(UnsupportedFormatError, match=r"multi-frame file \(2 frames\) without functional group "
                                                     "sequences: frame positions are unknown"):
        read_ct(path)
