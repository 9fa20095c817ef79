"""``tqgd.data.model_input``: 2.5D channel order, native-pixel crops, and detect building exactly the training input."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.data.model_input import InputSpec, auto_crop_size, crop_box, roi_box, slice_images
from tqgd.data.windowing import parse_window
from tqgd.errors import ConfigError

from tests.data.orca_synthetic import write_orcascore_folder


def _window(hu: float, low: float = -1000.0, high: float = 1000.0) -> int:
    """The window formula written out independently: floor((clip - low) * 255 / (high - low) + 0.5)."""
    return int(np.floor((min(max(hu, low), high) - low) * 255.0 / (high - low) + 0.5))


def test_context_3_puts_previous_current_next_slice_in_r_g_b():
    levels = np.array([-900.0, -300.0, 100.0, 500.0, 900.0], dtype=np.float32)  # one HU per slice
    hu = np.broadcast_to(levels[:, None, None], (5, 8, 8)).copy()
    spec = InputSpec(parse_window("-1000,1000"), context=3)
    images = slice_images(hu, [0, 2, 4], (0, 0, 8, 8), spec)
    assert images.shape == (3, 8, 8, 3)
    expected = {0: (0, 0, 1), 2: (1, 2, 3), 4: (3, 4, 4)}  # ends repeat the slice itself
    for row, z in enumerate((0, 2, 4)):
        for channel, source in enumerate(expected[z]):
            assert images[row, 0, 0, channel] == _window(levels[source])


def test_context_step_spaces_the_neighbours_and_clamps_at_the_ends():
    levels = np.array([-900.0, -500.0, -100.0, 300.0, 700.0], dtype=np.float32)  # one HU per slice
    hu = np.broadcast_to(levels[:, None, None], (5, 4, 4)).copy()
    spec = InputSpec(parse_window("-1000,1000"), context=3, context_step=2)
    images = slice_images(hu, [0, 1, 2, 4], (0, 0, 4, 4), spec)
    expected = {0: (0, 0, 2), 1: (0, 1, 3), 2: (0, 2, 4), 4: (2, 4, 4)}  # z-2, z, z+2, clamped to the volume
    for row, z in enumerate((0, 1, 2, 4)):
        assert [images[row, 0, 0, c] for c in range(3)] == [_window(levels[k]) for k in expected[z]]


def test_context_1_is_the_plain_window():
    rng = np.random.default_rng(0)
    hu = rng.integers(-1024, 2000, size=(3, 10, 12)).astype(np.float32)
    spec = InputSpec(parse_window("calcium"))
    image = slice_images(hu, [1], (2, 3, 10, 9), spec)[0]
    want = np.vectorize(lambda v: _window(v, -200, 800))(hu[1, 3:9, 2:10])
    np.testing.assert_array_equal(image, want)


def test_crop_box_centres_a_fixed_square_and_stays_inside_the_slice():
    assert crop_box((100, 100, 200, 180), (512, 512), 128) == (86, 76, 214, 204)
    assert crop_box((0, 0, 50, 40), (512, 512), 128) == (0, 0, 128, 128)  # shifted right/down, not padded
    assert crop_box((450, 470, 512, 512), (512, 512), 128) == (384, 384, 512, 512)
    assert crop_box((10, 10, 90, 90), (100, 100), 128) == (0, 0, 128, 128)  # slice smaller: padded past its edge
    assert crop_box((10, 10, 180, 60), (512, 512), 128) == (0, 0, 192, 192)  # ROI larger: the side grows, no shrink
    assert crop_box((5, 6, 70, 80), (512, 512), None) == (5, 6, 70, 80)


def test_roi_box_rounds_each_side_up_to_32_around_the_roi():
    assert roi_box((100, 100, 200, 180), (512, 512)) == (86, 92, 214, 188)  # 100 x 80 -> 128 x 96, centred
    assert roi_box((111, 122, 411, 356), (512, 512)) == (101, 111, 421, 367)  # 300 x 234 -> 320 x 256
    assert roi_box((0, 0, 50, 40), (512, 512)) == (0, 0, 64, 64)  # shifted inside the slice
    assert roi_box((480, 10, 512, 20), (512, 512)) == (480, 0, 512, 32)  # ends at the slice edge
    assert roi_box((10, 10, 90, 90), (80, 100)) == (2, 0, 98, 96)  # taller than the slice: starts at 0, padded
    for roi in ((3, 7, 250, 129), (17, 40, 18, 41), (0, 0, 512, 512)):
        x0, y0, x1, y1 = roi_box(roi, (512, 512))
        assert (x1 - x0) % 32 == 0 and (y1 - y0) % 32 == 0
        assert x0 <= roi[0] and y0 <= roi[1] and x1 >= roi[2] and y1 >= roi[3]  # the whole ROI is seen
        assert x1 - x0 < roi[2] - roi[0] + 32 and y1 - y0 < roi[3] - roi[1] + 32


def test_padding_is_air_before_windowing():
    hu = np.full((1, 40, 40), 50.0, dtype=np.float32)
    image = slice_images(hu, [0], crop_box((0, 0, 40, 40), (40, 40), 64), InputSpec(parse_window("-1000,1000")))[0]
    assert image.shape == (64, 64)
    assert (image[:40, :40] == _window(50.0)).all() and (image[40:, :] == _window(-1024.0)).all()


def test_auto_crop_size_rounds_the_largest_roi_up_to_32():
    assert auto_crop_size([(0, 0, 100, 90), (10, 10, 140, 200)]) == 192


@pytest.mark.parametrize("kwargs, match", [
    ({"context": 2}, "context must be 1"),
    ({"context": 3, "window": "rgb"}, "needs one window"),
    ({"crop_size": 100}, "multiple of 32"),
    ({"context": 3, "context_step": 0}, "context step must be 1 to"),
    ({"context": 3, "context_step": 9}, "context step must be 1 to"),
    ({"context": 1, "context_step": 2}, "needs context 3"),
])
def test_bad_specs_are_refused(kwargs, match):
    window = parse_window(kwargs.pop("window", "calcium"))
    with pytest.raises(ConfigError, match=match):
        InputSpec(window, **kwargs)


def test_record_round_trip_and_old_records():
    spec = InputSpec(parse_window("calcium"), context=3, crop_size=256)
    assert InputSpec.from_record({"input": spec.to_json()}) == spec
    old = InputSpec.from_record({"window": parse_window("paper").to_json()})
    assert old == InputSpec(parse_window("paper"))
    assert "context_step" not in spec.to_json()  # adjacent-slice records are written as before
    spaced = InputSpec(parse_window("calcium"), context=3, crop_size=256, context_step=3)
    assert spaced.to_json()["context_step"] == 3 and InputSpec.from_record({"input": spaced.to_json()}) == spaced


@pytest.mark.parametrize("step", [1, 2])
def test_detect_builds_exactly_the_training_images(tmp_path: Path, step: int):
    """Convert with 2.5D (adjacent or spaced neighbours) + a fixed crop, then build the same slices the way
    detect_volume does from the recorded input: identical pixels."""
    import json

    from tqgd.data.readers import read_ct
    from tqgd.engine.detect import _images

    src = write_orcascore_folder(tmp_path / "orca", patients=3, slices=6, size=96)
    roi = (20, 14, 70, 60)
    options = OrcaConvertOptions(folds=2, negatives="all", window="calcium", context=3, crop_size=64,
                                 context_step=step)
    out = convert_orcascore(src, tmp_path / "ds", options, crop=lambda volume: roi).out
    spec = InputSpec.from_record(json.loads((out / "convert.json").read_text()))
    assert spec == InputSpec(parse_window("calcium"), context=3, crop_size=64, context_step=step)
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing)
    volume = read_ct(src / "Images" / "TRV1P2CTI.mhd")
    box = crop_box(roi, volume.shape[1:], 64)
    built = _images(volume, detector, range(volume.shape[0]), box)
    for z in range(volume.shape[0]):
        trained = cv2.imread(str(out / "images" / f"TRV1P2_z{z:03d}.png"), cv2.IMREAD_UNCHANGED)
        trained_bgr = trained if trained.ndim == 3 else np.repeat(trained[..., None], 3, axis=2)
        np.testing.assert_array_equal(built[z], trained_bgr)
    assert built[0].shape == (64, 64, 3)
