"""The heart in its pericardial fat, and the great vessels at its base.

The ventricles are one ellipsoid whose long axis runs from the base (posterior, right, superior) to the apex
(anterior, left, inferior); the atria are two more ellipsoids behind and to the right. Each chamber sits in a
slightly larger ellipsoid of pericardial fat lined by the pericardium: the union of these is the pericardial
sac, whose per-slice bounding box is the heart box. Non-contrast CT shows blood and myocardium alike (~40 HU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tqgd.data.phantom.anatomy import Chest
from tqgd.data.phantom.config import BLOOD_HU, FAT_HU, MYOCARDIUM_HU, PERICARDIUM_HU, Tissue
from tqgd.data.phantom.shapes import Ellipse, SliceGrid, ellipsoid_matrix, ellipsoid_section, paint

PERICARDIUM_THICKNESS_MM = 1.2


@dataclass(frozen=True)
class Chamber:
    """One heart ellipsoid (centre mm, 3x3 matrix) and its pericardial-sac ellipsoid."""

    centre_mm: np.ndarray
    matrix: np.ndarray
    sac_matrix: np.ndarray
    lining_matrix: np.ndarray  # the sac shrunk by the pericardium's thickness (fat inside it)


@dataclass(frozen=True)
class Heart:
    """Per-patient heart pose, chambers and great vessels (mm, LPS)."""

    centre_mm: np.ndarray  # ventricles' centre
    frame: np.ndarray  # columns: long axis (base to apex), anterior, patient-left side
    ventricle_axes_mm: tuple[float, float, float]  # along the frame's columns
    chambers: tuple[Chamber, ...]
    aortic_root_mm: np.ndarray
    aorta_radius_mm: float
    pulmonary_trunk: tuple[float, float, float, float, float]  # x, y, radius, z from, z to
    svc: tuple[float, float, float, float]  # x, y, radius, z from (runs to the top of the scan)

    @property
    def z_range_mm(self) -> tuple[float, float]:
        """Lowest and highest z of the pericardial sac."""
        lows, highs = [], []
        for chamber in self.chambers:
            half = float(np.sqrt(np.linalg.inv(chamber.sac_matrix)[2, 2]))
            lows.append(chamber.centre_mm[2] - half)
            highs.append(chamber.centre_mm[2] + half)
        return min(lows), max(highs)

    def surface_point(self, s: float, phi_rad: float, offset_mm: float) -> np.ndarray:
        """Point offset_mm outside the ventricles' surface at long-axis position s (-1 base .. 1 apex), azimuth
        phi (0 anterior, +pi/2 patient left)."""
        a, b, c = self.ventricle_axes_mm
        e_long, e_ant, e_side = self.frame.T
        radial = np.sqrt(max(1.0 - s * s, 0.0))
        local = a * s * e_long + radial * (b * np.cos(phi_rad) * e_ant + c * np.sin(phi_rad) * e_side)
        normal = self.chambers[0].matrix @ local
        return self.centre_mm + local + offset_mm * normal / np.linalg.norm(normal)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _chamber(centre: np.ndarray, axes: tuple[float, float, float], frame: np.ndarray, fat_mm: float) -> Chamber:
    sac_axes = tuple(a + fat_mm for a in axes)
    lining_axes = tuple(a - PERICARDIUM_THICKNESS_MM for a in sac_axes)
    return Chamber(centre, ellipsoid_matrix(axes, frame), ellipsoid_matrix(sac_axes, frame),
                   ellipsoid_matrix(lining_axes, frame))


def sample_heart(rng: np.random.Generator, chest: Chest) -> Heart:
    """Draw the heart's size, position and tilt inside ``chest``, with its atria and great vessels."""
    cavity_y = chest.cavity[0]
    centre = np.array([rng.uniform(14, 28), cavity_y - rng.uniform(8, 16), 0.0])
    e_long = _unit(np.array([rng.uniform(0.6, 0.75), -rng.uniform(0.4, 0.55), -rng.uniform(0.35, 0.5)]))
    anterior = np.array([0.0, -1.0, 0.0])
    e_ant = _unit(anterior - (anterior @ e_long) * e_long)
    e_side = np.cross(e_long, e_ant)
    if e_side[0] < 0:
        e_side = -e_side
    frame = np.stack([e_long, e_ant, e_side], axis=1)
    axes = (rng.uniform(56, 63), rng.uniform(33, 38), rng.uniform(38, 44))
    fat = rng.uniform(7.5, 9.5)
    ventricles = _chamber(centre, axes, frame, fat)
    la_axes = (rng.uniform(28, 33), rng.uniform(19, 23), rng.uniform(21, 25))
    oesophagus_front = chest.oesophagus[1] - chest.oesophagus[2]
    la_y = min(centre[1] + rng.uniform(30, 36), oesophagus_front - la_axes[1] - 3.0 - 2.0)  # stays in front of it
    left_atrium = _chamber(np.array([centre[0] - 8.0, la_y, rng.uniform(22, 28)]), la_axes, np.eye(3), 3.0)
    right_atrium = _chamber(centre + np.array([-rng.uniform(44, 50), rng.uniform(2, 8), rng.uniform(8, 14)]),
                            (rng.uniform(23, 27), rng.uniform(24, 28), rng.uniform(28, 33)), np.eye(3), 3.0)
    root = centre - 0.78 * axes[0] * e_long + np.array([0.0, -10.0, 0.0])
    aorta_radius = rng.uniform(13.5, 16.5)
    trunk = (root[0] + 27.0, root[1] - 16.0, rng.uniform(12, 14), root[2] + 4.0, root[2] + rng.uniform(40, 55))
    svc = (root[0] - 29.0, root[1] + 8.0, rng.uniform(8, 10), root[2] + 6.0)
    return Heart(centre_mm=centre, frame=frame, ventricle_axes_mm=axes,
                 chambers=(ventricles, left_atrium, right_atrium), aortic_root_mm=root,
                 aorta_radius_mm=aorta_radius, pulmonary_trunk=trunk, svc=svc)


