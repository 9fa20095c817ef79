"""Calcified look-alikes near the coronaries (realistic mode): never labelled, each listed in the truth by cause.

Per-patient probabilities, from published descriptions (the phantom's patients all carry coronary calcium, so the
rates of calcium-positive people are the reference where known):

- ``mitral_annulus`` (MAC), LOOKALIKE_SHARE 0.15: MAC was seen on cardiac CT in 9 % of MESA's 6,814 participants
  aged 45-84 (Kanjanauthai et al., Atherosclerosis 2010), in 4 % of those without coronary calcium and 9-19 % of
  those with it (Hamirani et al., Am J Cardiol 2011). Drawn as a C-shaped chain of nodules on the posterior
  annulus, between the left atrium and the left ventricle.
- ``aortic_valve``, 0.25: aortic valve calcium was present in 13 % of MESA, rising from 5 % without coronary
  calcium to 14 %, 25 % and 38 % with CAC 1-99, 100-399 and >= 400 (Nasir et al., J Cardiovasc Comput Tomogr
  2010). Nodules on the cusps (``distractors.draw_aortic_valve``).
- ``aortic_root``, 0.30: plaques in the wall of the sinuses next to the coronary ostia. No published rate was at
  hand; 0.30 is an assumption, between the valve's rate and the higher rates of thoracic aortic calcification
  in older cohorts. (The ascending and descending aortic wall plaques of the legacy generator stay as they were.)
- ``pericardium``, 0.02: the normal pericardium holds no calcium; calcification is an uncommon incidental CT
  finding, mostly after pericarditis, cardiac surgery or radiation, and is present in most cases of constrictive
  pericarditis (StatPearls, Pericardial Calcification). 0.02 is an assumption for "uncommon". Drawn as thin
  curved plates on the sac over the right ventricle and the atrioventricular grooves.
- ``lymph_node``, 0.10: calcified mediastinal nodes follow healed granulomatous infection (tuberculosis,
  histoplasmosis) and are frequent where those are endemic; 0.10 is an assumption. Drawn in the fat around the
  aortic root and pulmonary trunk, 5-30 mm from the coronary ostia.
"""

from __future__ import annotations

import numpy as np

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


def draw_mitral_annulus(rng: np.random.Generator, heart: Heart, factor: float) -> Group:
    """A C-shaped chain of calcified nodules on the posterior mitral annulus."""
    a, b, c = heart.ventricle_axes_mm
    e_long, e_ant, e_side = heart.frame.T
    base = heart.centre_mm - 0.72 * a * e_long + 0.25 * c * e_side - 0.08 * b * e_ant
    atrium = heart.chambers[1].centre_mm
    axis = (atrium - base) / np.linalg.norm(atrium - base)
    centre = base + 0.3 * (atrium - base)
    u = np.array([0.0, 1.0, 0.0]) - axis[1] * axis  # posterior direction projected onto the annulus plane
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    radius = rng.uniform(12.0, 16.0)
    span = np.radians(rng.uniform(90, 220))
    middle = rng.normal(0, 0.3)
    angles = np.arange(middle - span / 2, middle + span / 2, 2.2 / radius)
    thickness = rng.uniform(1.2, 2.6)
    density = _density(rng, factor)
    ellipsoids = []
    for angle in angles:
        radial = np.cos(angle) * u + np.sin(angle) * v
        tangent = np.cross(axis, radial)
        local = thickness * rng.uniform(0.7, 1.2)
        ellipsoids.append((centre + radius * radial,
                           ellipsoid_matrix((1.8, local, local * rng.uniform(0.7, 1.0)), _frame(tangent, radial))))
    parts = [CalcifiedObject(kind="mitral_annulus", ellipsoids=ellipsoids, density_hu=density, size_mm=thickness)]
    return Group("mitral_annulus", parts, density, float(radius))


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


def _pericardial_fat_mm(heart: Heart) -> float:
    """Distance from the ventricles' surface to the pericardium (fat under the sac, mm)."""
    e_long = heart.frame[:, 0]
    sac_long = 1.0 / np.sqrt(float(e_long @ heart.chambers[0].sac_matrix @ e_long))
    return sac_long - heart.ventricle_axes_mm[0]


def draw_pericardium(rng: np.random.Generator, heart: Heart, factor: float) -> Group:
    """A thin curved plate in the pericardium over the right ventricle or an atrioventricular groove."""
    offset = _pericardial_fat_mm(heart) - 0.6
    s0 = rng.uniform(-0.6, 0.5)
    phi0 = np.radians(rng.choice([rng.uniform(-150, -40), rng.uniform(60, 150)]))
    length = rng.uniform(8.0, 30.0)
    steps = max(int(length / 2.5), 2)
    direction = rng.uniform(0, 2 * np.pi)
    thickness = rng.uniform(0.6, 1.3)
    density = _density(rng, factor)
    ellipsoids = []
    previous = heart.surface_point(s0, phi0, offset)
    for i in range(1, steps + 1):
        t = i / steps
        s = s0 + 0.25 * t * np.cos(direction) * length / 30.0
        phi = phi0 + 0.5 * t * np.sin(direction) * length / 30.0
        point = heart.surface_point(s, phi, offset)
        normal = point - heart.surface_point(s, phi, offset - 1.0)
        tangent = point - previous if np.linalg.norm(point - previous) > 1e-6 else np.cross(normal, [0.0, 0.0, 1.0])
        ellipsoids.append((point, ellipsoid_matrix((2.2, thickness, rng.uniform(2.0, 4.0)), _frame(tangent, normal))))
        previous = point
    parts = [CalcifiedObject(kind="pericardium", ellipsoids=ellipsoids, density_hu=density, size_mm=thickness)]
    return Group("pericardium", parts, density, float(length))


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
