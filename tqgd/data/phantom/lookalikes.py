"""Calcified look-alikes near the coronaries (realistic mode): never labelled, each listed in the truth by cause.

Per-patient probabilities, from published descriptions (the phantom's patients all carry coronary calcium, so the
rates of calcium-positive people are the reference where known):

- ``mitral_annulus`` (MAC), LOOKALIKE_SHARE 0.15: MAC was seen on cardiac CT in 9 % of MESA's 6,814 participants
  aged 45-84 (Kanjanauthai et al., Atherosclerosis 2010), in 4 % of those without coronary calcium and 9-19 % of
  those with it (Hamirani et al., Am J Cardiol 2011). Drawn as a chain of nodules on the posterior annulus,
  just inside the left atrioventricular groove, 1.5-3.5 mm beside the LCX's wall (MAC is the classic LCX
  look-alike).
- ``aortic_valve``, 0.25: aortic valve calcium was present in 13 % of MESA, rising from 5 % without coronary
  calcium to 14 %, 25 % and 38 % with CAC 1-99, 100-399 and >= 400 (Nasir et al., J Cardiovasc Comput Tomogr
  2010). Nodules on the cusps (``distractors.draw_aortic_valve``).
- ``aortic_root``, 0.30: plaques in the wall of the sinuses next to the coronary ostia. No published rate was at
  hand; 0.30 is an assumption, between the valve's rate and the higher rates of thoracic aortic calcification
  in older cohorts. (The ascending and descending aortic wall plaques of the legacy generator stay as they were.)
- ``pericardium``, 0.02: the normal pericardium holds no calcium; calcification is an uncommon incidental CT
  finding, mostly after pericarditis, cardiac surgery or radiation, and is present in most cases of constrictive
  pericarditis (StatPearls, Pericardial Calcification). 0.02 is an assumption for "uncommon". Drawn as thin
  curved plates in the pericardium over the atrioventricular grooves, 2.5-5 mm outside the RCA or LCX.
- ``lymph_node``, 0.10: calcified mediastinal nodes follow healed granulomatous infection (tuberculosis,
  histoplasmosis) and are frequent where those are endemic; 0.10 is an assumption. Drawn in the fat around the
  aortic root and pulmonary trunk, 5-30 mm from the coronary ostia.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tqgd.data.phantom.arteries import Artery
from tqgd.data.phantom.calcium import CalcifiedObject
from tqgd.data.phantom.groups import Group
from tqgd.data.phantom.heart import Heart
from tqgd.data.phantom.shapes import ellipsoid_matrix

#: Per-patient probability of each look-alike (see the module docstring for the sources).
LOOKALIKE_SHARE = {"mitral_annulus": 0.15, "aortic_valve": 0.25, "aortic_root": 0.30, "pericardium": 0.02,
                   "lymph_node": 0.10}
#: (min, max) objects of a kind when the patient has it.
LOOKALIKE_COUNT = {"mitral_annulus": (1, 1), "aortic_valve": (1, 3), "aortic_root": (1, 3), "pericardium": (1, 3),
                   "lymph_node": (1, 3)}
CALCIFICATION_DENSITY_HU = (300.0, 1100.0)
#: Angles (deg, atan2 in the axial plane about the root) of the left and right coronary ostia; root plaques keep
#: OSTIUM_CLEARANCE_DEG away from them so the coronary lumen stays clear.
OSTIUM_ANGLES_DEG = (-32.0, -117.0)
OSTIUM_CLEARANCE_DEG = 25.0


def _density(rng: np.random.Generator, factor: float) -> float:
    return float(np.exp(rng.uniform(*np.log(CALCIFICATION_DENSITY_HU)))) * factor


def _frame(tangent: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Rotation whose columns are (tangent, normal, their cross product), orthonormalised."""
    t = tangent / np.linalg.norm(tangent)
    n = normal - (normal @ t) * t
    n /= np.linalg.norm(n)
    return np.stack([t, n, np.cross(t, n)], axis=1)


def _beside_artery(artery: Artery, heart: Heart, rng: np.random.Generator, span: tuple[float, float],
                   length_mm: float, offset_mm: Callable[[float], float], inward: bool) -> list[tuple[np.ndarray, ...]]:
    """(point, tangent, normal) every 2 mm along a stretch of ``artery``, moved offset_mm(lumen) towards the
    ventricles' long axis (``inward``) or away from it, perpendicular to the vessel."""
    start = rng.uniform(span[0], span[1]) * artery.length_mm
    out = []
    axis, centre = heart.frame[:, 0], heart.centre_mm
    for arc in np.arange(start, min(start + length_mm, artery.length_mm - 1.0), 2.0):
        point, tangent, lumen = artery.at(arc)
        d = point - centre
        radial = d - (d @ axis) * axis
        radial -= (radial @ tangent) * tangent
        norm = np.linalg.norm(radial)
        if norm < 1e-6:
            continue
        radial /= norm
        out.append((point + (-1.0 if inward else 1.0) * offset_mm(lumen) * radial, tangent, radial))
    return out


