"""Resize a feature map to a neighbouring pyramid level's size by an integer factor.

Queen-fusion and Gather-and-Distribute combine levels whose sizes differ by powers of two (input sizes divisible by
32). Pooling with a fixed kernel and ``interpolate(scale_factor=...)`` use integer factors as Python ints, which
ONNX export keeps as constants (``adaptive_avg_pool2d`` to a size read from another tensor does not export).

Speed (exact rewrites; tests/nn/test_exact_rewrites.py checks them in float64 against the plain operators):

- Pooling by a factor of 2 without autograd (inference) is written as strided slices: max-pooling as the elementwise
  maximum of the two row phases, then of the two column phases (the same values as ``F.max_pool2d``, bit for bit,
  for sizes divisible by the factor, which ``resize_like`` guarantees); average pooling as the sum of the phases
  times 1/4 (equal to ``F.avg_pool2d`` up to the order of the additions). On one CPU thread ``F.max_pool2d(x, 2)``
  took 3.9 ms on a 32x128x128 map and the slices 0.1 ms. Other factors are peeled into powers of two and a rest
  pooled as before. When autograd records the pass (training), the torch operators run as before.
- Bilinear upsampling by exactly 2 without autograd (inference) is written as linear interpolations (``torch.lerp``
  with weight 1/4 towards each neighbour, edges replicated, as ``align_corners=False`` clamps them) stored straight
  into the interleaved rows and columns of the output: 2-4x faster than ``F.interpolate`` on one CPU thread for the
  neck's shapes, equal up to float rounding. Training (autograd), tracing (export) and other factors use
  ``F.interpolate``.
- ``shared_resizes()`` (entered by ``TQGDDetectionModel`` around each forward pass) lets rows that resize the same
  tensor to the same size share one result: the Queen-fusion neck upsamples T4 and T5 twice each otherwise.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import torch
import torch.nn.functional as F

from tqgd.errors import ConfigError

#: Per-forward cache of resized tensors: (id(x), operator, target size) -> (x, result); None outside a forward pass.
_SHARED: ContextVar[dict | None] = ContextVar("tqgd_shared_resizes", default=None)


def _peel(x: torch.Tensor, kernel: tuple[int, int], pair: Callable, rest: Callable) -> tuple[torch.Tensor, int]:
    """Pool ``x`` by ``kernel`` (dividing its size): factors of 2 through ``pair(a, b)`` on the row / column phases,
    any other factor through ``rest(x, k)``; returns the result and how many factors of 2 were taken."""
    kh, kw = kernel
    halvings = 0
    while kh % 2 == 0:
        x, kh, halvings = pair(x[..., 0::2, :], x[..., 1::2, :]), kh // 2, halvings + 1
    while kw % 2 == 0:
        x, kw, halvings = pair(x[..., 0::2], x[..., 1::2]), kw // 2, halvings + 1
    if kh > 1 or kw > 1:
        x = rest(x, (kh, kw))
    return x, halvings


def max_pool(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """``F.max_pool2d(x, kernel, kernel)`` for (H, W) divisible by ``kernel``, computed as maxima of strided slices."""
    return _peel(x, kernel, torch.maximum, lambda t, k: F.max_pool2d(t, k, k))[0]


def avg_pool(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """``F.avg_pool2d(x, kernel, kernel)`` for (H, W) divisible by ``kernel``, computed as sums of strided slices."""
    summed, halvings = _peel(x, kernel, torch.add, lambda t, k: F.avg_pool2d(t, k, k))
    return summed * (0.5 ** halvings) if halvings else summed


def upsample2_bilinear(x: torch.Tensor) -> torch.Tensor:
    """``F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)`` for (B, C, h, w), without autograd.

    Output row 2i is x's row i moved 1/4 of the way towards row i - 1, row 2i + 1 1/4 towards row i + 1 (rows beyond
    the edge replicate it); then the same along columns. ``out=`` writes each half straight into its interleaved
    place, so the result needs no stacking copy.
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    rows = x.new_empty((n, c, h, 2, w + 2))
    middle = padded[:, :, 1:-1]
    torch.lerp(middle, padded[:, :, :-2], 0.25, out=rows[:, :, :, 0])
    torch.lerp(middle, padded[:, :, 2:], 0.25, out=rows[:, :, :, 1])
    rows = rows.view(n, c, 2 * h, w + 2)
    out = x.new_empty((n, c, 2 * h, w, 2))
    middle = rows[..., 1:-1]
    torch.lerp(middle, rows[..., :-2], 0.25, out=out[..., 0])
    torch.lerp(middle, rows[..., 2:], 0.25, out=out[..., 1])
    return out.view(n, c, 2 * h, 2 * w)


