"""Resize a feature map to a neighbouring pyramid level's size by an integer factor.

Queen-fusion and Gather-and-Distribute combine levels whose sizes differ by powers of two (input sizes divisible by
32). Pooling with a fixed kernel and ``interpolate(scale_factor=...)`` use integer factors as Python ints, which
ONNX export keeps as constants (``adaptive_avg_pool2d`` to a size read from another tensor does not export).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from tqgd.errors import ConfigError

#: Down-sampling operators by name: the paper uses max-pooling in Queen-fusion and average pooling in GD.
POOLS = {"max": F.max_pool2d, "avg": F.avg_pool2d}


def _factor(big: int, small: int, what: str) -> int:
    """The integer ratio big/small, or a ConfigError when the levels do not divide (input not divisible by 32)."""
    if small <= 0 or big % small:
        raise ConfigError(f"cannot resize between feature maps of {what} {big} and {small} by an integer factor; "
                          "use an input size divisible by the model's largest stride (32)")
    return big // small


def _spatial_size(x: torch.Tensor) -> tuple[int, int]:
    """(H, W) as Python ints. A trace records them as constants; that is correct here because the ratio between two
    pyramid levels is fixed by the architecture (the dynamic-size ONNX test checks it), so the tracer's warning is
    silenced rather than printed on every export."""
    if not torch.jit.is_tracing():
        return int(x.shape[-2]), int(x.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return int(x.shape[-2]), int(x.shape[-1])


def resize_like(x: torch.Tensor, ref: torch.Tensor, down: str = "max") -> torch.Tensor:
    """Bring ``x`` (B, C, h, w) to ``ref``'s spatial size (H, W): ``down`` pooling when larger, bilinear when smaller.

    Returns a (B, C, H, W) tensor; ``x`` itself when the sizes already match.
    """
    (h, w), (target_h, target_w) = _spatial_size(x), _spatial_size(ref)
    if (h, w) == (target_h, target_w):
        return x
    if h >= target_h and w >= target_w:
        kernel = (_factor(h, target_h, "height"), _factor(w, target_w, "width"))
        return POOLS[down](x, kernel, kernel)
    if h <= target_h and w <= target_w:
        scale = (float(_factor(target_h, h, "height")), float(_factor(target_w, w, "width")))
        return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    raise ConfigError(f"cannot resize a {h}x{w} feature map to {target_h}x{target_w} (one side grows, one shrinks)")
