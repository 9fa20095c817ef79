"""RepConvBlock: a stack of RepVGG-style convolutions (3x3 + 1x1 + identity branches) for the GD module (Eq. 7).

Built from ultralytics' own ``RepConv`` (``bn=True`` adds the identity branch when input and output channels match),
so ultralytics' ``BaseModel.fuse()`` re-parameterises every branch into one 3x3 convolution without tqgd code.
"""

from __future__ import annotations

import torch
from torch import nn
from ultralytics.nn.modules import RepConv


class RepConvBlock(nn.Module):
    """``n`` RepConvs: (B, c1, H, W) -> (B, c2, H, W); the first maps c1 -> c2, the rest keep c2 with identity branches.

    Gold-YOLO's RepBlock has the same layout.
    """

    def __init__(self, c1: int, c2: int, n: int = 1):
        """Stack ``n >= 1`` RepConvs."""
        super().__init__()
        if n < 1:
            raise ValueError(f"RepConvBlock needs n >= 1 RepConv layers, got {n}")
        self.m = nn.Sequential(RepConv(c1, c2, bn=c1 == c2), *(RepConv(c2, c2, bn=True) for _ in range(n - 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the RepConvs in order."""
        return self.m(x)