def _upsample(x: torch.Tensor, factor: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling by integer factors: the lerp form for 2x2 when no gradient is needed and nothing traces."""
    if factor == (2, 2) and not torch.jit.is_tracing() and not (torch.is_grad_enabled() and x.requires_grad):
        return upsample2_bilinear(x)
    return F.interpolate(x, scale_factor=(float(factor[0]), float(factor[1])), mode="bilinear", align_corners=False)


#: Down-sampling operators by name: the paper uses max-pooling in Queen-fusion and average pooling in GD.
POOLS = {"max": max_pool, "avg": avg_pool}
#: The same operators as torch writes them, used when autograd records the pass (their backward passes are cheaper
#: than those of the slices and keep max-pooling's gradient going to one element of a tie).
TORCH_POOLS = {"max": F.max_pool2d, "avg": F.avg_pool2d}


@contextlib.contextmanager
def shared_resizes() -> Iterator[None]:
    """Within the block, ``resize_like`` computes each (tensor, operator, size) once and hands the result to every
    caller; the cache keeps the tensors it keys alive, so an id cannot be reused while the block runs."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _factor(big: int, small: int, what: str) -> int:
    """The integer ratio big/small, or a ConfigError when the levels do not divide (input not divisible by 32)."""
    if small <= 0 or big % small:
        raise ConfigError(f"cannot resize between feature maps of {what} {big} and {small} by an integer factor; "
                          "use an input size divisible by the model's largest stride (32)")
    return big // small


def spatial_size(x: torch.Tensor) -> tuple[int, int]:
    """(H, W) as Python ints. A trace records them as constants; that is correct here because the ratio between two
    pyramid levels is fixed by the architecture (the dynamic-size ONNX test checks it), so the tracer's warning is
    silenced rather than printed on every export."""
    if not torch.jit.is_tracing():
        return int(x.shape[-2]), int(x.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return int(x.shape[-2]), int(x.shape[-1])


def _resize(x: torch.Tensor, size: tuple[int, int], target: tuple[int, int], down: str) -> torch.Tensor:
    """The resize itself (no cache): ``down`` pooling when larger, bilinear when smaller."""
    (h, w), (target_h, target_w) = size, target
    if h >= target_h and w >= target_w:
        kernel = (_factor(h, target_h, "height"), _factor(w, target_w, "width"))
        if torch.is_grad_enabled() and x.requires_grad:  # training: the torch operators and their backward passes
            return TORCH_POOLS[down](x, kernel, kernel)
        return POOLS[down](x, kernel)
    if h <= target_h and w <= target_w:
        return _upsample(x, (_factor(target_h, h, "height"), _factor(target_w, w, "width")))
    raise ConfigError(f"cannot resize a {h}x{w} feature map to {target_h}x{target_w} (one side grows, one shrinks)")


def resize_like(x: torch.Tensor, ref: torch.Tensor, down: str = "max") -> torch.Tensor:
    """Bring ``x`` (B, C, h, w) to ``ref``'s spatial size (H, W): ``down`` pooling when larger, bilinear when smaller.

    Returns a (B, C, H, W) tensor; ``x`` itself when the sizes already match. Inside ``shared_resizes()`` a second
    request for the same tensor, operator and size returns the first result.
    """
    size, target = spatial_size(x), spatial_size(ref)
    if size == target:
        return x
    shared = _SHARED.get()
    if shared is None:
        return _resize(x, size, target, down)
    pooled = size[0] >= target[0] and size[1] >= target[1]
    key = (id(x), down if pooled else "bilinear", target)
    hit = shared.get(key)
    if hit is not None and hit[0] is x:
        return hit[1]
    out = _resize(x, size, target, down)
    shared[key] = (x, out)
    return out
