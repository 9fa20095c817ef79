"""The lesion verifier's network: a small 3D CNN that says whether a >= 130 HU component is coronary calcium.

Input: patches (B, 2, 15, 48, 48) and scalars (B, 4) from ``tqgd.data.lesion_patches``; output: logits (B,). Three
in-plane downsamplings, one along z, global average pooling, and the scalars joined before a two-layer head.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3x3 convolution, batch norm, SiLU."""
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.SiLU())


class LesionVerifierNet(nn.Module):
    """(B, 2, Z, H, W) patch + (B, n_scalars) -> (B,) logit of 'coronary calcium'."""

    def __init__(self, n_scalars: int = 4, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(_block(2, width), nn.MaxPool3d((1, 2, 2)), _block(width, 2 * width),
                                      nn.MaxPool3d((1, 2, 2)), _block(2 * width, 3 * width), nn.MaxPool3d((3, 2, 2)),
                                      _block(3 * width, 4 * width), nn.AdaptiveAvgPool3d(1))
        self.head = nn.Sequential(nn.Linear(4 * width + n_scalars, 32), nn.SiLU(), nn.Linear(32, 1))

    def forward(self, patch: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.features(patch).flatten(1), scalars], dim=1)).squeeze(1)
