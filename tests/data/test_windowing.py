"""HU windowing: checked against the linear map computed independently in float64."""

from __future__ import annotations

import numpy as np
import pytest

from tqgd.data.windowing import Windowing, apply_window, parse_window
from tqgd.errors import ConfigError


def reference_window(hu: np.ndarray, low: float, high: float) -> np.ndarray:
    """Round-half-up linear map of [low, high] onto 0..255, in float64 (independent of tqgd)."""
    clipped = np.clip(hu.astype(np.float64), low, high)
    return np.floor((clipped - low) * 255.0 / (high - low) + 0.5).astype(np.uint8)


def test_paper_window_maps_its_range_onto_0_255_and_clips_outside():
    hu = np.array([[-3000, -1200, 300, 1800, 4000]], np.float32)
    assert apply_window(hu, "paper").tolist() == [[0, 0, 128, 255, 255]]  # 300 HU is 127.5 -> rounds up


def test_every_integer_hu_matches_the_float64_reference():
    hu = np.arange(-1300, 1901, dtype=np.float32).reshape(1, -1)
    np.testing.assert_array_equal(apply_window(hu), reference_window(hu, -1200, 1800))
    np.testing.assert_array_equal(apply_window(hu, "-160,240"), reference_window(hu, -160, 240))


def test_three_window_spec_gives_rgb_channels_in_order():
    hu = np.random.default_rng(0).integers(-1500, 2000, (3, 16, 16)).astype(np.float32)
    rgb = apply_window(hu, "rgb")
    assert rgb.shape == (3, 16, 16, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], reference_window(hu, -1200, 1800))
    np.testing.assert_array_equal(rgb[..., 1], reference_window(hu, -160, 240))
    np.testing.assert_array_equal(rgb[..., 2], reference_window(hu, -200, 800))


def test_window_specs_parse_and_round_trip_through_json():
    custom = parse_window("paper+-100,300+0,1000")
    assert custom.channels_hu == ((-1200.0, 1800.0), (-100.0, 300.0), (0.0, 1000.0))
    assert Windowing.from_json(custom.to_json()) == custom
    assert parse_window(None).channels_hu == ((-1200.0, 1800.0),)
    assert parse_window("rgb").channels_hu == parse_window("paper+mediastinum+calcium").channels_hu


@pytest.mark.parametrize("spec, message", [
    ("soft", "neither a named window"),
    ("100,-100", "LOW < HIGH"),
    ("paper+calcium", "has 2 parts"),
    ("1,2,3", "neither a named window"),
])
def test_bad_window_specs_raise_config_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_window(spec)
