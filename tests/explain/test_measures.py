"""Energy share, rank correlation, the letterbox inverse and the randomised copy, on small hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tqgd  # noqa: F401
from tqgd.explain.cam import letterbox, unletterbox
from tqgd.explain.measures import area_fraction, energy_share, rank_correlation
from tqgd.explain.randomise import randomised_copy


def test_energy_share_counts_the_pixels_the_box_touches() -> None:
    cam = np.zeros((10, 10), dtype=np.float32)
    cam[2:4, 2:4] = 1.0
    cam[8, 8] = 4.0
    assert energy_share(cam, (2, 2, 4, 4)) == pytest.approx(0.5)
    assert energy_share(cam, (2.5, 2.5, 3.2, 3.2)) == pytest.approx(0.5)  # partial pixels count whole
    assert energy_share(cam, (0, 0, 10, 10)) == pytest.approx(1.0)


def test_an_empty_map_gets_the_share_of_a_flat_map() -> None:
    cam = np.zeros((10, 20), dtype=np.float32)
    assert energy_share(cam, (0, 0, 5, 2)) == pytest.approx(area_fraction((0, 0, 5, 2), (10, 20))) == 0.05


def test_rank_correlation_is_one_for_a_monotone_copy_and_nan_for_a_constant_map() -> None:
    rng = np.random.default_rng(0)
    cam = rng.random((16, 16))
    assert rank_correlation(cam, cam ** 3) == pytest.approx(1.0)
    assert rank_correlation(cam, -cam) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation(cam, np.zeros_like(cam)))


@pytest.mark.parametrize(("height", "width", "imgsz"), [(96, 96, 96), (100, 60, 128), (37, 90, 64)])
def test_unletterbox_undoes_ultralytics_letterbox(height, width, imgsz) -> None:
    yy, xx = np.mgrid[0:height, 0:width]
    ramp = ((xx + yy) % 256).astype(np.uint8)
    image = np.repeat(ramp[..., None], 3, axis=2)
    tensor, input_hw = letterbox(image, imgsz, 32)
    assert tensor.shape[1:] == input_hw and all(s % 32 == 0 for s in input_hw)
    back = unletterbox(tensor[0], input_hw, (height, width))
    assert back.shape == (height, width)
    if (height, width) == (imgsz, imgsz):
        np.testing.assert_allclose(back * 255.0, ramp, atol=1e-3)  # no resize: exact
    else:
        assert np.corrcoef(back.ravel(), ramp.ravel())[0, 1] > 0.95  # resized twice: the same picture


def test_randomised_copy_changes_neck_and_head_only_and_leaves_the_model_alone() -> None:
    from tqgd.engine.model import TQGD

    module = TQGD("yolov5b-panet-n").model
    before = {k: v.clone() for k, v in module.state_dict().items()}
    clone = randomised_copy(module, seed=3)
    again = randomised_copy(module, seed=3)
    nb = len(module.yaml["backbone"])
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} of the original changed"
        layer = int(key.split(".")[1])
        changed = not torch.equal(clone.state_dict()[key], value)
        if layer < nb or ".dfl." in key or key.endswith("num_batches_tracked"):
            assert not changed, key
        assert torch.equal(clone.state_dict()[key], again.state_dict()[key]), "same seed, same copy"
    assert any(not torch.equal(clone.state_dict()[k], v) for k, v in module.state_dict().items()
               if int(k.split(".")[1]) >= nb and k.endswith(".weight"))
