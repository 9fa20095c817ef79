"""Anatomical detail of the realistic phantom: blood pools inside the myocardium, the diaphragm, bone and lung texture.

Non-contrast CT barely separates blood from myocardium: blood reads ~35-45 HU, myocardium ~40-50 HU (the gap
grows with anaemia). The realistic mode paints the chambers as myocardium at a per-patient value 5-10 HU above
blood, then hollows out the left- and right-ventricular cavities and the atrial blood pools (atrial wall
ATRIAL_WALL_MM). The diaphragm is a band of muscle over the liver and stomach domes in the lowest slices.
Cancellous bone gets a trabecular texture (band-passed noise, a few tenths of a mm to a mm across) and the lungs
a parenchymal texture plus small vessel cross-sections, both from one white-noise field per slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tqgd.data.phantom.anatomy import Chest
from tqgd.data.phantom.config import (
    BLOOD_HU, CANCELLOUS_BONE_HU, CORTICAL_BONE_HU, MUSCLE_HU, Tissue,
)
from tqgd.data.phantom.heart import Heart
from tqgd.data.phantom.shapes import SliceGrid, ellipsoid_matrix, ellipsoid_section, paint

#: Myocardium minus blood pool (HU), drawn per patient.
MYOCARDIUM_OVER_BLOOD_HU = (5.0, 10.0)
ATRIAL_WALL_MM = 2.5
#: Blood pools keep at least this much myocardium to the ventricles' surface (mm).
VENTRICLE_WALL_MIN_MM = 5.0
DIAPHRAGM_MM = 4.0
#: Trabecular texture: band-pass between these Gaussian sigmas (mm); amplitude as a share of cancellous HU.
TRABECULAR_SIGMA_MM = (0.35, 1.2)
TRABECULAR_SHARE = 0.45
#: Lung parenchyma: smooth variation (sigma mm, HU std) and small vessels where the fine field passes a level.
LUNG_TEXTURE_SIGMA_MM = 1.6
LUNG_TEXTURE_HU = 18.0
LUNG_VESSEL_LEVEL = 2.3
LUNG_VESSEL_HU = 420.0


@dataclass(frozen=True)
class HeartDetail:
    """Per-patient myocardium value and blood-pool ellipsoids (centre mm, 3x3 matrix)."""

    myocardium_hu: float
    cavities: tuple[tuple[np.ndarray, np.ndarray], ...]  # atria first, then LV, RV

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"myocardium_hu": round(self.myocardium_hu, 2), "blood_hu": BLOOD_HU}


def _inside_with_margin(heart: Heart, centre: np.ndarray, axes: tuple[float, float, float], frame: np.ndarray,
                        margin_mm: float) -> bool:
    """True when sampled surface points of the cavity lie inside the ventricles shrunk by margin_mm."""
    a, b, c = heart.ventricle_axes_mm
    shrunk = ellipsoid_matrix((a - margin_mm, b - margin_mm, c - margin_mm), heart.frame)
    u = np.random.default_rng(0).normal(size=(200, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    points = centre + (u * np.asarray(axes)) @ frame.T - heart.centre_mm
    return bool(np.all(np.einsum("ni,ij,nj->n", points, shrunk, points) < 1.0))


def _ventricle_cavity(heart: Heart, offsets: tuple[float, float, float],
                      shares: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A blood pool in the ventricles' frame: centre offset and semi-axes as shares of the ventricle's axes,
    shrunk until it keeps VENTRICLE_WALL_MIN_MM of myocardium."""
    axes_v = np.asarray(heart.ventricle_axes_mm)
    centre = heart.centre_mm + heart.frame @ (np.asarray(offsets) * axes_v)
    axes = np.asarray(shares) * axes_v
    for _ in range(30):
        if _inside_with_margin(heart, centre, tuple(axes), heart.frame, VENTRICLE_WALL_MIN_MM):
            break
        axes *= 0.95
    return centre, ellipsoid_matrix(tuple(axes), heart.frame)


def sample_heart_detail(rng: np.random.Generator, heart: Heart) -> HeartDetail:
    """Draw the myocardium's HU and the blood pools of ``heart``."""
    myocardium = BLOOD_HU + float(rng.uniform(*MYOCARDIUM_OVER_BLOOD_HU))
    cavities = []
    for chamber in heart.chambers[1:]:  # atria: the chamber shrunk by the wall
        inv = np.linalg.inv(chamber.matrix)
        values, vectors = np.linalg.eigh(inv)
        axes = tuple(float(np.sqrt(v)) - ATRIAL_WALL_MM for v in values)
        cavities.append((chamber.centre_mm, ellipsoid_matrix(axes, vectors)))
    # frame columns: long axis (base -> apex), anterior, patient left. LV posterior-left, RV anterior-right.
    lv_shift = rng.uniform(-0.03, 0.03)
    cavities.append(_ventricle_cavity(heart, (lv_shift, -0.05, 0.30), (0.72, 0.60, 0.48)))
    cavities.append(_ventricle_cavity(heart, (-0.05, 0.18, -0.58), (0.70, 0.65, 0.28)))
    return HeartDetail(myocardium_hu=myocardium, cavities=tuple(cavities))


