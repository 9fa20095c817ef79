"""ThrConvs: three convolutions with a back-projection residual (TQGDNet paper, Sec. 2.2.1, Eq. 1-4).

    X1 = Conv(X)            (1)   (B, c1, H, W)     -> (B, c2, H/s, W/s)   stride-s projection, kernel k1
    X2 = Conv(X1)           (2)   (B, c2, H/s, W/s) -> (B, c1, H, W)       back-projection to X's shape, kernel k2
    R  = X - X2             (3)   (B, c1, H, W)                            what the projection failed to explain
    X3 = Conv(R) + X1       (4)   (B, c1, H, W)     -> (B, c2, H/s, W/s)   stride-s projection of R, kernel k3

This is DBPN's down-projection unit (Haris et al. 2018: L0 = down(H); H0 = up(L0); e = H0 - H; L1 = down(e);
out = L0 + L1) with the deconvolution replaced, as the paper says, by convolutions: for ``s > 1`` the
back-projection is nearest-neighbour upsampling by ``s`` followed by a stride-1 ``k2`` convolution. With ``s = 1``
(the "same-resolution" reading) all three convolutions keep H x W and X2 is projected back to X's c1 channels.
Each Conv is ultralytics' Conv (conv + BN + SiLU), so ``fuse()`` folds the BNs.

Speed: upsampling and then convolving at full resolution (16 -> 3 channels, 3x3 at 256 x 256 for a 512 px input) is a
shape CPU convolution kernels handle poorly: it took a quarter of TQGDNet-n's CPU forward. For an odd ``k2``, Eq. 2 is
computed in the exactly equivalent sub-pixel form (``upsampled_conv``): every output pixel of a nearest-upsampled
input reads a fixed set of low-resolution pixels, so the same kernel, re-arranged into ``s*s`` phase kernels, runs as
one convolution at X1's resolution followed by a pixel shuffle. Same parameters (checkpoints unchanged), same sums in
another order (results equal to float rounding), same FLOP count for ultralytics' THOP counter.

Padding: a ``k``-kernel, stride-``s`` convolution here pads ``k - s`` in total, so H/s comes out exactly for any H
divisible by s (DBPN's 6/2/2, 8/4/2 and 12/8/2 kernel/stride/pad triples are of this form, and so is YOLOv5's 6x6
s2 p2 stem). When ``k - s`` is odd (e.g. the paper's 8x8 at stride 1) the padding is asymmetric (ZeroPad2d).

Reading used by the default configs: down-projection, ``s = 2``, ``k1 = k3 = 6`` (DBPN's 2x kernels and the YOLOv5
stem it replaces), ``k2 = 3``. It is a drop-in replacement for YOLOv5's P1/2 stem, so every other layer, stride and
the ablation against YOLOv5*B stay aligned. The paper's 8x8 / 12x12 kernels are DBPN's 4x / 8x settings; at stride 1
and 512 px they cost about 3.4 GFLOPs more than this reading for the nano model (docs/models.md has the measured
numbers); ``tqgdnet-faithful.yaml`` and the ``ablation/thrconvs-same-*.yaml`` configs use that reading.

Not used: the space-to-depth form. A 6x6 stride-2 convolution equals a 3x3 convolution on ``pixel_unshuffle(x, 2)``
(12 channels), and the back-projection's phase outputs are already ``pixel_unshuffle(X2)``, so R could be formed at
half resolution with no pixel shuffle. It is exact (checked to 1e-15 in float64 while it was tried) but measured
slower on one CPU thread here (torch 2.14.1, x86_64): the 12-channel 3x3 convolutions cost more than the 3-channel
6x6 stride-2 ones plus the shuffle they save (the stem took 5-10 % longer, three interleaved runs), so the form
above stays.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from ultralytics.nn.modules import Conv

from tqgd.errors import ConfigError
from tqgd.nn.registry import RowSpec, channels_of, int_arg, register_module


def projection_conv(c1: int, c2: int, k: int, s: int) -> nn.Module:
    """Conv(k, stride s) mapping (B, c1, H, W) to (B, c2, H/s, W/s) for H, W divisible by s (total padding k - s)."""
    if k < s:
        raise ConfigError(f"ThrConvs kernel {k} is smaller than its stride {s}; use a kernel >= stride")
    total = k - s
    if total % 2 == 0:
        return Conv(c1, c2, k, s, p=total // 2)
    before, after = total // 2, total - total // 2
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)), Conv(c1, c2, k, s, p=0))


@functools.lru_cache(maxsize=32)
def phase_taps(stride: int, kernel: int) -> torch.Tensor:
    """(stride, kernel, kernel) 0/1 map for nearest upsampling by ``stride`` then a ``kernel`` conv padded (k-1)/2.

    ``taps[a, d, u] = 1`` when output phase ``a`` (position ``stride * i + a``) reads, through kernel tap ``u``, the
    low-resolution pixel ``i + d - (kernel - 1) // 2``; offsets stay within the same padding at low resolution.
    """
    pad = (kernel - 1) // 2
    taps = torch.zeros(stride, kernel, kernel)
    for a in range(stride):
        for u in range(kernel):
            taps[a, (a + u - pad) // stride + pad, u] = 1.0
    return taps


def upsampled_conv(x: torch.Tensor, conv: nn.Conv2d, stride: int) -> torch.Tensor:
    """``conv(upsample_nearest(x, stride))`` computed at x's resolution: (B, c_in, h, w) -> (B, c_out, s*h, s*w).

    The kernel is re-arranged into ``stride**2`` phase kernels ((c_out * s * s, c_in, k, k), channel order as
    ``pixel_shuffle`` expects) and run through ``conv`` itself (``functional_call``), so hooks such as THOP's FLOP
    counter see a convolution with the same number of multiply-adds as the full-resolution one; while tracing for
    export, where that call is refused, the same convolution runs as ``F.conv2d``.
    """
    weight, bias = conv.weight, conv.bias
    # plain ints even while tracing for export, where .shape gives tensors: a tensor ``k`` missed the taps cache and
    # traced their construction into the ONNX graph, whose taps came out wrong (TQGDNet boxes off by up to 15 px)
    c_out, c_in, k, _ = (int(v) for v in weight.shape)
    taps = phase_taps(stride, k).to(weight)
    phases = torch.einsum("adu,bev,ocuv->oabcde", taps, taps, weight).reshape(c_out * stride * stride, c_in, k, k)
    bias = bias.repeat_interleave(stride * stride) if bias is not None else None
    if torch.jit.is_tracing():  # ONNX / TorchScript export: the stateless call is refused, and no one counts FLOPs
        return F.pixel_shuffle(F.conv2d(x, phases, bias, conv.stride, conv.padding), stride)
    params = {"weight": phases} if bias is None else {"weight": phases, "bias": bias}
    return F.pixel_shuffle(functional_call(conv, params, (x,)), stride)


def _thrconvs_rule(spec: RowSpec) -> tuple[list, int]:
    """YAML ``[c2, s, k1, k2, k3]``: c2 is width-scaled; defaults s=2, k1=6, k2=3, k3=6."""
    (c1,) = channels_of(spec, count=1)
    if spec.repeats != 1:
        raise spec.fail(f"ThrConvs is not repeatable; set 'number' to 1 (got {spec.repeats})")
    c2 = spec.width(int_arg(spec, 0, "c2"))
    s = int_arg(spec, 1, "s (stride)", 2)
    kernels = [int_arg(spec, pos, name, default) for pos, name, default in ((2, "k1", 6), (3, "k2", 3), (4, "k3", 6))]
    if min(kernels[0], kernels[2]) < s:
        raise spec.fail(f"ThrConvs strided kernels k1={kernels[0]}, k3={kernels[2]} must be >= stride s={s}")
    return [c1, c2, s, *kernels], c2


@register_module(_thrconvs_rule)
class ThrConvs(nn.Module):
    """Eq. 1-4: (B, c1, H, W) -> (B, c2, H/s, W/s); the module docstring explains both readings."""

    def __init__(self, c1: int, c2: int, s: int = 2, k1: int = 6, k2: int = 3, k3: int = 6):
        """Build the three convolutions; ``s`` is the projection stride, k1/k2/k3 the kernels of Eq. 1/2/4."""
        super().__init__()
        self.stride = s
        self.cv1 = projection_conv(c1, c2, k1, s)
        self.up = nn.Upsample(scale_factor=s, mode="nearest") if s > 1 else nn.Identity()
        self.cv2 = projection_conv(c2, c1, k2, 1)
        self.cv3 = projection_conv(c1, c2, k3, s)

    def back_project(self, x1: torch.Tensor) -> torch.Tensor:
        """Eq. 2, X2 = Conv(up(X1)): in the sub-pixel form when cv2 is one Conv with an odd kernel (module docstring)."""
        if self.stride == 1 or not isinstance(self.cv2, Conv):  # even k2: asymmetric ZeroPad2d, computed as written
            return self.cv2(self.up(x1))
        y = upsampled_conv(x1, self.cv2.conv, self.stride)
        return self.cv2.act(self.cv2.bn(y) if hasattr(self.cv2, "bn") else y)  # fuse() folds bn into conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """X3 = Conv(X - Conv(up(Conv(X)))) + Conv(X)."""
        x1 = self.cv1(x)
        return self.cv3(x - self.back_project(x1)) + x1
