"""Regions of interest (ROIs) around calcium, paper 004: the training target and the post-processing of a prediction.

Target (the paper's ROI_GT, its Fig. 4 and Table 1): the calcium mask dilated ``iterations`` times, each time by a
disc of radius ``step_px`` (the paper grows the ROI "by five pixels following an elliptical shape" per iteration and
keeps four iterations, so a point becomes a disc of about 20 px radius).

Post-processing (the paper's Fig. 3, step 3), per patch: the ROI probability is zeroed where the classifier says "no
calcium" (probability below ``cls_threshold``), thresholded, islands smaller than ``min_roi_px`` are removed (the
paper uses scikit-image's ``remove_small_objects`` with ``min_size = 1000``; here scipy labels, 8-connected as
scikit-image's default for 2D), and the result is smoothed by a Gaussian of ``sigma_px`` (paper: 3) and thresholded at
one half again, which rounds the ROI into a compact area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tqgd.errors import ConfigError


@dataclass(frozen=True)
class RoiOptions:
    """Target dilation (iterations x disc radius, px) and post-processing (thresholds, smallest island, Gaussian)."""

    iterations: int = 4
    step_px: int = 5
    cls_threshold: float = 0.5
    roi_threshold: float = 0.5
    min_roi_px: int = 1000
    sigma_px: float = 3.0

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.step_px < 1:
            raise ConfigError(f"ROI dilation needs iterations >= 0 and a step of at least 1 px, got "
                              f"{self.iterations} x {self.step_px} px")
        for name in ("cls_threshold", "roi_threshold"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must lie strictly between 0 and 1, got {getattr(self, name)}")
        if self.min_roi_px < 0 or self.sigma_px < 0:
            raise ConfigError(f"min_roi_px and sigma_px must not be negative, got {self.min_roi_px}, "
                              f"{self.sigma_px}")


def disc(radius_px: int) -> np.ndarray:
    """Boolean disc (2r+1, 2r+1): the pixels whose centre lies within ``radius_px`` of the centre pixel."""
    y, x = np.mgrid[-radius_px:radius_px + 1, -radius_px:radius_px + 1]
    return x * x + y * y <= radius_px * radius_px


def roi_target(calcium: np.ndarray, options: RoiOptions = RoiOptions()) -> np.ndarray:
    """ROI_GT (H, W) bool: the calcium mask (H, W) dilated ``options.iterations`` times by a disc of ``step_px``."""
    mask = np.asarray(calcium) != 0
    if mask.ndim != 2:
        raise ConfigError(f"ROI targets are made from 2D masks (H, W), got shape {mask.shape}")
    if options.iterations == 0 or not mask.any():
        return mask
    return ndimage.binary_dilation(mask, structure=disc(options.step_px), iterations=options.iterations)


def remove_small_islands(mask: np.ndarray, min_px: int) -> np.ndarray:
    """``mask`` (H, W) without its 8-connected components of fewer than ``min_px`` pixels."""
    mask = np.asarray(mask, dtype=bool)
    if min_px <= 1 or not mask.any():
        return mask
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


def postprocess_roi(roi_prob: np.ndarray, cls_prob: float, options: RoiOptions = RoiOptions()) -> np.ndarray:
    """Final ROI (H, W) bool of one patch from its ROI probability (H, W) and its classifier probability."""
    if cls_prob < options.cls_threshold:
        return np.zeros(np.shape(roi_prob), dtype=bool)
    mask = remove_small_islands(np.asarray(roi_prob) >= options.roi_threshold, options.min_roi_px)
    if options.sigma_px > 0 and mask.any():
        mask = ndimage.gaussian_filter(mask.astype(np.float32), options.sigma_px) >= 0.5
    return mask
