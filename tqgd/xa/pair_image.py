"""One detector input from a synchronised pair of frames, and the paper's five overlapping patches.

The image has three channels, in RGB order: the non-contrast frame (where calcium is annotated), the contrast frame
of the same cardiac phase (where the vessels show), and their difference (non-contrast minus contrast: the filled
lumen comes out bright, static anatomy cancels, calcium stays where the two differ least). Frames are first mapped
to 0..255 with the run's own 0.5th-99.5th percentile window, so 8-, 10- and 12-bit cines look alike.

Five patches (paper 004, Fig. 1): the four corners and the centre, ``patch`` px square; on a 512 px frame with 256 px
patches the corners tile the frame and the centre patch overlaps all four.
"""

from __future__ import annotations

import numpy as np

from tqgd.errors import ConfigError

WINDOW_PERCENTILES = (0.5, 99.5)
DIFFERENCE_GAIN = 2.0
PATCH_SIZE = 256


def run_window(frames: np.ndarray) -> tuple[float, float]:
    """(low, high) stored values mapped to 0 and 255 for a run (N, H, W)."""
    sample = np.asarray(frames)[:: max(1, len(frames) // 16)]
    low, high = np.percentile(sample, WINDOW_PERCENTILES)
    return float(low), float(max(high, low + 1.0))


def to_grey(frame: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Frame (H, W) -> float32 0..255 through ``window``."""
    low, high = window
    return np.clip((np.asarray(frame, np.float32) - low) * (255.0 / (high - low)), 0, 255)


def pair_image(noncontrast: np.ndarray, contrast: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """(H, W, 3) uint8 RGB: non-contrast, contrast, 128 + 2 x (non-contrast - contrast)."""
    if noncontrast.shape != contrast.shape or noncontrast.ndim != 2:
        raise ConfigError(f"paired frames must be two 2D frames of one shape, got {noncontrast.shape} and "
                          f"{contrast.shape}")
    a, b = to_grey(noncontrast, window), to_grey(contrast, window)
    diff = np.clip(128.0 + DIFFERENCE_GAIN * (a - b), 0, 255)
    return np.round(np.stack([a, b, diff], axis=-1)).astype(np.uint8)


def five_patches(height: int, width: int, patch: int = PATCH_SIZE) -> list[tuple[int, int]]:
    """Top-left corners (x0, y0) of the corner patches (TL, TR, BL, BR) and the centre patch."""
    if patch < 1 or height < patch or width < patch:
        raise ConfigError(f"five {patch} px patches need a frame at least {patch} x {patch} px, got {width} x "
                          f"{height}; lower --patch-size or drop --patches")
    x1, y1 = width - patch, height - patch
    return [(0, 0), (x1, 0), (0, y1), (x1, y1), (x1 // 2, y1 // 2)]
