"""ThrConvs' back-projection (Eq. 2) in its sub-pixel form equals nearest upsampling + convolution at full resolution:
values and gradients in float64, train and eval mode, before and after fuse(), and for ultralytics' FLOP counter."""

from __future__ import annotations

import copy

import pytest
import thop
import torch
import torch.nn.functional as F
from torch import nn

from tqgd.nn.tasks import TQGDDetectionModel
from tqgd.nn.thrconvs import ThrConvs


def reference_back_projection(block: ThrConvs, x1: torch.Tensor) -> torch.Tensor:
    """Eq. 2 as written: act(bn(conv(upsample_nearest(x1)))) with the block's own weights, at full resolution."""
    conv_block = block.cv2[1] if isinstance(block.cv2, nn.Sequential) else block.cv2
    up = F.interpolate(x1, scale_factor=block.stride, mode="nearest")
    if isinstance(block.cv2, nn.Sequential):
        up = block.cv2[0](up)
    conv = conv_block.conv
    y = F.conv2d(up, conv.weight, conv.bias, padding=conv.padding)
    return conv_block.act(conv_block.bn(y) if hasattr(conv_block, "bn") else y)


@pytest.mark.parametrize(("stride", "k2"), [(2, 3), (2, 5), (2, 1), (4, 3), (2, 4)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_back_projection_equals_upsample_then_convolve(stride: int, k2: int, mode: str) -> None:
    torch.manual_seed(stride * 10 + k2)
    block = ThrConvs(3, 16, stride, 2 * stride + 2, k2, 2 * stride + 2).double()
    getattr(block, mode)()
    x1 = block.cv1(torch.randn(2, 3, 48, 64, dtype=torch.float64))
    expected = reference_back_projection(copy.deepcopy(block), x1)
    got = block.back_project(x1)
    assert got.shape == (2, 3, 48, 64)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_gradients_reach_the_same_weights() -> None:
    torch.manual_seed(0)
    block = ThrConvs(3, 16).double().train()
    twin = copy.deepcopy(block)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    block(x).square().sum().backward()
    x1 = twin.cv1(x)
    twin.cv3(x - reference_back_projection(twin, x1)).add(x1).square().sum().backward()
    for (name, ours), theirs in zip(block.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_fused_model_keeps_its_outputs_and_its_flop_count() -> None:
    torch.manual_seed(0)
    model = TQGDDetectionModel("thrconvs-panet-n", nc=1, verbose=False).double().eval()
    stem = model.model[0]
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)[0]
        model.fuse(verbose=False)
        assert not hasattr(stem.cv2, "bn"), "fuse() folded the back-projection's BN"
        x1 = stem.cv1(x)
        torch.testing.assert_close(stem.back_project(x1), reference_back_projection(stem, x1))
        torch.testing.assert_close(model(x)[0], before, rtol=1e-9, atol=1e-9)

    class Reference(nn.Module):
        def __init__(self, block: ThrConvs) -> None:
            super().__init__()
            self.block = block

        def forward(self, x1: torch.Tensor) -> torch.Tensor:
            return self.block.cv2(self.block.up(x1))

    class SubPixel(Reference):
        def forward(self, x1: torch.Tensor) -> torch.Tensor:
            return self.block.back_project(x1)

    x1 = torch.rand(1, 16, 32, 32, dtype=torch.float64)
    counts = [thop.profile(copy.deepcopy(wrapper(stem)), inputs=(x1,), verbose=False) for wrapper in (Reference,
                                                                                                       SubPixel)]
    assert counts[0] == counts[1] and counts[0][0] > 0, "THOP sees the same multiply-adds and parameters"