def paint_heart(heart: Heart, image: np.ndarray, tissue: np.ndarray, grid: SliceGrid, z_mm: float,
                edge_mm: float, myocardium_hu: float = MYOCARDIUM_HU,
                myocardium_tissue: int = Tissue.BLOOD) -> np.ndarray:
    """Paint sac, pericardial fat, great vessels and chambers at z_mm; return the sac coverage (Y, X).

    The chambers are painted solid at ``myocardium_hu`` (legacy: one grey for wall and blood); the realistic
    mode paints them as myocardium (``Tissue.MUSCLE``) and then hollows out the blood pools (``detail``)."""
    sac = np.zeros(image.shape, dtype=np.float32)
    for chamber in heart.chambers:
        painted = paint(image, grid, ellipsoid_section(chamber.centre_mm, chamber.sac_matrix, z_mm), PERICARDIUM_HU,
                        edge_mm, tissue, Tissue.OTHER_SOFT)
        if painted is not None:
            rows, cols, fraction = painted
            np.maximum(sac[rows, cols], fraction, out=sac[rows, cols])
    for chamber in heart.chambers:
        paint(image, grid, ellipsoid_section(chamber.centre_mm, chamber.lining_matrix, z_mm), FAT_HU, edge_mm,
              tissue, Tissue.FAT)
    _paint_great_vessels(heart, image, tissue, grid, z_mm, edge_mm)
    for chamber in heart.chambers:
        paint(image, grid, ellipsoid_section(chamber.centre_mm, chamber.matrix, z_mm), myocardium_hu, edge_mm,
              tissue, myocardium_tissue)
    return sac


def _paint_great_vessels(heart: Heart, image: np.ndarray, tissue: np.ndarray, grid: SliceGrid, z_mm: float,
                         edge_mm: float) -> None:
    """Ascending aorta (with its root bulb), pulmonary trunk and superior vena cava, each in a rim of fat."""
    root = heart.aortic_root_mm
    r = heart.aorta_radius_mm
    vessels = []
    if z_mm >= root[2]:
        vessels.append((root[0] - 3.0, root[1] - 3.0, r))
    elif z_mm > root[2] - r:
        bulb = np.sqrt((r + 2.0) ** 2 - (z_mm - root[2]) ** 2)
        vessels.append((root[0], root[1], bulb))
    x, y, radius, z_from, z_to = heart.pulmonary_trunk
    if z_from <= z_mm <= z_to:
        vessels.append((x, y, radius))
    x, y, radius, z_from = heart.svc
    if z_mm >= z_from:
        vessels.append((x, y, radius))
    for x, y, radius in vessels:
        paint(image, grid, Ellipse.circle(x, y, radius + 2.0), FAT_HU, edge_mm, tissue, Tissue.FAT)
    for x, y, radius in vessels:
        paint(image, grid, Ellipse.circle(x, y, radius), BLOOD_HU, edge_mm, tissue, Tissue.BLOOD)
