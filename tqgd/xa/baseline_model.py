"""Paper 004's baseline network: a double-head ResNet-18 classifier with a U-Net-style ROI decoder ("ResUNet-18").

Layout (shapes for an input of side S, a multiple of 32):

1. Two heads, one per frame of the synchronised pair: the non-contrast frame (channel 0 of tqgd's pair image) and
   the contrast frame (channel 1). Each head is ResNet-18's stem (7x7 conv stride 2, batch norm, ReLU: (B, 64, S/2))
   then max-pool and its first residual stage ((B, 64, S/4)); the two heads do not share weights.
2. Their outputs are concatenated and reduced back to 64 channels by a 1x1 conv (tqgd's choice: the paper
   concatenates and feeds the tail without saying how the channel count is kept), then ResNet-18's remaining stages
   ((B, 128, S/8), (B, 256, S/16), (B, 512, S/32)), global average pooling and one linear layer: the classification
   logit (B,), "calcium in this patch".
3. The decoder mirrors the encoder: four steps of x2 upsampling, concatenation with the encoder feature of that scale
   (stage 3, stage 2, the fused stage 1, the two stems) and two 3x3 conv + batch norm + ReLU, then a last x2
   upsampling and a 1x1 conv: the ROI logit (B, 1, S, S).

The layers come from ``torchvision.models.resnet18(weights=None)``: randomly initialised, because tqgd never downloads
(the paper does not say whether it started from ImageNet weights). The difference channel of the pair image is not
used: the paper feeds the two frames only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: Decoder channels after each upsampling step, from the deepest (S/16) to the stem scale (S/2), then the last step.
DECODER_CHANNELS = (256, 128, 64, 32, 16)
#: Pair-image channels fed to the two heads: non-contrast, contrast.
HEAD_CHANNELS = (0, 1)


def _resnet18() -> Any:
    from torchvision.models import resnet18

    return resnet18(weights=None)


class FrameHead(nn.Module):
    """ResNet-18 stem and first stage for one single-channel frame: (B, 1, S, S) -> (B, 64, S/2), (B, 64, S/4)."""

    def __init__(self) -> None:
        super().__init__()
        net = _resnet18()
        self.stem = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False), net.bn1, net.relu)
        self.pool, self.stage1 = net.maxpool, net.layer1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stem output (B, 64, S/2) and stage-1 output (B, 64, S/4)."""
        stem = self.stem(x)
        return stem, self.stage1(self.pool(stem))


class UpBlock(nn.Module):
    """x2 upsampling, concatenation with a skip feature, two 3x3 conv + BN + ReLU: (B, Cin, s) -> (B, Cout, 2s)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        """Upsample ``x`` to twice its size, join ``skip`` (same size as the result) and convolve."""
        x = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv(x if skip is None else torch.cat([x, skip], dim=1))


class ResUNet18(nn.Module):
    """Double-head ResNet-18 + U-Net decoder: pair image (B, 3, S, S) -> (class logit (B,), ROI logit (B, 1, S, S))."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList([FrameHead(), FrameHead()])
        self.fuse = nn.Sequential(nn.Conv2d(128, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        tail = _resnet18()
        self.stage2, self.stage3, self.stage4 = tail.layer2, tail.layer3, tail.layer4
        self.classifier = nn.Linear(512, 1)
        d4, d3, d2, d1, d0 = DECODER_CHANNELS
        self.up4, self.up3 = UpBlock(512, 256, d4), UpBlock(d4, 128, d3)
        self.up2, self.up1, self.up0 = UpBlock(d3, 64, d2), UpBlock(d2, 128, d1), UpBlock(d1, 0, d0)
        self.roi = nn.Conv2d(d0, 1, 1)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the classifier path (heads, fusion, stages 2-4, linear layer)."""
        parts = (self.heads, self.fuse, self.stage2, self.stage3, self.stage4, self.classifier)
        return [p for part in parts for p in part.parameters()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the ROI decoder."""
        parts = (self.up4, self.up3, self.up2, self.up1, self.up0, self.roi)
        return [p for part in parts for p in part.parameters()]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, 3, S, S) in 0..1 -> classification logit (B,) and ROI logit (B, 1, S, S)."""
        if x.ndim != 4 or x.shape[1] < max(HEAD_CHANNELS) + 1 or x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"expected pair images (B, 3, S, S) with S a multiple of 32, got {tuple(x.shape)}")
        (stem_a, s1_a), (stem_b, s1_b) = (head(x[:, c:c + 1]) for head, c in zip(self.heads, HEAD_CHANNELS,
                                                                                 strict=True))
        s1 = self.fuse(torch.cat([s1_a, s1_b], dim=1))
        s2 = self.stage2(s1)
        s3 = self.stage3(s2)
        s4 = self.stage4(s3)
        logit = self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(s4, 1), 1))[:, 0]
        y = self.up4(s4, s3)
        y = self.up3(y, s2)
        y = self.up2(y, s1)
        y = self.up1(y, torch.cat([stem_a, stem_b], dim=1))
        return logit, self.roi(self.up0(y))