def draw_mitral_annulus(rng: np.random.Generator, heart: Heart, arteries: tuple[Artery, ...], factor: float) -> Group:
    """A C-shaped chain of calcified nodules on the posterior mitral annulus, which lies just inside the left
    atrioventricular groove and so runs alongside the LCX, a few mm from it (the classic LCX look-alike)."""
    lcx = next(a for a in arteries if a.name == "LCX")
    thickness = rng.uniform(1.2, 2.6)
    clearance = rng.uniform(1.5, 3.5)
    stretch = _beside_artery(lcx, heart, rng, (0.05, 0.35), rng.uniform(20.0, 45.0),
                             lambda lumen: lumen + thickness + clearance, inward=True)
    density = _density(rng, factor)
    ellipsoids = []
    for point, tangent, radial in stretch:
        local = thickness * rng.uniform(0.7, 1.2)
        ellipsoids.append((point, ellipsoid_matrix((1.8, local, local * rng.uniform(0.7, 1.0)),
                                                   _frame(tangent, radial))))
    parts = [CalcifiedObject(kind="mitral_annulus", ellipsoids=ellipsoids, density_hu=density, size_mm=thickness)]
    return Group("mitral_annulus", parts, density, float(thickness))


def draw_aortic_root(rng: np.random.Generator, heart: Heart, factor: float) -> Group | None:
    """A plaque in the wall of an aortic sinus, clear of the coronary ostia."""
    root, radius = heart.aortic_root_mm, heart.aorta_radius_mm + 2.0
    angle = rng.uniform(-180.0, 180.0)
    if min(abs((angle - o + 180) % 360 - 180) for o in OSTIUM_ANGLES_DEG) < OSTIUM_CLEARANCE_DEG:
        return None
    alpha = np.radians(angle)
    radial = np.array([np.cos(alpha), np.sin(alpha), 0.0])
    dz = rng.uniform(-0.6 * heart.aorta_radius_mm, 10.0)
    wall = np.sqrt(max(radius**2 - min(dz, 0.0) ** 2, 4.0))
    centre = root + np.array([0.0, 0.0, dz]) + (wall - 0.8) * radial
    axes = (rng.uniform(1.5, 4.5), rng.uniform(0.6, 1.4), rng.uniform(1.5, 4.0))
    density = _density(rng, factor)
    matrix = ellipsoid_matrix(axes, _frame(np.array([-radial[1], radial[0], 0.0]), radial))
    parts = [CalcifiedObject(kind="aortic_root", ellipsoids=[(centre, matrix)], density_hu=density,
                             size_mm=float(max(axes)))]
    return Group("aortic_root", parts, density, float(max(axes)))


def draw_pericardium(rng: np.random.Generator, heart: Heart, arteries: tuple[Artery, ...], factor: float) -> Group:
    """A thin curved plate in the pericardium over an atrioventricular groove (over the RCA or the LCX), where
    pericardial calcification gathers, a few mm outside the artery."""
    name = "RCA" if rng.random() < 0.6 else "LCX"
    artery = next(a for a in arteries if a.name == name)
    thickness = rng.uniform(0.6, 1.3)
    gap = rng.uniform(2.5, 5.0)
    stretch = _beside_artery(artery, heart, rng, (0.1, 0.6), rng.uniform(8.0, 30.0),
                             lambda lumen: lumen + thickness + gap, inward=False)
    density = _density(rng, factor)
    ellipsoids = [(point, ellipsoid_matrix((2.2, thickness, rng.uniform(2.0, 4.0)), _frame(tangent, radial)))
                  for point, tangent, radial in stretch]
    parts = [CalcifiedObject(kind="pericardium", ellipsoids=ellipsoids, density_hu=density, size_mm=thickness)]
    return Group("pericardium", parts, density, float(2.0 * len(ellipsoids)))


def draw_lymph_node(rng: np.random.Generator, heart: Heart, factor: float) -> Group:
    """A calcified node (one to three nodules) in the fat around the aortic root and pulmonary trunk."""
    root, radius = heart.aortic_root_mm, heart.aorta_radius_mm
    alpha = np.radians(rng.uniform(-160, 60))
    distance = radius + rng.uniform(5.0, 15.0)
    centre = root + np.array([distance * np.cos(alpha), distance * np.sin(alpha), rng.uniform(-2.0, 28.0)])
    size = rng.uniform(2.0, 5.0)
    density = _density(rng, factor) * rng.uniform(0.6, 1.0)
    ellipsoids = []
    for _ in range(int(rng.integers(1, 4))):
        offset = rng.normal(0, 0.5 * size, 3)
        semi = size * rng.uniform(0.4, 0.8, 3)
        ellipsoids.append((centre + offset, ellipsoid_matrix(tuple(semi), np.linalg.qr(rng.normal(0, 1, (3, 3)))[0])))
    parts = [CalcifiedObject(kind="lymph_node", ellipsoids=ellipsoids, density_hu=density, size_mm=size)]
    return Group("lymph_node", parts, density, float(size))
