"""RepConv blocks re-parameterise exactly: same outputs before and after ultralytics' fuse() (eval mode)."""

from __future__ import annotations

import copy

import torch
from ultralytics.nn.modules import RepConv

from tqgd.nn import RepConvBlock, TQGDDetectionModel


def _random_bn_statistics(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine terms, so folding them into the 3x3 kernel is actually tested."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            bn.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            bn.weight.copy_(torch.rand(n, generator=gen) + 0.5)
            bn.bias.copy_(torch.rand(n, generator=gen) - 0.5)


def test_block_fuses_every_branch_into_one_3x3_conv() -> None:
    block = RepConvBlock(4, 6, n=3).eval()
    _random_bn_statistics(block)
    assert block.m[0].bn is None and all(rep.bn is not None for rep in block.m[1:])  # identity branch when c1 == c2
    x = torch.rand(2, 4, 16, 16)
    with torch.no_grad():
        before = block(x)
        for rep in block.m:
            rep.fuse_convs()
            rep.forward = rep.forward_fuse
        after = block(x)
    assert [type(rep) for rep in block.m] == [RepConv] * 3
    assert all(not hasattr(rep, "conv1") and not hasattr(rep, "bn") and rep.conv.kernel_size == (3, 3)
               for rep in block.m)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_model_fuse_reparameterises_tqgd_layers_with_the_same_outputs() -> None:
    torch.manual_seed(0)
    model = TQGDDetectionModel("tqgdnet-n", verbose=False).eval()
    _random_bn_statistics(model)
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        before = model(x)[0]
        fused = copy.deepcopy(model).fuse(verbose=False)
        after = fused(x)[0]
    assert fused.is_fused()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-3)
