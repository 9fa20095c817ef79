"""read_ct on 2D PNG/JPEG slices: grey values kept (16-bit too), marked as not HU."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tqgd.data.readers import read_ct
from tqgd.errors import ConfigError, ScanReadError


def test_eight_bit_png(tmp_path):
    grey = np.random.default_rng(0).integers(0, 256, size=(20, 30), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "slice.png"), grey)
    volume = read_ct(tmp_path / "slice.png")
    assert volume.shape == (1, 20, 30)
    np.testing.assert_array_equal(volume.hu[0], grey)
    assert volume.meta.has_hu is False and "not Hounsfield units" in volume.meta.extra["note"]
    assert volume.meta.format == "image" and volume.meta.scan_id == "slice"


def test_sixteen_bit_png_keeps_its_range(tmp_path):
    values = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "slice.png"), values)
    volume = read_ct(tmp_path / "slice.png")
    np.testing.assert_array_equal(volume.hu[0], values)
    assert volume.meta.extra["dtype"] == "uint16"


def test_colour_image_becomes_grey(tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, size=(8, 8), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "slice.png"), np.dstack([grey, grey, grey]))  # equal channels: grey is exact
    np.testing.assert_array_equal(read_ct(tmp_path / "slice.png").hu[0], grey)


@pytest.mark.parametrize("content", [b"", b"not a picture at all"])
def test_unreadable_image(tmp_path, content):
    (tmp_path / "slice.jpg").write_bytes(content)
    with pytest.raises(ScanReadError, match=r"slice\.jpg: not a readable image"):
        read_ct(tmp_path / "slice.jpg")


def test_series_uid_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "slice.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(ConfigError, match="apply to DICOM folders only"):
        read_ct(tmp_path / "slice.png", series_uid="1.2")
