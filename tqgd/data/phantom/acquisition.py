"""How the phantom is scanned: slice geometry, tube voltage, cardiac motion blur and image noise.

Gated scans are reconstructed on a small field of view centred on the heart, non-gated chest scans on the whole
chest (the paper's Fig. 1 shows the same difference). Noise is Gaussian, low-pass filtered to CT's fine
correlated texture and scaled to the profile's standard deviation (higher at low kVp). Non-gated slices are
smeared along a random direction over the heart (motion during the rotation), fading out around the sac.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from tqgd.data.phantom.config import NOISE_KVP_FACTOR, PhantomConfig
from tqgd.data.phantom.heart import Heart
from tqgd.data.phantom.shapes import SliceGrid

#: Correlation length of CT noise (Gaussian sigma of the low-pass filter), mm.
NOISE_CORRELATION_MM = 0.3
#: In-plane point-spread function of the scanner (Gaussian sigma), mm.
PSF_SIGMA_MM = 0.35
#: How far beyond the pericardial sac the motion blur fades out (Gaussian sigma), mm.
MOTION_FADE_MM = 6.0


@dataclass(frozen=True)
class Acquisition:
    """Per-patient scan geometry and image-quality parameters (mm, HU)."""

    kvp: int
    pixel_spacing_mm: float
    slice_spacing_mm: float
    slice_thickness_mm: float
    z_mm: np.ndarray  # slice centres, ascending (index 0 = most inferior)
    grid: SliceGrid
    noise_std_hu: float
    motion_mm: np.ndarray  # per-slice smear length (0 for gated)
    motion_angle_rad: np.ndarray  # per-slice smear direction in the slice plane

    @property
    def n_slices(self) -> int:
        """Slice count."""
        return len(self.z_mm)

    @property
    def edge_mm(self) -> float:
        """Width of the partial-volume ramp on painted edges."""
        return max(self.pixel_spacing_mm, 2.0 * PSF_SIGMA_MM)

    def to_dict(self) -> dict:
        """JSON-ready summary (per-slice motion as lists)."""
        return {"kvp": self.kvp, "pixel_spacing_mm": self.pixel_spacing_mm, "slice_spacing_mm": self.slice_spacing_mm,
                "slice_thickness_mm": self.slice_thickness_mm, "n_slices": self.n_slices,
                "image_size": self.grid.size, "field_of_view_mm": self.grid.size * self.pixel_spacing_mm,
                "noise_std_hu": self.noise_std_hu, "motion_blur_mm": [round(float(m), 3) for m in self.motion_mm],
                "motion_angle_deg": [round(float(np.degrees(a)), 2) for a in self.motion_angle_rad]}


def sample_acquisition(rng: np.random.Generator, config: PhantomConfig, heart: Heart,
                       heart_centre_xy: tuple[float, float]) -> Acquisition:
    """Draw tube voltage, pixel and slice spacing, coverage, field-of-view centre, noise and motion."""
    profile = config.profile
    kvp = int(rng.choice(config.kvp_choices, p=np.asarray(config.kvp_weights) / np.sum(config.kvp_weights)))
    pixel = round(float(rng.uniform(*profile.pixel_spacing_mm)) * config.pixel_scale, 4)
    if rng.random() < config.overlap_share:
        spacing, thickness = config.overlap_spacing_mm, config.overlap_thickness_mm
    else:
        spacing = float(rng.choice(config.slice_spacing_mm))
        thickness = spacing
    heart_low, heart_high = heart.z_range_mm
    length = float(rng.uniform(*config.scan_length_mm))
    if not config.clip_heart:
        length = max(length, heart_high - heart_low + 12.0)
    n_slices = int(round(length / spacing))
    top = heart_high + rng.uniform(4.0, 12.0) if not config.clip_heart else heart.centre_mm[2] + length / 2
    z_mm = np.round(top - spacing * np.arange(n_slices), 4)[::-1].copy()
    if profile.fov_centre == "heart":
        cx, cy = heart_centre_xy[0] - 6.0 + rng.normal(0, 4), heart_centre_xy[1] + 6.0 + rng.normal(0, 4)
    else:
        cx, cy = rng.normal(0, 4), rng.normal(0, 4)
    size = config.image_size
    grid = SliceGrid(x0_mm=round(cx - pixel * (size - 1) / 2, 4), y0_mm=round(cy - pixel * (size - 1) / 2, 4),
                     spacing_mm=pixel, size=size)
    noise = float(rng.uniform(*profile.noise_std_hu)) * NOISE_KVP_FACTOR[kvp]
    motion = rng.uniform(*profile.motion_blur_mm, size=n_slices)
    angle = rng.uniform(0, np.pi, size=n_slices)
    return Acquisition(kvp=kvp, pixel_spacing_mm=pixel, slice_spacing_mm=spacing, slice_thickness_mm=thickness,
                       z_mm=z_mm, grid=grid, noise_std_hu=noise, motion_mm=motion, motion_angle_rad=angle)


@dataclass(frozen=True)
class MotionField:
    """Motion smear of one slice: the region it acts on, the line kernel, and its weight (1 over the heart)."""

    rows: slice
    cols: slice
    kernel: np.ndarray
    weight: np.ndarray  # (rows, cols) in 0..1

    def apply(self, image: np.ndarray) -> None:
        """Smear ``image`` (Y, X) in place over this field's region."""
        region = image[self.rows, self.cols]
        blurred = cv2.filter2D(region, -1, self.kernel, borderType=cv2.BORDER_REPLICATE)
        region += self.weight * (blurred - region)


