"""The forward passes of tqgd's layers as they were before the exact speed rewrites (project main 7f72ecc), kept here,
outside the package, as the reference the rewrites are tested against (tests/nn/test_exact_rewrites.py) and timed
against (benchmarks/model_speed.py --before-after).

- resizing with ``F.max_pool2d`` / ``F.avg_pool2d`` / bilinear ``F.interpolate``, every row resizing for itself;
- ThrConvs with its back-projection in the sub-pixel form (itself checked against upsample-then-convolve in
  tests/nn/test_thrconvs_subpixel.py) and X - X2 formed at the input's resolution;
- GDInject's Eq. 9 conv before the resize.

``reference_model(model)`` returns a deep copy of a built model whose tqgd layers run these forwards.
"""

from __future__ import annotations

import copy
import types

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from ultralytics.nn.modules import Conv
from ultralytics.nn.tasks import DetectionModel

from tqgd.nn import GDGather, GDInject, QueenFusion, ThrConvs
from tqgd.nn.thrconvs import phase_taps

POOLS = {"max": F.max_pool2d, "avg": F.avg_pool2d}


def resize_like(x: torch.Tensor, ref: torch.Tensor, down: str = "max") -> torch.Tensor:
    """Pool by the integer factor when larger, bilinear when smaller (sizes assumed to divide)."""
    (h, w), (target_h, target_w) = x.shape[-2:], ref.shape[-2:]
    if (h, w) == (target_h, target_w):
        return x
    if h >= target_h and w >= target_w:
        kernel = (h // target_h, w // target_w)
        return POOLS[down](x, kernel, kernel)
    scale = (float(target_h // h), float(target_w // w))
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def upsampled_conv(x: torch.Tensor, conv: nn.Conv2d, stride: int) -> torch.Tensor:
    """``conv(upsample_nearest(x, stride))`` at x's resolution: phase kernels, then a pixel shuffle."""
    weight, bias = conv.weight, conv.bias
    c_out, c_in, k, _ = weight.shape
    taps = phase_taps(stride, k).to(weight)
    phases = torch.einsum("adu,bev,ocuv->oabcde", taps, taps, weight).reshape(c_out * stride * stride, c_in, k, k)
    bias = bias.repeat_interleave(stride * stride) if bias is not None else None
    if torch.jit.is_tracing():
        return F.pixel_shuffle(F.conv2d(x, phases, bias, conv.stride, conv.padding), stride)
    params = {"weight": phases} if bias is None else {"weight": phases, "bias": bias}
    return F.pixel_shuffle(functional_call(conv, params, (x,)), stride)


def thrconvs_forward(self: ThrConvs, x: torch.Tensor) -> torch.Tensor:
    """X3 = Conv(X - Conv(up(Conv(X)))) + Conv(X), back-projection in the sub-pixel form for odd k2."""
    x1 = self.cv1(x)
    if self.stride == 1 or not isinstance(self.cv2, Conv):
        x2 = self.cv2(self.up(x1))
    else:
        y = upsampled_conv(x1, self.cv2.conv, self.stride)
        x2 = self.cv2.act(self.cv2.bn(y) if hasattr(self.cv2, "bn") else y)
    return self.cv3(x - x2) + x1


def queen_fusion_forward(self: QueenFusion, xs: list[torch.Tensor]) -> torch.Tensor:
    ref = xs[0]
    return self.fuse(torch.cat([ref, *(resize_like(x, ref, down="max") for x in xs[1:])], 1))


def gd_gather_forward(self: GDGather, xs: list[torch.Tensor]) -> torch.Tensor:
    ref = xs[self.target]
    return self.blocks(self.reduce(torch.cat([resize_like(x, ref, down="avg") for x in xs], 1)))


def gd_inject_forward(self: GDInject, xs: list[torch.Tensor]) -> torch.Tensor:
    q, g = xs
    gate = resize_like(self.gate_act(self.gate(g)), q, down="avg")
    glob = resize_like(self.glob(g), q, down="avg")
    return self.blocks(self.local(q) * gate + glob)


REFERENCE_FORWARDS = {ThrConvs: thrconvs_forward, QueenFusion: queen_fusion_forward, GDGather: gd_gather_forward,
                      GDInject: gd_inject_forward}


def use_reference(module: nn.Module) -> nn.Module:
    """Make ``module`` (a tqgd layer) run its reference forward; returns it."""
    module.forward = types.MethodType(REFERENCE_FORWARDS[type(module)], module)
    return module


def reference_model(model: DetectionModel) -> DetectionModel:
    """A deep copy of ``model`` whose tqgd layers run the reference forwards, without shared resizes."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if type(module) in REFERENCE_FORWARDS:
            use_reference(module)
    twin._predict_once = types.MethodType(DetectionModel._predict_once, twin)
    return twin
