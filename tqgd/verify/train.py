"""Fit the lesion verifier on labelled candidates and export it as ONNX with its record (``tqgd_verifier``).

Augmentation: flips along each axis and in-plane quarter turns (a deposit has no preferred orientation). Positives
are weighted by the class ratio (at most ``MAX_POS_WEIGHT``), since most components near the heart are not calcium.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tqgd.data.lesion_patches import PATCH_MM, PATCH_PIXELS, PATCH_SLICES, SCALARS

MAX_POS_WEIGHT = 5.0


@dataclass(frozen=True)
class VerifierRecipe:
    """Training settings (AdamW with a one-cycle learning rate)."""

    epochs: int = 15
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-3
    seed: int = 0
    threshold: float = 0.05


def _augment(batch, generator):
    """Random flips (z, y, x) and in-plane quarter turns of a (B, C, Z, H, W) tensor, one draw per batch."""
    import torch

    flips = [dim for dim, flip in zip((-3, -2, -1), torch.rand(3, generator=generator) < 0.5, strict=True) if flip]
    if flips:
        batch = batch.flip(flips)
    return torch.rot90(batch, int(torch.randint(4, (1,), generator=generator)), (-2, -1))


def train_verifier(patches: np.ndarray, scalars: np.ndarray, labels: np.ndarray, recipe: VerifierRecipe,
                   progress=None, weights: np.ndarray | None = None):
    """A trained ``LesionVerifierNet`` (eval mode) and the mean loss per epoch. ``weights`` (N,): each candidate's
    weight in the loss (None: all 1), e.g. to make rare look-alikes count more."""
    import torch

    from tqgd.nn.verifier import LesionVerifierNet

    if len(labels) == 0 or labels.min() == labels.max():
        raise ValueError("the verifier needs both calcium and non-calcium candidates to learn from")
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    x, s = torch.from_numpy(patches), torch.from_numpy(scalars.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.float32))
    w = torch.ones_like(y) if weights is None else torch.from_numpy(np.asarray(weights, dtype=np.float32))
    if w.shape != y.shape or bool((w < 0).any()):
        raise ValueError(f"weights must be one non-negative value per candidate, got shape {tuple(w.shape)}")
    net = LesionVerifierNet(n_scalars=s.shape[1])
    optimiser = torch.optim.AdamW(net.parameters(), recipe.lr, weight_decay=recipe.weight_decay)
    steps = recipe.epochs * ((len(y) + recipe.batch - 1) // recipe.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, recipe.lr, total_steps=steps)
    positive = float(y.mean())
    pos_weight = torch.tensor(min((1 - positive) / positive, MAX_POS_WEIGHT))
    losses = []
    for epoch in range(recipe.epochs):
        net.train()
        order, total = torch.randperm(len(y), generator=generator), 0.0
        for start in range(0, len(y), recipe.batch):
            index = order[start:start + recipe.batch]
            logits = net(_augment(x[index].float(), generator), s[index])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[index], w[index],
                                                                        pos_weight=pos_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(index)
        losses.append(total / len(y))
        if progress is not None:
            progress(epoch + 1, recipe.epochs, losses[-1])
    return net.eval(), losses


def export_verifier(net, path: str | Path, recipe: VerifierRecipe, training_data: str, counts: dict) -> Path:
    """Write ``net`` as ONNX (inputs ``patch`` and ``scalars``, output ``logit``, dynamic batch) with its record.
    Needs the ``onnx`` package (``pip install tqgd[export]``)."""
    import onnx
    import torch

    from tqgd.io import atomic_path

    path = Path(path)
    dummy = (torch.zeros(1, 2, PATCH_SLICES, PATCH_PIXELS, PATCH_PIXELS), torch.zeros(1, len(SCALARS)))
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
        torch.onnx.export(net.eval(), dummy, str(tmp), input_names=["patch", "scalars"], output_names=["logit"],
                          dynamic_axes={"patch": {0: "batch"}, "scalars": {0: "batch"}, "logit": {0: "batch"}},
                          opset_version=17, dynamo=False)
        model = onnx.load(str(tmp))
        record = {"patch": [PATCH_SLICES, PATCH_PIXELS, PATCH_PIXELS, PATCH_MM], "scalars": list(SCALARS),
                  "threshold": recipe.threshold, "training_data": training_data, "counts": counts,
                  "recipe": asdict(recipe), "date": time.strftime("%Y-%m-%d")}
        entry = model.metadata_props.add()
        entry.key, entry.value = "tqgd_verifier", json.dumps(record)
        onnx.save(model, str(tmp))
    return path