def motion_kernel(length_px: float, angle_rad: float) -> np.ndarray:
    """Normalised anti-aliased line kernel of length_px pixels at angle_rad (odd square, float32)."""
    half = int(np.ceil(length_px / 2)) + 1
    canvas = np.zeros((2 * half + 1, 2 * half + 1), dtype=np.float32)
    samples = np.linspace(-length_px / 2, length_px / 2, max(int(np.ceil(length_px * 4)), 2))
    for t in samples:  # bilinear splat of points along the line
        x, y = half + t * np.cos(angle_rad), half + t * np.sin(angle_rad)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        canvas[y0, x0] += (1 - fx) * (1 - fy)
        canvas[y0, x0 + 1] += fx * (1 - fy)
        canvas[y0 + 1, x0] += (1 - fx) * fy
        canvas[y0 + 1, x0 + 1] += fx * fy
    return canvas / canvas.sum()


def motion_field(acq: Acquisition, index: int, sac: np.ndarray) -> MotionField | None:
    """The motion smear of slice ``index`` given its pericardial-sac coverage (Y, X); None when still."""
    length_px = acq.motion_mm[index] / acq.pixel_spacing_mm
    if length_px < 0.5 or not sac.any():
        return None
    rows_any, cols_any = np.nonzero(sac.any(axis=1))[0], np.nonzero(sac.any(axis=0))[0]
    fade_px = MOTION_FADE_MM / acq.pixel_spacing_mm
    pad = int(np.ceil(3 * fade_px + length_px))
    size = sac.shape[0]
    rows = slice(max(rows_any[0] - pad, 0), min(rows_any[-1] + pad + 1, size))
    cols = slice(max(cols_any[0] - pad, 0), min(cols_any[-1] + pad + 1, size))
    weight = np.clip(ndimage.gaussian_filter(sac[rows, cols], fade_px) * 1.6, 0.0, 1.0).astype(np.float32)
    return MotionField(rows, cols, motion_kernel(length_px, float(acq.motion_angle_rad[index])), weight)


def add_noise(hu: np.ndarray, acq: Acquisition, rng: np.random.Generator) -> None:
    """Add correlated Gaussian noise of std acq.noise_std_hu to ``hu`` (Z, Y, X) in place."""
    sigma_px = NOISE_CORRELATION_MM / acq.pixel_spacing_mm
    radius = int(4 * sigma_px + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2) if radius else np.ones(1)
    taps /= taps.sum()
    gain = float(np.sum(taps**2))  # std of the filtered unit white noise (separable 2D filter)
    for k in range(hu.shape[0]):
        noise = rng.standard_normal(hu.shape[1:], dtype=np.float32)
        if radius:
            noise = cv2.sepFilter2D(noise, -1, taps.astype(np.float32), taps.astype(np.float32),
                                    borderType=cv2.BORDER_REFLECT)
        hu[k] += noise * np.float32(acq.noise_std_hu / gain)


def psf_sigma_px(acq: Acquisition) -> float:
    """In-plane point-spread sigma in pixels."""
    return PSF_SIGMA_MM / acq.pixel_spacing_mm
