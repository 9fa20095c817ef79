"""Gradients reach every trainable parameter of every shipped config (n scale, fp32, training mode)."""

from __future__ import annotations

import pytest
import torch

from tqgd.nn import TQGDDetectionModel
from tqgd.nn.model_cfg import shipped_configs


@pytest.mark.parametrize("stem", sorted(shipped_configs()))
def test_every_parameter_gets_a_gradient(stem: str) -> None:
    torch.manual_seed(0)
    model = TQGDDetectionModel(f"{stem}-n", verbose=False).train()
    out = model(torch.rand(2, 3, 64, 64))
    weights = {k: torch.rand_like(v) for k, v in out.items() if isinstance(v, torch.Tensor)}  # boxes and scores
    (sum((out[k] * w).sum() for k, w in weights.items()) + sum(f.sum() for f in out["feats"])).backward()
    dead = [name for name, p in model.named_parameters()
            if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert dead == []
