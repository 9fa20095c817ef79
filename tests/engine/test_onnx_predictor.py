"""The torch-free ONNX predictor's steps against the libraries they reproduce: torchvision's NMS, ultralytics'
letterbox and box scaling (the end-to-end comparison with ultralytics' predictor is in test_backends.py)."""

from __future__ import annotations

import numpy as np
import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.engine.onnx_predictor import MAX_WH, greedy_nms, letterbox, nms, scale_to_image


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 60, size=(n, 2))
    wh = rng.uniform(1, 25, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_nms_keeps_what_torchvision_keeps(seed) -> None:
    import torch
    import torchvision

    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 200)
    scores = rng.uniform(0, 1, size=200).astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    for iou in (0.3, 0.5, 0.7):
        expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        np.testing.assert_array_equal(order[greedy_nms(boxes[order], iou)], expected)


def test_nms_is_class_wise_and_drops_low_scores() -> None:
    """Two classes on the same box both stay; within a class the weaker overlapping box goes; <= conf never stays."""
    def anchor(cx, cy, w, h, scores):
        return [cx, cy, w, h, *scores]

    raw = np.array([anchor(20, 20, 10, 10, (0.9, 0.1)), anchor(21, 20, 10, 10, (0.8, 0.0)),
                    anchor(20, 20, 10, 10, (0.0, 0.7)), anchor(50, 50, 4, 4, (0.2, 0.0)),
                    anchor(70, 70, 4, 4, (0.25, 0.0))], dtype=np.float32).T
    rows = nms(raw, conf=0.25)
    np.testing.assert_allclose(rows, [[15, 15, 25, 25, 0.9, 0], [15, 15, 25, 25, 0.7, 1]], rtol=0, atol=1e-6)
    assert rows.dtype == np.float32 and MAX_WH > 0


@pytest.mark.parametrize("shape, size", [((64, 64), 64), ((128, 96), 64), ((50, 70), 64), ((100, 130), 96),
                                         ((512, 512), 256), ((33, 200), 128)])
def test_letterbox_and_scaling_match_ultralytics(shape, size) -> None:
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils import ops

    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    expected = LetterBox(size, auto=True, stride=32)(image=image.copy())
    got = letterbox(image, size, 32)
    np.testing.assert_array_equal(got, expected)
    assert got.shape[0] % 32 == 0 and got.shape[1] % 32 == 0

    boxes = _random_boxes(rng, 20) * (got.shape[0] / 85)
    rows = np.concatenate([boxes, np.ones((20, 2), np.float32)], axis=1)
    import torch

    reference = ops.scale_boxes(got.shape[:2], torch.from_numpy(boxes.copy()), shape).numpy()
    np.testing.assert_allclose(scale_to_image(rows, got.shape[:2], shape)[:, :4], reference, rtol=0, atol=1e-4)
