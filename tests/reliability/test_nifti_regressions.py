"""NIfTI files the fuzz suite found read silently wrong (ITK and nibabel disagree on them), now refused by name;
and odd but unambiguous orientations, which must keep reading exactly as nibabel places them."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.reliability import nifti_cases as nc
from tqgd.data.readers import read_ct
from tqgd.errors import ScanReadError

LAS = tuple(nc.axis_rotation((0, 1, 2), (-1, 1, 1)).ravel())  # radiological x flip
PSR = tuple(nc.axis_rotation((1, 2, 0), (1, -1, 1)).ravel())  # axes permuted and flipped
#: Byte offset of pixdim[1] (the x voxel size) in a NIfTI-1 header.
PIXDIM_X_OFFSET = 80
OBLIQUE = tuple(nc.rotation_matrix((0.9, 0.2, -0.3, 0.1)).ravel())


def case(rotation=LAS, sform_code=1, qform_code=0, qform_rotation=None, shear=0.0, slope=None, inter=None,
         compressed=False) -> nc.NiftiCase:
    return nc.NiftiCase((5, 4, 3), "int16", rotation, (0.7, 0.7, 2.5), (12.5, -80.0, 140.0), sform_code, qform_code,
                        qform_rotation, shear, slope, inter, compressed, seed=5)


REFUSED = {
    "slope 0 with an intercept": (case(slope=0.0, inter=5.0), r"scl_slope is 0.0 \(not scaled, by the NIfTI standard\) "
                                                              r"but scl_inter is 5"),
    "intercept NaN": (case(slope=1.0, inter=float("nan")), r"scl_slope is 1 but scl_inter is nan"),
    "slope infinite": (case(slope=float("inf"), inter=0.0), r"scl_slope is inf"),
    "sheared sform": (case(rotation=OBLIQUE, shear=0.3), r"the sform .* is sheared or degenerate"),
    "qform and sform disagree": (case(sform_code=2, qform_code=1, qform_rotation=PSR),
                                 r"the qform and the sform place the voxels differently"),
    "no orientation at all": (case(sform_code=0, qform_code=0), r"qform_code and sform_code are both 0"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_ambiguous_nifti_is_refused(tmp_path: Path, name: str) -> None:
    nifti, message = REFUSED[name]
    path = nc.write_case(nifti, tmp_path)
    with pytest.raises(ScanReadError, match=message) as caught:
        read_ct(path)
    assert caught.value.path == path


def test_sform_sizes_must_match_pixdim(tmp_path: Path) -> None:
    path = nc.write_case(case(), tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<f", data, PIXDIM_X_OFFSET, 0.9)  # the sform still says 0.7 mm
    path.write_bytes(bytes(data))
    with pytest.raises(ScanReadError, match=r"the sform's voxel sizes \[0.7, 0.7, 2.5\] mm differ from pixdim "
                                            r"\[0.9, 0.7, 2.5\] mm"):
        read_ct(path)


def test_absurd_dimensions_are_refused_before_reading(tmp_path: Path) -> None:
    path = nc.write_case(case(), tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<4h", data, 40, 3, 30000, 30000, 30000)
    path.write_bytes(bytes(data))
    with pytest.raises(ScanReadError, match=r"make 27,000,000,000,000 voxels, more than any CT scan"):
        read_ct(path)


@pytest.mark.parametrize("rotation", [LAS, PSR, OBLIQUE], ids=["LAS", "PSR", "oblique"])
@pytest.mark.parametrize("forms", [(1, 0), (0, 1), (2, 1)], ids=["sform", "qform", "both agreeing"])
@pytest.mark.parametrize("compressed", [False, True], ids=["nii", "nii.gz"])
def test_odd_orientations_read_where_nibabel_puts_them(tmp_path: Path, rotation, forms, compressed: bool) -> None:
    path = nc.write_case(case(rotation=rotation, sform_code=forms[0], qform_code=forms[1], slope=2.0, inter=-1024.0,
                              compressed=compressed), tmp_path)
    expected = nc.independent_nifti(path)
    assert not isinstance(expected, str), expected
    hu, lps = expected
    volume = read_ct(path)
    assert np.array_equal(volume.hu, hu.astype(np.float32))
    for zyx in ([0, 0, 0], [2, 3, 4], [1, 0, 4]):
        assert np.abs(volume.index_to_patient(zyx) - nc.patient_position(lps, zyx)).max() < 1e-3


def test_truncated_nifti_mask_is_refused_not_zero_filled(tmp_path: Path) -> None:
    """The converter's mask reader used SimpleITK directly, which zero-fills a cut-short file (labels silently lost)."""
    from tqgd.data.convert.mask_files import read_mask
    from tqgd.errors import LabelError

    path = nc.write_case(case(), tmp_path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(LabelError, match=r"scan.nii: cannot read the mask: NIfTI voxel data are truncated"):
        read_mask(path)
