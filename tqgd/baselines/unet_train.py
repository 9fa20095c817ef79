"""Train the U-Net baseline on a converted dataset's fold: Dice + BCE loss, Adam, fixed seed, best and last checkpoints.

Training images are fold ``k``'s train split of ``DATA_DIR/fold<k>.yaml`` (the same patient-grouped split the
detectors use), targets their reference masks. Each epoch runs the shuffled training crops once, then scores the whole
validation images: mean loss, and pixel Dice at probability 0.5 pooled over the split. ``best.pt`` keeps the epoch with
the highest validation Dice (the first on ties), ``last.pt`` the latest; ``history.json`` lists every epoch. Runs go to
``PROJECT/NAME`` (``NAME2``, ``NAME3`` ... when it exists, as ultralytics does).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.baselines.unet import UNetConfig, build_unet, image_logits, save_checkpoint
from tqgd.io import write_json

DEFAULT_PROJECT = Path("runs") / "unet"
#: Called as progress(epoch, step, steps_per_epoch, running mean training loss) after each step.
ProgressFn = Callable[[int, int, int, float], None]


@dataclass
class UNetRun:
    """A finished run: its folder, checkpoints and per-epoch history (train_loss, val_loss, val_dice)."""

    save_dir: Path
    best: Path
    last: Path
    history: list[dict[str, float]]


def next_run_dir(project: Path, name: str) -> Path:
    """``project/name`` or the first free ``project/name<N>`` (N = 2, 3, ...)."""
    candidate, number = project / name, 2
    while candidate.exists():
        candidate, number = project / f"{name}{number}", number + 1
    return candidate


def dice_bce_loss() -> Callable[[Any, Any], Any]:
    """Soft Dice (smp, binary, from logits) + binary cross-entropy, equally weighted."""
    import segmentation_models_pytorch as smp
    import torch

    dice = smp.losses.DiceLoss(mode="binary", from_logits=True)
    bce = torch.nn.BCEWithLogitsLoss()
    return lambda logits, target: dice(logits, target) + bce(logits, target)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU training is then repeatable; GPU kernels may still vary)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_step(model: Any, optimizer: Any, loss_fn: Any, images: Any, targets: Any) -> float:
    """One optimiser step on a batch (B, C, S, S) / (B, 1, S, S); returns the loss before the step."""
    optimizer.zero_grad()
    loss = loss_fn(model(images), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def _validate(model: Any, pairs: list[tuple[Path, Path]], channels: int, loss_fn: Any, device: str) -> dict:
    import torch

    from tqgd.baselines.unet_data import read_image, read_target

    model.eval()
    losses, overlap, total = [], 0.0, 0.0
    with torch.inference_mode():
        for image_path, mask_path in pairs:
            image, target = read_image(image_path, channels), read_target(mask_path)
            logits = image_logits(model, image, device)
            losses.append(float(loss_fn(logits, torch.from_numpy(target)[None])))
            predicted = (logits[0, 0] >= 0).numpy()  # probability >= 0.5
            overlap += 2.0 * np.count_nonzero(predicted & (target[0] > 0))
            total += np.count_nonzero(predicted) + np.count_nonzero(target[0])
    model.train()
    return {"val_loss": float(np.mean(losses)) if losses else float("nan"),
            "val_dice": float(overlap / total) if total else 1.0}


def train_unet(data_dir: str | Path, config: UNetConfig = UNetConfig(), project: str | Path | None = None,
               name: str = "exp", progress: ProgressFn | None = None) -> UNetRun:
    """Train on fold ``config.fold`` of the converted dataset ``data_dir`` (see the module docstring).

    Raises:
        DatasetError: no fold YAML, or images without reference masks (convert with --masks). ConfigError: options.
    """
    import torch

    from tqgd.baselines.dataset import fold_yaml, load_split
    from tqgd.baselines.unet_data import SliceMaskDataset, image_and_mask_paths
    from tqgd.data.model_input import InputSpec

    data_yaml = fold_yaml(data_dir, config.fold)
    train_split, val_split = load_split(data_yaml, "train"), load_split(data_yaml, "val")
    train_pairs, val_pairs = image_and_mask_paths(train_split), image_and_mask_paths(val_split)
    window = train_split.convert.get("window")
    channels = InputSpec.from_record(train_split.convert).channels  # 3 for three windows or 2.5D (three slices)
    seed_everything(config.seed)
    model = build_unet(config.encoder, channels).to(config.device)
    loader = torch.utils.data.DataLoader(SliceMaskDataset(train_pairs, channels, config.imgsz, config.seed),
                                         batch_size=config.batch, shuffle=True, num_workers=0,
                                         generator=torch.Generator().manual_seed(config.seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = dice_bce_loss()
    save_dir = next_run_dir(Path(project or DEFAULT_PROJECT).expanduser().resolve(), name)
    weights = save_dir / "weights"
    history: list[dict[str, float]] = []
    best_dice = -1.0
    write_json(save_dir / "config.json", {**asdict(config), "data_dir": str(Path(data_dir).resolve()),
                                          "data": str(data_yaml), "train_images": len(train_pairs),
                                          "val_images": len(val_pairs), "in_channels": channels})
    model.train()
    for epoch in range(1, config.epochs + 1):
        running = []
        for step, (images, targets) in enumerate(loader, start=1):
            running.append(train_step(model, optimizer, loss_fn, images.to(config.device), targets.to(config.device)))
            if progress:
                progress(epoch, step, len(loader), float(np.mean(running)))
        record = {"epoch": epoch, "train_loss": float(np.mean(running)),
                  **_validate(model, val_pairs, channels, loss_fn, config.device)}
        history.append(record)
        save_checkpoint(weights / "last.pt", model, config, channels, window, epoch, history)
        if record["val_dice"] > best_dice:
            best_dice = record["val_dice"]
            save_checkpoint(weights / "best.pt", model, config, channels, window, epoch, history)
        write_json(save_dir / "history.json", history)
    return UNetRun(save_dir=save_dir, best=weights / "best.pt", last=weights / "last.pt", history=history)
