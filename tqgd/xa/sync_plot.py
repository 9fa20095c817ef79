"""A picture of a synchronisation (like the paper's Fig. 2): the signal with beat marks, and its spectrum."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqgd.io import atomic_path
from tqgd.xa.sync import SyncResult


def plot_sync(result: SyncResult, target: str | Path, title: str = "") -> Path:
    """Save a two-panel PNG: S_k with the contrast frames shaded and beats marked; |FFT| with the chosen peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6))
    k = np.arange(len(result.signal))
    top.plot(k, result.signal, lw=1, label="S_k (distance to frame 0)")
    top.plot(k, result.detrended + result.signal.mean(), lw=0.8, alpha=0.7, label="detrended (+ mean)")
    top.axvspan(result.contrast_start, result.contrast_full, color="orange", alpha=0.2, label="contrast filling")
    for beat in np.arange(0, len(k), result.period_frames):
        top.axvline(beat, color="red", ls="--", lw=0.5)
    top.set_xlabel("frame")
    top.legend(fontsize=8)
    top.set_title(title)
    keep = result.frequencies > 0
    bottom.plot(1 / result.frequencies[keep], result.spectrum[keep], lw=1)
    bottom.axvline(result.period_frames, color="red", ls="--", lw=0.8,
                   label=f"period {result.period_frames:.2f} frames")
    bottom.set_xlim(2, min(60, len(k) / 2))
    bottom.set_xlabel("period (frames)")
    bottom.set_ylabel("|FFT|")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(target)
