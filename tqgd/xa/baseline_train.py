"""Train and run the ResUNet-18 baseline (``tqgd.xa.baseline_model``) on paired-frame patches.

Two schedules:

- ``joint`` (tqgd's default, for short CPU runs): one AdamW optimiser on the whole network, loss = BCE of the
  classification logit + BCE + soft Dice of the ROI logits against the dilated target;
- ``sequential`` (the paper's order): ``epochs`` of classification alone (encoder and linear layer, BCE), then
  ``epochs`` of the decoder alone with the classifier frozen (weights fixed, batch norm in inference mode), BCE + Dice.
  The paper used Adam at 1e-4 / 1e-3, batch 32, 100 epochs each, and a boundary loss for the decoder; tqgd uses
  AdamW at one learning rate and Dice instead of the boundary loss.

Deterministic for a seed on the CPU (shuffling by a seeded generator, no data-dependent threads); GPU kernels may vary.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from tqgd.errors import CheckpointError, ConfigError
from tqgd.io import atomic_path
from tqgd.xa.baseline_model import ResUNet18

SCHEDULES = ("joint", "sequential")
#: Called as progress(stage, epoch, step, steps_per_epoch, running mean loss) after each optimiser step.
ProgressFn = Callable[[str, int, int, int, float], None]


@dataclass(frozen=True)
class TrainOptions:
    """Epochs (per stage for ``sequential``), batch size, AdamW learning rate and weight decay, seed, device."""

    epochs: int = 100
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    schedule: str = "joint"
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.epochs < 1 or self.batch < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need epochs >= 1, batch >= 1, lr > 0 and weight_decay >= 0, got {self.epochs}, "
                              f"{self.batch}, {self.lr}, {self.weight_decay}")


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice of sigmoid(logits) and target, both (B, 1, S, S), pooled over the batch (+1 smoothing)."""
    prob = torch.sigmoid(logits)
    return 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)


def to_tensor(images: np.ndarray, device: str) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32 in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def _stage_loss(stage: str, model: ResUNet18, x: torch.Tensor, cls: torch.Tensor, roi: torch.Tensor) -> torch.Tensor:
    logit, roi_logit = model(x)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    cls_loss = bce(logit, cls)
    roi_loss = bce(roi_logit, roi) + soft_dice_loss(roi_logit, roi)
    return {"joint": cls_loss + roi_loss, "classifier": cls_loss, "decoder": roi_loss}[stage]


def _freeze_encoder(model: ResUNet18) -> None:
    for p in model.encoder_parameters():
        p.requires_grad_(False)
    for part in (model.heads, model.fuse, model.stage2, model.stage3, model.stage4):
        part.eval()


def train_baseline(images: np.ndarray, labels: np.ndarray, targets: np.ndarray, options: TrainOptions = TrainOptions(),
                   progress: ProgressFn | None = None) -> tuple[ResUNet18, list[dict]]:
    """Train on images (N, S, S, 3) uint8, labels (N,) 0/1 and ROI targets (N, S, S); return the model and history."""
    if not (len(images) == len(labels) == len(targets)) or len(images) == 0:
        raise ConfigError(f"need as many images, labels and ROI targets (at least one), got {len(images)}, "
                          f"{len(labels)}, {len(targets)}")
    torch.manual_seed(options.seed)
    model = ResUNet18().to(options.device)
    rng = np.random.default_rng(options.seed)
    stages = [("joint", model.parameters())] if options.schedule == "joint" else [
        ("classifier", model.encoder_parameters()), ("decoder", model.decoder_parameters())]
    history = []
    steps = int(np.ceil(len(images) / options.batch))
    for stage, params in stages:
        optimiser = torch.optim.AdamW(list(params), lr=options.lr, weight_decay=options.weight_decay)
        for epoch in range(options.epochs):
            model.train()
            if stage == "decoder":
                _freeze_encoder(model)
            order, losses = rng.permutation(len(images)), []
            for step in range(steps):
                pick = np.sort(order[step * options.batch:(step + 1) * options.batch])
                if len(pick) < 2 and len(images) > 1:
                    continue  # batch norm cannot train on one sample
                x = to_tensor(images[pick], options.device)
                cls = torch.from_numpy(labels[pick]).to(options.device)
                roi = torch.from_numpy(targets[pick].astype(np.float32)).to(options.device)[:, None]
                optimiser.zero_grad()
                loss = _stage_loss(stage, model, x, cls, roi)
                loss.backward()
                optimiser.step()
                losses.append(float(loss.item()))
                if progress is not None:
                    progress(stage, epoch, step + 1, steps, float(np.mean(losses)))
            history.append({"stage": stage, "epoch": epoch, "loss": float(np.mean(losses)) if losses else None})
    model.eval()
    return model, history


@torch.no_grad()
def predict(model: ResUNet18, images: np.ndarray, batch: int = 16, device: str = "cpu"
            ) -> tuple[np.ndarray, np.ndarray]:
    """Classifier probability (N,) and ROI probability (N, S, S) float32 for images (N, S, S, 3) uint8."""
    model.eval()
    cls, roi = [], []
    for start in range(0, len(images), batch):
        logit, roi_logit = model(to_tensor(images[start:start + batch], device))
        cls.append(torch.sigmoid(logit).cpu().numpy())
        roi.append(torch.sigmoid(roi_logit)[:, 0].cpu().numpy())
    return np.concatenate(cls).astype(np.float32), np.concatenate(roi).astype(np.float32)


def save_baseline(model: ResUNet18, path: str | Path, record: dict) -> Path:
    """Write the weights and a JSON-ready ``record`` (options, history) as one ``.pt`` loadable with weights_only."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "record": record, "format": "tqgd-xa-resunet18"}, tmp)
    return path


def load_baseline(path: str | Path, device: str = "cpu") -> tuple[ResUNet18, dict]:
    """The model and record written by ``save_baseline``."""
    path = Path(path)
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"cannot read the baseline weights ({exc})", path) from exc
    if not isinstance(saved, dict) or saved.get("format") != "tqgd-xa-resunet18":
        raise CheckpointError("not a ResUNet-18 baseline file written by 'tqgd xa baseline'", path)
    model = ResUNet18().to(device)
    model.load_state_dict(saved["state_dict"])
    return model.eval(), saved["record"]


def options_record(options: TrainOptions) -> dict:
    """The training options as a plain dict (for JSON records)."""
    return asdict(options)
