"""The three coronary arteries as 3D centrelines on the heart's surface, and their lumen in each slice.

LAD (OrCaScore label 1, including the left main) leaves the aorta's left sinus and runs down the anterior
interventricular groove to the apex; LCX (2) branches off and follows the left atrioventricular groove round to
the back; RCA (3) leaves the right sinus and follows the right atrioventricular groove round to the back, then
down the posterior interventricular groove. The vessels lie a few mm outside the myocardium, in epicardial fat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tqgd.data.orcascore import ARTERY_LABELS
from tqgd.data.phantom.config import BLOOD_HU, FAT_HU, Tissue
from tqgd.data.phantom.heart import Heart
from tqgd.data.phantom.shapes import Ellipse, SliceGrid, paint

#: Distance between centreline samples; no more than the smallest lumen radius so painted discs join up.
CENTRELINE_STEP_MM = 0.6
#: Distance of the centreline outside the myocardium (epicardial fat).
ARTERY_OFFSET_MM = 3.0
#: Epicardial fat around each artery, beyond its lumen: the atrioventricular and interventricular grooves.
GROOVE_FAT_MM = 2.0
_LABEL_OF = {name: label for label, name in ARTERY_LABELS.items()}


@dataclass(frozen=True)
class Artery:
    """One coronary artery: centreline samples (N, 3) mm from the ostium, lumen radius (N,) and arc length (N,)."""

    name: str
    points_mm: np.ndarray
    radius_mm: np.ndarray
    arc_mm: np.ndarray

    @property
    def label(self) -> int:
        """OrCaScore label value (1 LAD, 2 LCX, 3 RCA)."""
        return _LABEL_OF[self.name]

    @property
    def length_mm(self) -> float:
        """Centreline length from the ostium."""
        return float(self.arc_mm[-1])

    def at(self, arc_mm: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(point, unit tangent, lumen radius) at arc length arc_mm."""
        i = int(np.clip(np.searchsorted(self.arc_mm, arc_mm), 1, len(self.arc_mm) - 1))
        tangent = self.points_mm[i] - self.points_mm[i - 1]
        return self.points_mm[i], tangent / np.linalg.norm(tangent), float(self.radius_mm[i])


def _resample(polyline: np.ndarray, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every step_mm along a polyline (M, 3), and their arc lengths."""
    seg = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    samples = np.arange(0.0, arc[-1], step_mm)
    points = np.stack([np.interp(samples, arc, polyline[:, k]) for k in range(3)], axis=1)
    return points, samples


def _line(a: np.ndarray, b: np.ndarray, n: int = 20) -> np.ndarray:
    return a[None, :] + np.linspace(0.0, 1.0, n)[:, None] * (b - a)[None, :]


def _onto_surface(heart: Heart, polyline: np.ndarray, offset_mm: float, rounds: int = 3) -> np.ndarray:
    """Push points that lie inside any chamber out to offset_mm beyond its surface, so a vessel follows the
    crease between atrium and ventricle instead of crossing the blood pool."""
    points = polyline.copy()
    for _ in range(rounds):
        for chamber in heart.chambers:
            d = points - chamber.centre_mm
            q = np.einsum("ni,ij,nj->n", d, chamber.matrix, d)
            length = np.linalg.norm(d, axis=1)
            radius = length / np.sqrt(np.maximum(q, 1e-12))  # ellipsoid radius along each point's direction
            inside = length < radius + offset_mm
            scale = (radius[inside] + offset_mm) / np.maximum(length[inside], 1e-9)
            points[inside] = chamber.centre_mm + d[inside] * scale[:, None]
    return points


def _build(name: str, polyline: np.ndarray, radius_from_mm: float, radius_to_mm: float) -> Artery:
    points, arc = _resample(polyline, CENTRELINE_STEP_MM)
    radius = radius_from_mm + (radius_to_mm - radius_from_mm) * arc / arc[-1]
    return Artery(name, points, radius, arc)


def sample_arteries(rng: np.random.Generator, heart: Heart) -> tuple[Artery, ...]:
    """Draw the LAD, LCX and RCA courses on ``heart`` (grooves jittered per patient)."""
    s_av = rng.uniform(-0.6, -0.5)
    phi_lad = np.radians(rng.uniform(12, 30))
    wiggle = rng.uniform(0, 2 * np.pi, 3)

    def surface(s: np.ndarray, phi: np.ndarray) -> np.ndarray:
        return np.stack([heart.surface_point(float(a), float(b), ARTERY_OFFSET_MM) for a, b in zip(s, phi)])

    root, r_ao = heart.aortic_root_mm, heart.aorta_radius_mm
    left_ostium = root + r_ao * np.array([0.85, -0.53, 0.0]) + np.array([0.0, 0.0, 4.0])
    right_ostium = root + r_ao * np.array([-0.45, -0.89, 0.0]) + np.array([0.0, 0.0, 3.0])

    s = np.linspace(s_av, 0.93, 120)
    lad = surface(s, phi_lad + np.radians(5) * np.sin(6 * s + wiggle[0]))
    lm = _line(left_ostium, lad[0])
    phi = np.linspace(phi_lad + np.radians(18), np.radians(rng.uniform(140, 165)), 100)
    lcx = surface(s_av + 0.12 * (phi - phi[0]) / (phi[-1] - phi[0]) + 0.03 * np.sin(4 * phi + wiggle[1]), phi)
    phi = np.linspace(-np.radians(rng.uniform(18, 32)), -np.pi, 120)
    rca_groove = surface(s_av + 0.03 * np.sin(4 * phi + wiggle[2]), phi)
    pda = surface(np.linspace(s_av, rng.uniform(0.35, 0.55), 60), np.full(60, -np.pi + np.radians(15)))
    rca = np.concatenate([_line(right_ostium, rca_groove[0]), rca_groove, pda])
    courses = {"LAD": np.concatenate([lm, lad]), "LCX": np.concatenate([lad[:1], lcx]), "RCA": rca}
    courses = {name: np.concatenate([course[:1], _onto_surface(heart, course[1:], ARTERY_OFFSET_MM)])
               for name, course in courses.items()}
    return (_build("LAD", courses["LAD"], 2.2, 0.8),
            _build("LCX", courses["LCX"], 1.7, 0.9),
            _build("RCA", courses["RCA"], 1.9, 1.0))


def paint_arteries(arteries: tuple[Artery, ...], image: np.ndarray, tissue: np.ndarray, grid: SliceGrid,
                   z_mm: float, thickness_mm: float, edge_mm: float) -> None:
    """Paint each artery's groove fat, then its lumen, where the centreline crosses the slab z_mm +- thickness/2."""
    crossing = []
    for artery in arteries:
        inside = np.abs(artery.points_mm[:, 2] - z_mm) <= thickness_mm / 2
        crossing.extend(zip(artery.points_mm[inside, 0], artery.points_mm[inside, 1], artery.radius_mm[inside]))
    for x, y, radius in crossing:
        paint(image, grid, Ellipse.circle(float(x), float(y), float(radius) + GROOVE_FAT_MM), FAT_HU, edge_mm,
              tissue, Tissue.FAT)
    for x, y, radius in crossing:
        paint(image, grid, Ellipse.circle(float(x), float(y), float(radius)), BLOOD_HU, edge_mm, tissue,
              Tissue.BLOOD)
