"""ThrConvs against a hand computation of Eq. 1-4 (both readings), its shapes, and its config errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tqgd.errors import ConfigError
from tqgd.nn import ThrConvs


def _conv_bn_silu(x: torch.Tensor, block: torch.nn.Module, stride: int) -> torch.Tensor:
    """Conv -> BN (eval) -> SiLU written out from the block's tensors, with PyTorch's own 'same'-style padding."""
    conv, bn = block.conv, block.bn
    k = conv.weight.shape[-1]
    if stride == 1:
        y = F.conv2d(x, conv.weight, padding="same")  # torch pads the extra pixel of an even kernel right/bottom
    else:
        y = F.conv2d(x, conv.weight, stride=stride, padding=(k - stride) // 2)
    y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    y = y * bn.weight[:, None, None] + bn.bias[:, None, None]
    return y * torch.sigmoid(y)


def _conv_block(m: torch.nn.Module) -> torch.nn.Module:
    """The ultralytics Conv inside a projection (which may be preceded by an asymmetric ZeroPad2d)."""
    return m[-1] if isinstance(m, torch.nn.Sequential) else m


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Fixed, non-trivial weights and BN statistics so every term of Eq. 1-4 matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
        for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.copy_(torch.rand(bn.num_features, generator=gen) - 0.5)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    ("stride", "k1", "k2", "k3"),
    [(2, 6, 3, 6), (1, 8, 12, 8), (4, 8, 5, 8)],
    ids=["down-projection-s2", "same-resolution-8x8-12x12", "down-projection-s4"],
)
def test_matches_eq_1_to_4_by_hand(stride: int, k1: int, k2: int, k3: int) -> None:
    c1, c2 = 2, 3
    module = ThrConvs(c1, c2, stride, k1, k2, k3).eval()
    _randomise(module)
    x = torch.rand(2, c1, 32, 48)
    cv1, cv2, cv3 = (_conv_block(m) for m in (module.cv1, module.cv2, module.cv3))
    with torch.no_grad():
        x1 = _conv_bn_silu(x, cv1, stride)  # Eq. 1
        up = x1.repeat_interleave(stride, dim=2).repeat_interleave(stride, dim=3)  # nearest back to X's size
        x2 = _conv_bn_silu(up, cv2, 1)  # Eq. 2, projected back to X's channels
        r = x - x2  # Eq. 3
        expected = _conv_bn_silu(r, cv3, stride) + x1  # Eq. 4
        got = module(x)
    assert got.shape == (2, c2, 32 // stride, 48 // stride)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
def test_output_shape_any_size_divisible_by_32(size: tuple[int, int]) -> None:
    module = ThrConvs(3, 16)  # default reading: down-projection, stride 2
    assert module(torch.rand(1, 3, *size)).shape == (1, 16, size[0] // 2, size[1] // 2)


def test_kernel_smaller_than_stride_is_refused() -> None:
    with pytest.raises(ConfigError, match="kernel 1 is smaller than its stride 2"):
        ThrConvs(3, 16, 2, 1, 3, 6)
