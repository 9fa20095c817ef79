"""CT noise as filtered back-projection shapes it: a band-pass noise power spectrum, and its measurement.

FBP turns independent noise in the projections into image noise whose 2D noise power spectrum (NPS) is the ramp
|f| times the square of the reconstruction kernel's apodisation window W(f): almost no power near zero frequency,
a peak at a mid frequency set by the kernel, and a fall to zero at the kernel's cut-off (Hanson 1979; the radial
NPS is the measure ICRU Report 87 and AAPM TG-233 use). The phantom makes such noise by filtering white Gaussian
noise, slice by slice, with sqrt(|f|) * W(f) in Fourier space (so NPS ~ |f| W(f)^2), W a Hann window whose
cut-off is drawn per patient from KERNELS (smooth, standard or sharp), and scales it to the profile's standard
deviation, the same as the legacy generator's.

``measure_nps`` is the check: it cuts square ROIs that lie wholly in one uniform tissue, removes each ROI's mean
and plane, and radially averages |FFT|^2 (HU^2 mm^2) over them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import ndimage

from tqgd.data.phantom.config import Tissue

#: Reconstruction kernels: (name, Hann cut-off in cycles/mm, how often drawn). NPS ~ f W(f)^2 peaks at 0.305 x
#: the cut-off, i.e. at ~0.18 (smooth), ~0.27 (standard) and ~0.37 (sharp) cycles/mm, the range of the soft to
#: medium kernels used for calcium scoring and chest CT.
KERNELS: tuple[tuple[str, float, float], ...] = (("smooth", 0.60, 0.25), ("standard", 0.90, 0.55),
                                                 ("sharp", 1.20, 0.20))
#: Where f W(f)^2 peaks for a Hann window, as a share of its cut-off (root of 1 + cos(pi u) = 2 pi u sin(pi u)).
HANN_NPS_PEAK_SHARE = 0.305
#: Per-patient jitter of the cut-off (relative, uniform +-).
CUTOFF_JITTER = 0.08
#: Slices filtered per FFT batch (bounds memory at 512 px).
SLICES_PER_BATCH = 8
#: Tissues whose noise-free value is uniform (no texture, one HU), where the NPS is measured. (OTHER_SOFT mixes
#: liver, stomach, discs and cartilage of different HU: its steps would add low-frequency power.)
UNIFORM_TISSUES = (Tissue.BLOOD, Tissue.MUSCLE)


@dataclass(frozen=True)
class NoiseKernel:
    """The reconstruction kernel drawn for one patient."""

    name: str
    cutoff_per_mm: float

    @property
    def nps_peak_per_mm(self) -> float:
        """Frequency where the noise power spectrum peaks (cycles/mm), before the pixel grid's Nyquist limit."""
        return HANN_NPS_PEAK_SHARE * self.cutoff_per_mm

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"name": self.name, "cutoff_per_mm": round(self.cutoff_per_mm, 4),
                "nps_peak_per_mm": round(self.nps_peak_per_mm, 4)}


def sample_kernel(rng: np.random.Generator) -> NoiseKernel:
    """Draw one patient's reconstruction kernel."""
    weights = np.array([w for _, _, w in KERNELS])
    name, cutoff, _ = KERNELS[int(rng.choice(len(KERNELS), p=weights / weights.sum()))]
    return NoiseKernel(name, float(cutoff * rng.uniform(1 - CUTOFF_JITTER, 1 + CUTOFF_JITTER)))


def _frequencies(size: int, pixel_mm: float, half: bool) -> np.ndarray:
    fy = np.fft.fftfreq(size, d=pixel_mm)[:, None]
    fx = (np.fft.rfftfreq if half else np.fft.fftfreq)(size, d=pixel_mm)[None, :]
    return np.hypot(fy, fx)


def amplitude_filter(size: int, pixel_mm: float, kernel: NoiseKernel, half: bool = True) -> np.ndarray:
    """sqrt(|f|) W(f) on the (r)FFT grid of a size x size slice (float32)."""
    f = _frequencies(size, pixel_mm, half)
    window = np.where(f < kernel.cutoff_per_mm, 0.5 * (1.0 + np.cos(np.pi * f / kernel.cutoff_per_mm)), 0.0)
    return (np.sqrt(f) * window).astype(np.float32)


