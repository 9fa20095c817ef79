"""The 2D U-Net baseline: segmentation-models-pytorch's U-Net with an EfficientNet-B0 encoder, its checkpoint, predict.

The cascade paper (``002``) found a U-Net whose encoder is EfficientNet-B0 its best calcium segmenter; smp provides that
architecture, so tqgd builds it rather than writing one. Encoders start from scratch (``encoder_weights=None``): no
pretrained weights can be fetched, and the Hugging Face hub is switched off before smp is imported, so nothing here
reaches the network. One output channel (calcium logit).

A checkpoint (``best.pt`` / ``last.pt``) is a plain dict loadable with ``torch.load(weights_only=True)``: ``kind``,
``state_dict``, ``config`` (the ``UNetConfig``), ``in_channels``, ``window`` (from the dataset's convert.json),
``epoch``, ``history`` and the tqgd version. ``predict_unet`` writes one float32 probability map per image,
``OUT/<stem>.mha`` (2D MetaImage, same size as the image), which ``tqgd baseline eval`` reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.errors import CheckpointError, ConfigError

CHECKPOINT_KIND = "tqgd-unet"
DEFAULT_ENCODER = "efficientnet-b0"
#: Batch-norm running-statistics momentum (PyTorch's default). smp's EfficientNet keeps TensorFlow's 0.99 decay
#: (0.01 here), made for long ImageNet runs: after the few hundred steps of a CPU schedule its running statistics
#: still hold mostly their initial values and eval-mode predictions come out empty.
BATCH_NORM_MOMENTUM = 0.1
#: Suffix of the probability maps ``predict_unet`` writes.
PREDICTION_SUFFIX = ".mha"


@dataclass(frozen=True)
class UNetConfig:
    """Training settings, CPU-sized by default; ``imgsz``: side of the square training crops (a multiple of 32)."""

    encoder: str = DEFAULT_ENCODER
    epochs: int = 30
    imgsz: int = 256
    batch: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    fold: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1:
            raise ConfigError(f"epochs and batch must be >= 1, got {self.epochs} and {self.batch}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ConfigError(f"imgsz must be a multiple of 32 (five 2x down-samplings), got {self.imgsz}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ConfigError(f"lr must be > 0 and weight decay >= 0, got {self.lr} and {self.weight_decay}")


def _offline_hub() -> None:
    """Keep huggingface_hub (imported by smp) from any network access."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def build_unet(encoder: str = DEFAULT_ENCODER, in_channels: int = 1):
    """An untrained smp U-Net (``encoder_weights=None``), one output channel, batch-norm momentum 0.1 throughout."""
    _offline_hub()
    import segmentation_models_pytorch as smp

    import torch

    try:
        model = smp.Unet(encoder_name=encoder, encoder_weights=None, in_channels=in_channels, classes=1)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"unknown encoder {encoder!r} for segmentation-models-pytorch ({exc}); use e.g. "
                          f"{DEFAULT_ENCODER}, resnet18 or mobilenet_v2") from exc
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = BATCH_NORM_MOMENTUM
    return model


def save_checkpoint(path: Path, model: Any, config: UNetConfig, in_channels: int, window: Any, epoch: int,
                    history: list[dict[str, float]]) -> Path:
    """Write a checkpoint atomically (see the module docstring for its keys)."""
    from dataclasses import asdict

    import torch

    import tqgd
    from tqgd.io import atomic_path

    payload = {"kind": CHECKPOINT_KIND, "state_dict": model.state_dict(), "config": asdict(config),
               "in_channels": in_channels, "window": window, "epoch": epoch, "history": history,
               "tqgd_version": tqgd.__version__}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(model in eval mode, checkpoint dict) from a U-Net checkpoint, with restricted (weights-only) loading."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError("U-Net weights not found; pass best.pt or last.pt of 'tqgd baseline unet train'", path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise CheckpointError(f"cannot load this file ({type(exc).__name__}: {exc})", path) from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError("not a tqgd U-Net checkpoint (detector weights go to 'tqgd val')", path)
    model = build_unet(checkpoint["config"]["encoder"], int(checkpoint["in_channels"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), checkpoint


def image_logits(model: Any, image: np.ndarray, device: str = "cpu") -> Any:
    """Calcium logits, a (1, 1, H, W) CPU tensor, for one image (C, H, W) in 0..1 (padded to a multiple of 32)."""
    import torch

    from tqgd.baselines.unet_data import pad_to_multiple

    _, height, width = image.shape
    with torch.inference_mode():
        logits = model(torch.from_numpy(pad_to_multiple(image))[None].to(device))
    return logits[:, :, :height, :width].cpu()


def probability_map(model: Any, image: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Calcium probability (H, W) float32 for one image (C, H, W) in 0..1."""
    import torch

    return torch.sigmoid(image_logits(model, image, device))[0, 0].numpy().astype(np.float32)


def write_probability_map(path: Path, probability: np.ndarray) -> Path:
    """Save a (H, W) float32 probability map as 2D MetaImage atomically."""
    import SimpleITK as sitk

    from tqgd.io import atomic_path

    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.GetImageFromArray(probability.astype(np.float32)), str(tmp))
    return path


def predict_unet(weights: str | Path, images: list[Path], out: str | Path, device: str = "cpu",
                 progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write ``out/<stem>.mha`` probability maps for ``images`` with the U-Net in ``weights``; returns the files."""
    import torch

    from tqgd.baselines.unet_data import read_image

    model, checkpoint = load_checkpoint(weights)
    model.to(device)
    torch.set_grad_enabled(False)
    out = Path(out)
    if any(Path(image).resolve().parent == out.resolve() for image in images):
        raise ConfigError(f"output folder {out} holds the input images; choose another folder")
    written = []
    try:
        for done, image in enumerate(images, start=1):
            probability = probability_map(model, read_image(Path(image), int(checkpoint["in_channels"])), device)
            written.append(write_probability_map(out / f"{Path(image).stem}{PREDICTION_SUFFIX}", probability))
            if progress:
                progress(done, len(images))
    finally:
        torch.set_grad_enabled(True)
    return written
