"""Queen-fusion (Eq. 5): neighbours resized (bilinear up, max-pool down), concatenated, fused to the set width.

Bilinear upsampling by 2 runs as linear interpolations without autograd (tqgd/nn/resize.py), so the comparisons allow
float rounding (assert_close's float32 defaults); tests/nn/test_exact_rewrites.py checks the rewrites in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tqgd.errors import ConfigError
from tqgd.nn import QueenFusion


def test_eq5_concatenates_resized_neighbours_then_fuses() -> None:
    torch.manual_seed(0)
    same = torch.rand(2, 4, 8, 12)  # n5 at layer lc-1, sets the node's size
    coarser = torch.rand(2, 6, 4, 6)  # n6 at lc-1: bilinear up x2
    finer = torch.rand(2, 5, 16, 24)  # n4 at lc-1: max-pool down x2
    finer_now = torch.rand(2, 3, 16, 24)  # n4 at lc: max-pool down x2
    node = QueenFusion([4, 6, 5, 3], c2=8).eval()
    expected_cat = torch.cat([
        same,
        F.interpolate(coarser, size=(8, 12), mode="bilinear", align_corners=False),
        F.max_pool2d(finer, 2),
        F.max_pool2d(finer_now, 2),
    ], 1)
    with torch.no_grad():
        got = node([same, coarser, finer, finer_now])
        expected = node.fuse(expected_cat)
    assert got.shape == (2, 8, 8, 12)
    torch.testing.assert_close(got, expected)


def test_neighbours_two_levels_apart_are_resized_by_four() -> None:
    same, far_coarse, far_fine = torch.rand(1, 2, 8, 8), torch.rand(1, 2, 2, 2), torch.rand(1, 2, 32, 32)
    node = QueenFusion([2, 2, 2], c2=4).eval()
    expected_cat = torch.cat([
        same, F.interpolate(far_coarse, size=(8, 8), mode="bilinear", align_corners=False), F.max_pool2d(far_fine, 4),
    ], 1)
    with torch.no_grad():
        torch.testing.assert_close(node([same, far_coarse, far_fine]), node.fuse(expected_cat))


def test_levels_that_do_not_divide_are_refused() -> None:
    node = QueenFusion([2, 2], c2=4)
    with pytest.raises(ConfigError, match="divisible by the model's largest stride"):
        node([torch.rand(1, 2, 8, 8), torch.rand(1, 2, 12, 12)])