def paint_blood_pools(detail: HeartDetail, image: np.ndarray, tissue: np.ndarray, grid: SliceGrid, z_mm: float,
                      edge_mm: float) -> None:
    """Hollow the myocardium out: blood pools at BLOOD_HU (Tissue.BLOOD)."""
    for centre, matrix in detail.cavities:
        paint(image, grid, ellipsoid_section(centre, matrix, z_mm), BLOOD_HU, edge_mm, tissue, Tissue.BLOOD)


def paint_diaphragm(chest: Chest, image: np.ndarray, tissue: np.ndarray, cavity_cov: np.ndarray, grid: SliceGrid,
                    z_mm: float, edge_mm: float) -> None:
    """A DIAPHRAGM_MM band of muscle over the liver and stomach domes (painted before them, so they fill it)."""
    cy, ax, ay = chest.cavity
    t = DIAPHRAGM_MM
    domes = ((np.array([-0.3 * ax, cy + 0.1 * ay, chest.liver_dome_z_mm - 60.0]), (0.9 * ax, 1.1 * ay, 60.0)),
             (np.array([0.45 * ax, cy + 0.05 * ay, chest.stomach_dome_z_mm - 50.0]), (0.6 * ax, 0.85 * ay, 50.0)))
    for centre, axes in domes:
        section = ellipsoid_section(centre, ellipsoid_matrix(tuple(a + t for a in axes), np.eye(3)), z_mm)
        paint(image, grid, section, MUSCLE_HU - 5.0, edge_mm, tissue, Tissue.MUSCLE, clip=cavity_cov)


def _blurred_std(sigma_px: float) -> float:
    """Standard deviation of unit white noise blurred by a 2D Gaussian of sigma_px (continuous approximation)."""
    return 1.0 / (2.0 * np.sqrt(np.pi) * sigma_px)


def _band_std(a_px: float, b_px: float) -> float:
    """Standard deviation of unit white noise filtered by the difference of Gaussians a_px - b_px."""
    variance = 1 / (4 * np.pi * a_px**2) + 1 / (4 * np.pi * b_px**2) - 1 / (np.pi * (a_px**2 + b_px**2))
    return float(np.sqrt(variance))


def add_textures(image: np.ndarray, tissue: np.ndarray, pixel_mm: float, bone_factor: float,
                 rng: np.random.Generator) -> None:
    """Trabecular texture in cancellous bone and parenchymal texture in the lungs of one slice, in place."""
    white = rng.standard_normal(image.shape, dtype=np.float32)
    a_px = max(TRABECULAR_SIGMA_MM[0] / pixel_mm, 0.5)
    b_px = max(TRABECULAR_SIGMA_MM[1] / pixel_mm, 2.0 * a_px)  # coarse pixels (small test images): keep a band
    smooth_px = max(LUNG_TEXTURE_SIGMA_MM / pixel_mm, 0.5)
    fine = cv2.GaussianBlur(white, (0, 0), a_px)
    coarse = cv2.GaussianBlur(white, (0, 0), b_px)
    smooth = cv2.GaussianBlur(white, (0, 0), smooth_px)
    limit = 0.5 * (CANCELLOUS_BONE_HU + 0.6 * CORTICAL_BONE_HU) * bone_factor
    cancellous = np.nonzero((tissue == Tissue.BONE) & (image < limit))
    band = (fine[cancellous] - coarse[cancellous]) / np.float32(_band_std(a_px, b_px))
    image[cancellous] += np.float32(TRABECULAR_SHARE * CANCELLOUS_BONE_HU * bone_factor) * np.tanh(1.5 * band)
    lung = np.nonzero(tissue == Tissue.LUNG)
    vessels = np.clip(fine[lung] / np.float32(_blurred_std(a_px)) - LUNG_VESSEL_LEVEL, 0.0, 1.0)
    image[lung] += (np.float32(LUNG_TEXTURE_HU / _blurred_std(smooth_px)) * smooth[lung]
                    + np.float32(LUNG_VESSEL_HU) * vessels)
