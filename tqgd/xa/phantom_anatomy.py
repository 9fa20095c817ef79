"""What lies over the coronaries in a projection: body, lungs, spine, ribs, diaphragm and the moving heart shadow.

All layers are line integrals of attenuation (dimensionless, ``-ln`` of transmission) in image pixels (H, W)
float32, drawn for one C-arm view. The static layers do not move (breath-hold); the heart shadow is drawn once
at relaxation and warped per frame by the 2D affine that best fits the projected motion of the heart surface,
so it beats in step with the vessels on it.
"""

from __future__ import annotations

import cv2
import numpy as np

from tqgd.xa.phantom_tree import CardiacMotion, CArm, HeartShape

#: Soft tissue of the chest along the beam (about 20 cm of water).
BODY_ATTENUATION = 3.0
LUNG_DEFICIT = 0.8
HEART_EXCESS = 0.45
VERTEBRA_ATTENUATION = 0.55
RIB_ATTENUATION = 0.22
DIAPHRAGM_ATTENUATION = 1.4
VERTEBRA_PITCH_MM, VERTEBRA_HEIGHT_MM, VERTEBRA_WIDTH_MM = 28.0, 21.0, 40.0
RIB_PITCH_MM, RIB_WIDTH_MM = 26.0, 9.0


def _px(carm: CArm, mm: float) -> float:
    """A length at the isocentre in pixels."""
    return mm * carm.magnification / carm.imager_spacing_mm


def _blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigmaX=max(sigma_px, 0.3))


def _spine(layer: np.ndarray, carm: CArm, rng: np.random.Generator) -> None:
    z0 = rng.uniform(0, VERTEBRA_PITCH_MM)
    for z in np.arange(-200.0 + z0, 200.0, VERTEBRA_PITCH_MM):
        (cx, cy), _ = carm.project(np.array([0.0, 70.0, z]))
        w, h = _px(carm, VERTEBRA_WIDTH_MM) / 2, _px(carm, VERTEBRA_HEIGHT_MM) / 2
        cv2.ellipse(layer, (int(cx), int(cy)), (int(w), int(h)), 0, 0, 360, VERTEBRA_ATTENUATION, -1)
        cv2.ellipse(layer, (int(cx), int(cy)), (int(w * 0.8), int(h * 0.75)), 0, 0, 360,
                    VERTEBRA_ATTENUATION * 0.7, -1)  # cancellous inside a cortical rim
        for side in (-1, 1):
            (px_, py_), _ = carm.project(np.array([side * 16.0, 85.0, z]))
            cv2.ellipse(layer, (int(px_), int(py_)), (max(int(w * 0.18), 1), max(int(h * 0.3), 1)), 0, 0, 360,
                        VERTEBRA_ATTENUATION * 0.9, -1)


def _ribs(layer: np.ndarray, carm: CArm, rng: np.random.Generator) -> None:
    size = layer.shape[0]
    x = np.linspace(-0.2 * size, 1.2 * size, 60)
    thickness = max(int(_px(carm, RIB_WIDTH_MM)), 2)
    start = rng.uniform(-RIB_PITCH_MM, 0)
    for family, slope, value in (("posterior", 1.0, RIB_ATTENUATION), ("anterior", -0.6, RIB_ATTENUATION * 0.6)):
        centre = size / 2 + rng.normal(0, size * 0.05)
        for k in range(12):
            y0 = _px(carm, start + k * RIB_PITCH_MM) - size * 0.3 + (0 if family == "posterior" else size * 0.1)
            y = y0 + slope * 0.0015 * (x - centre) ** 2 * 512 / size
            pts = np.stack([x, y], axis=1).astype(np.int32)
            cv2.polylines(layer, [pts], False, value, thickness, cv2.LINE_AA)
            cv2.polylines(layer, [pts], False, value * 0.55, max(thickness - 4, 1), cv2.LINE_AA)


def static_layers(carm: CArm, rng: np.random.Generator) -> np.ndarray:
    """Body, lungs, spine, ribs and diaphragm for one view, (H, W) float32 line integrals."""
    size = carm.size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    layer = np.full((size, size), BODY_ATTENUATION, np.float32) + np.float32(0.3) * (xx - 0.5)
    lungs = np.zeros((size, size), np.float32)
    for side in (-1, 1):
        (cx, cy), _ = carm.project(np.array([side * 70.0, 0.0, 40.0]))
        cv2.ellipse(lungs, (int(cx), int(cy)), (int(_px(carm, 55)), int(_px(carm, 120))), 0, 0, 360, 1.0, -1)
    layer -= LUNG_DEFICIT * _blur(lungs, size / 20)
    bones = np.zeros((size, size), np.float32)
    _spine(bones, carm, rng)
    _ribs(bones, carm, rng)
    layer += _blur(bones, size / 400)
    dome_row = rng.uniform(0.72, 0.95) + 0.35 * (xx - rng.uniform(0.35, 0.65)) ** 2 \
        + 0.05 / (1 + np.exp(-(xx - 0.5) * 20))  # the left hemidiaphragm lies lower
    layer += DIAPHRAGM_ATTENUATION / (1 + np.exp(np.clip(-(yy - dome_row) * size / 6.0, -60, 60)))
    return layer.astype(np.float32)


def heart_shadow(heart: HeartShape, carm: CArm) -> tuple[np.ndarray, np.ndarray]:
    """(shadow (H, W) float32 at relaxation, the 3D surface points (K, 3) whose projection defines it)."""
    polar, azimuth = np.meshgrid(np.linspace(0, np.pi, 18), np.linspace(0, 2 * np.pi, 36, endpoint=False))
    surface = heart.surface(polar.ravel(), azimuth.ravel(), offset_mm=0.0)
    xy, _ = carm.project(surface)
    hull = cv2.convexHull(xy.astype(np.float32)).astype(np.int32)
    shadow = np.zeros((carm.size, carm.size), np.float32)
    cv2.fillConvexPoly(shadow, hull, HEART_EXCESS)
    return _blur(shadow, carm.size / 60), surface


def shadow_affines(surface: np.ndarray, motion: CardiacMotion, w: np.ndarray, carm: CArm) -> np.ndarray:
    """Per-frame 2D affines (F, 2, 3) mapping the relaxed heart shadow to its position at waveform ``w`` (F,)."""
    ref, _ = carm.project(surface)
    moved, _ = carm.project(motion.move(surface, w))
    design = np.concatenate([ref, np.ones((len(ref), 1))], axis=1)
    affines = np.empty((len(w), 2, 3))
    for f in range(len(w)):
        solution, *_ = np.linalg.lstsq(design, moved[f], rcond=None)
        affines[f] = solution.T
    return affines
