"""Queen-fusion node (GiraffeDet, Jiang et al. 2022; TQGDNet paper Sec. 2.2.3, Eq. 5).

A node at pyramid level l in neck layer lc concatenates its "queen" neighbours, each brought to level l's size:

    n5^lc = Fuse(concat(n5^(lc-1), up(n6^(lc-1)), down(n4^(lc-1)), down(n4^lc)))          (5)

Up-sampling is bilinear and down-sampling max-pooling, as the paper states; the fusion block is a C3 (the CSP block
the YOLOv5 neck uses) to the configured width. The first input sets the node's level; the others may be finer or
coarser by any power of two, so the same layer serves top-down and bottom-up Queen-fusion paths.

YAML: ``[[same, neighbour, ...], n, QueenFusion, [c2, shortcut]]`` - c2 is width-scaled and ``n`` (depth-scaled)
is the number of C3 bottlenecks, as for ultralytics' own C3 rows.
"""

from __future__ import annotations

import torch
from torch import nn
from ultralytics.nn.modules import C3

from tqgd.nn.registry import RowSpec, channels_of, int_arg, register_module
from tqgd.nn.resize import resize_like


def _queen_fusion_rule(spec: RowSpec) -> tuple[list, int]:
    """YAML ``[c2, shortcut=False]`` with two or more inputs."""
    c_in = channels_of(spec, at_least=2)
    c2 = spec.width(int_arg(spec, 0, "c2"))
    shortcut = spec.args[1] if len(spec.args) > 1 else False
    if not isinstance(shortcut, bool):
        raise spec.fail(f"argument 1 (shortcut) must be true or false, got {shortcut!r}")
    return [list(c_in), c2, spec.repeats, shortcut], c2


@register_module(_queen_fusion_rule)
class QueenFusion(nn.Module):
    """Eq. 5: inputs [(B, c_i, H_i, W_i)] with the node's own level first -> (B, c2, H_0, W_0)."""

    def __init__(self, c_in: list[int], c2: int, n: int = 1, shortcut: bool = False):
        """``c_in``: channels of each input (node's own level first); ``n`` C3 bottlenecks fuse the concatenation."""
        super().__init__()
        self.fuse = C3(sum(c_in), c2, n, shortcut)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Resize every neighbour to the first input's size (bilinear up / max-pool down), concatenate, fuse."""
        ref = xs[0]
        return self.fuse(torch.cat([ref, *(resize_like(x, ref, down="max") for x in xs[1:])], 1))
