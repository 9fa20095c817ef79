"""Low-stage Gather-and-Distribute (Gold-YOLO, Wang et al. 2024; TQGDNet paper Sec. 2.2.4, Eq. 6-10).

Gather (``GDGather``, one per model):
    F_Q = concat(AvgPool/Bilinear(Q_2, Q_3, Q_4, Q_5) -> size of Q_target)                           (6)
    I_R = RepConvBlocks(Conv1x1(F_Q))                                                               (7)
Distribute (``GDInject``, one per level that receives the global information):
    I_global_1 = resize(act(Conv(I_R)))        act = sigmoid (paper) or hard sigmoid (Gold-YOLO code)  (8)
    I_global_2 = resize(Conv(I_R))                                                                  (9)
    out_i = RepConvBlock(Conv(Q_i) * I_global_1 + I_global_2)                                      (10)

Choices, following Gold-YOLO's low stage where the paper is ambiguous:
- Target level: Eq. 6 pools *and* interpolates, which only happens for an intermediate level, so the gather target
  is an argument (``target``, an index into the inputs); the configs use Q4 (stride 16) like Gold-YOLO's low stage,
  which keeps the RepConv blocks cheap. (The paper's prose says "the smallest feature size", i.e. Q5.)
- A 1x1 Conv to ``c2`` channels comes before the RepConv blocks (Gold-YOLO's Low_IFM does the same); a 3x3 RepConv
  straight on the concatenation of all four levels would dominate the model's cost.
- The two global convolutions of Eq. 8-9 belong to each injection: one 1x1 conv per level is the same operator as
  Gold-YOLO's single conv whose output is split per level, and it keeps every width a plain YAML argument that
  ultralytics' width scaling handles (no channel split lists to keep consistent across scales).
- Conv(Q_i) is Eq. 10's local term; Queen-fusion already mixed the neighbouring levels into Q_i, so no extra local
  fusion module is added.
- Which levels receive I_R is a config choice, one GDInject row per level: Gold-YOLO's low stage injects P3 and P4
  (``tqgdnet-faithful.yaml``, ``ablation/*-gd34.yaml``); ``tqgdnet.yaml`` also injects P5.
"""

from __future__ import annotations

import torch
from torch import nn
from ultralytics.nn.modules import Conv

from tqgd.nn.registry import RowSpec, channels_of, int_arg, register_module
from tqgd.nn.rep_block import RepConvBlock
from tqgd.nn.resize import resize_like, spatial_size

#: Gate activations of Eq. 8 by YAML name: the paper writes sigmoid; Gold-YOLO's code uses a hard sigmoid.
GATE_ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid}


def _gather_rule(spec: RowSpec) -> tuple[list, int]:
    """YAML ``[c2, target]`` over two or more levels ordered fine to coarse; target defaults to the second coarsest."""
    c_in = channels_of(spec, at_least=2)
    c2 = spec.width(int_arg(spec, 0, "c2"))
    target = int_arg(spec, 1, "target", len(c_in) - 2, minimum=0)
    if target >= len(c_in):
        raise spec.fail(f"argument 1 (target) indexes the inputs, so it must be < {len(c_in)}, got {target}")
    return [list(c_in), c2, spec.repeats, target], c2


@register_module(_gather_rule)
class GDGather(nn.Module):
    """Eq. 6-7: levels [(B, c_i, H_i, W_i)] -> I_R (B, c2, H_t, W_t) at the size of input ``target``."""

    def __init__(self, c_in: list[int], c2: int, n: int = 1, target: int = 2):
        """``c_in``: channels per level; ``n`` RepConvs refine the reduced concatenation."""
        super().__init__()
        self.target = target
        self.reduce = Conv(sum(c_in), c2, 1)
        self.blocks = RepConvBlock(c2, c2, n)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Average-pool finer levels, bilinearly upsample coarser ones, concatenate, reduce, RepConv."""
        ref = xs[self.target]
        return self.blocks(self.reduce(torch.cat([resize_like(x, ref, down="avg") for x in xs], 1)))


def _inject_rule(spec: RowSpec) -> tuple[list, int]:
    """YAML ``[c2, gate]`` with inputs ``[Q_i, I_R]``; gate is 'sigmoid' (default) or 'hardsigmoid'."""
    c_local, c_global = channels_of(spec, count=2)
    c2 = spec.width(int_arg(spec, 0, "c2"))
    gate = spec.args[1] if len(spec.args) > 1 else "sigmoid"
    if gate not in GATE_ACTIVATIONS:
        raise spec.fail(f"argument 1 (gate) must be one of {sorted(GATE_ACTIVATIONS)}, got {gate!r}")
    return [c_local, c_global, c2, spec.repeats, gate], c2


@register_module(_inject_rule)
class GDInject(nn.Module):
    """Eq. 8-10: [Q_i (B, c_local, H, W), I_R (B, c_global, H_t, W_t)] -> (B, c2, H, W)."""

    def __init__(self, c_local: int, c_global: int, c2: int, n: int = 1, gate: str = "sigmoid"):
        """Three 1x1 convs (local, gate, global; BN, no activation) and an ``n``-layer RepConvBlock after the sum."""
        super().__init__()
        if gate not in GATE_ACTIVATIONS:
            raise ValueError(f"gate must be one of {sorted(GATE_ACTIVATIONS)}, got {gate!r}")
        self.local = Conv(c_local, c2, 1, act=False)
        self.gate = Conv(c_global, c2, 1, act=False)
        self.glob = Conv(c_global, c2, 1, act=False)
        self.gate_act = GATE_ACTIVATIONS[gate]()
        self.blocks = RepConvBlock(c2, c2, n)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Gate the local features with the resized global gate, add the resized global features, RepConv.

        When Q_i is coarser than I_R and ``glob`` uses no batch statistics (eval mode or fused), Eq. 9 runs its 1x1
        conv after the average pooling: the conv + BN is affine per pixel and the pool averages pixels, so the two
        commute (equal up to float rounding) and the conv sees 1/4 of the pixels per halving.
        """
        q, g = xs
        gate = resize_like(self.gate_act(self.gate(g)), q, down="avg")
        if spatial_size(g)[0] > spatial_size(q)[0] and not (self.training and hasattr(self.glob, "bn")):
            glob = self.glob(resize_like(g, q, down="avg"))
        else:
            glob = resize_like(self.glob(g), q, down="avg")
        return self.blocks(self.local(q) * gate + glob)