def add_fbp_noise(hu: np.ndarray, pixel_mm: float, std_hu: float, kernel: NoiseKernel,
                  rng: np.random.Generator) -> None:
    """Add band-pass noise of standard deviation ``std_hu`` to ``hu`` (Z, Y, X) in place, slice by slice."""
    size = hu.shape[-1]
    response = amplitude_filter(size, pixel_mm, kernel)
    gain = float(np.sqrt(np.mean(amplitude_filter(size, pixel_mm, kernel, half=False).astype(np.float64) ** 2)))
    scale = np.float32(std_hu / gain)  # Parseval: filtered unit white noise has std sqrt(mean |H|^2)
    for start in range(0, hu.shape[0], SLICES_PER_BATCH):
        stop = min(start + SLICES_PER_BATCH, hu.shape[0])
        white = rng.standard_normal((stop - start, size, size), dtype=np.float32)
        spectrum = scipy.fft.rfft2(white, workers=1)
        spectrum *= response
        hu[start:stop] += scipy.fft.irfft2(spectrum, s=(size, size), workers=1).astype(np.float32) * scale


def uniform_rois(hu: np.ndarray, tissue: np.ndarray, roi_px: int, max_rois: int = 400,
                 tissues: tuple[int, ...] = UNIFORM_TISSUES) -> np.ndarray:
    """Up to ``max_rois`` non-overlapping roi_px squares (N, roi_px, roi_px) lying wholly in one uniform tissue."""
    rois = []
    for k in range(hu.shape[0]):
        for code in tissues:
            inside = ndimage.uniform_filter((tissue[k] == code).astype(np.float32), size=roi_px + 2, mode="constant")
            full = inside > 1.0 - 1e-4  # whole window (plus a one-pixel margin) in this tissue
            taken = np.zeros_like(full)
            for y, x in np.argwhere(full[::roi_px // 2, ::roi_px // 2]) * (roi_px // 2):
                y0, x0 = y - roi_px // 2, x - roi_px // 2
                if y0 < 0 or x0 < 0 or y0 + roi_px > hu.shape[1] or x0 + roi_px > hu.shape[2]:
                    continue
                if taken[y0:y0 + roi_px, x0:x0 + roi_px].any():
                    continue
                taken[y0:y0 + roi_px, x0:x0 + roi_px] = True
                rois.append(hu[k, y0:y0 + roi_px, x0:x0 + roi_px])
                if len(rois) == max_rois:
                    return np.stack(rois)
    return np.stack(rois) if rois else np.zeros((0, roi_px, roi_px), dtype=np.float32)


def radial_nps(rois: np.ndarray, pixel_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged NPS (HU^2 mm^2) of detrended ROIs (N, m, m): (bin centres in cycles/mm, NPS per bin)."""
    n, m, _ = rois.shape
    yy, xx = np.mgrid[0:m, 0:m].astype(np.float64)
    design = np.stack([np.ones(m * m), yy.ravel(), xx.ravel()], axis=1)
    values = rois.reshape(n, m * m).astype(np.float64).T
    coeffs, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = (values - design @ coeffs).T.reshape(n, m, m)
    power = np.mean(np.abs(np.fft.fft2(residual)) ** 2, axis=0) * pixel_mm**2 / (m * m)
    f = _frequencies(m, pixel_mm, half=False)
    step = 1.0 / (m * pixel_mm)
    index = np.rint(f / step).astype(int)
    top = m // 2
    keep = index <= top
    sums = np.bincount(index[keep], weights=power[keep], minlength=top + 1)
    counts = np.bincount(index[keep], minlength=top + 1)
    return np.arange(top + 1) * step, sums / np.maximum(counts, 1)


def measure_nps(hu: np.ndarray, tissue: np.ndarray, pixel_mm: float, roi_px: int | None = None) -> dict:
    """The radial NPS of a volume over uniform-tissue ROIs, with its peak; ``n_rois`` 0 when none fit."""
    roi_px = roi_px or max(8, min(32, hu.shape[-1] // 8))
    rois = uniform_rois(hu, tissue, roi_px)
    if not len(rois):
        return {"roi_px": roi_px, "n_rois": 0, "frequency_per_mm": [], "nps_hu2_mm2": [], "peak_per_mm": None}
    freq, nps = radial_nps(rois, pixel_mm)
    peak = int(np.argmax(nps[1:])) + 1  # bin 0 (DC) is zero after detrending
    return {"roi_px": roi_px, "n_rois": len(rois), "pixel_mm": round(float(pixel_mm), 4),
            "frequency_per_mm": [round(float(v), 4) for v in freq], "nps_hu2_mm2": [round(float(v), 3) for v in nps],
            "peak_per_mm": round(float(freq[peak]), 4)}
