"""Converted slices and their reference masks as U-Net training samples.

Images are the dataset's 8-bit PNGs (grey, or RGB for 3-window datasets) scaled to 0..1; targets are the reference
masks ``masks/<stem>.png`` (``tqgd convert orcascore --masks``) read as calcium / background. No resizing, so the
smallest lesions keep every pixel: training samples are ``imgsz`` x ``imgsz`` crops (padded with 0 where the image is
smaller), centred on calcium with probability ``calcium_crop_p`` (albumentations' ``CropNonEmptyMaskIfExists``) and
flipped left-right half of the time, the detectors' own flip. Whole images are padded to a multiple of 32 for
validation and prediction (``pad_to_multiple``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqgd.baselines.dataset import DatasetSplit
from tqgd.errors import DatasetError

#: U-Net input sides must divide by 2^5 (five down-sampling stages).
SIZE_MULTIPLE = 32
#: Share of training crops centred on calcium (the rest are random crops).
CALCIUM_CROP_P = 0.7


def read_image(path: Path, channels: int) -> np.ndarray:
    """An 8-bit image as float32 (C, H, W) in 0..1; grey images for 1 channel, RGB for 3."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError("cannot read this image (missing or not an image)", path)
    if channels == 3:
        image = image[..., ::-1]
    image = image[..., None] if image.ndim == 2 else image
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def read_target(path: Path) -> np.ndarray:
    """A reference mask as float32 (1, H, W): 1 where calcium (any non-zero label), else 0."""
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DatasetError("cannot read this reference mask", path)
    return (mask > 0).astype(np.float32)[None]


def pad_to_multiple(array: np.ndarray, multiple: int = SIZE_MULTIPLE) -> np.ndarray:
    """Zero-pad (C, H, W) at the bottom and right so H and W divide by ``multiple``."""
    _, height, width = array.shape
    pad_h, pad_w = -height % multiple, -width % multiple
    return np.pad(array, ((0, 0), (0, pad_h), (0, pad_w))) if pad_h or pad_w else array


def image_and_mask_paths(split: DatasetSplit) -> list[tuple[Path, Path]]:
    """(image, reference mask) for every image of the split; DatasetError naming the fix when masks are missing."""
    pairs, missing = [], []
    for image in split.images:
        mask = split.reference_mask_path(image)
        if mask is None:
            missing.append(image.stem)
        else:
            pairs.append((image.path, mask))
    if missing:
        raise DatasetError(f"{len(missing)} image(s) have no reference mask masks/<stem>.png (e.g. {missing[:3]}); "
                           "convert the dataset with 'tqgd convert orcascore ... --masks'", split.root)
    return pairs


class SliceMaskDataset:
    """Training samples (image crop (C, S, S), mask crop (1, S, S)) as torch tensors; deterministic given ``seed``."""

    def __init__(self, pairs: list[tuple[Path, Path]], channels: int, imgsz: int, seed: int,
                 calcium_crop_p: float = CALCIUM_CROP_P):
        import albumentations as A

        self.pairs, self.channels = pairs, channels
        self.transform = A.Compose([
            A.PadIfNeeded(min_height=imgsz, min_width=imgsz, position="top_left", border_mode=0, fill=0, fill_mask=0),
            A.OneOf([A.CropNonEmptyMaskIfExists(imgsz, imgsz, p=calcium_crop_p),  # OneOf picks by these weights
                     A.RandomCrop(imgsz, imgsz, p=1.0 - calcium_crop_p)], p=1.0),
            A.HorizontalFlip(p=0.5),
        ], seed=seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        import torch

        image_path, mask_path = self.pairs[index]
        image, mask = read_image(image_path, self.channels), read_target(mask_path)
        out = self.transform(image=image.transpose(1, 2, 0), mask=mask[0])
        return (torch.from_numpy(np.ascontiguousarray(out["image"].transpose(2, 0, 1))),
                torch.from_numpy(np.ascontiguousarray(out["mask"][None])))
