"""Metal in the chest (realistic mode): sternal wires, coronary stents, surgical clips, pacemaker/ICD leads.

None of it is ever labelled. A stent sits inside a coronary artery, but calcium scoring references such as
OrCaScore score calcified plaque only: stent metal is not calcium and is left out of the reference (and coronary
lesions are never placed touching a stent; see ``groups.place_group`` / ``calcium.fits``), so a detector must
learn to ignore it. Every metal object is listed in the truth sidecar with its cause (``sternal_wire``,
``stent``, ``clip``, ``lead``), and the per-patient probability of each kind (``PhantomConfig.*_share``) and
whether the patient got it are recorded there too.

Metal is modelled with a high effective density (partial volume through a 2.5-3 mm slice brings a 1 mm wire
to a few thousand HU, clipped at 3071 like a 12-bit scanner), an extra in-plane blur (blooming), and streaks
from ``streaks.add_streaks``. Default probabilities (assumptions for a mixed calcium-scoring / chest-CT
population, not measured rates): sternal wires 5 % (previous sternotomy, mostly bypass surgery), stents 6 %,
clips 5 % (bypass grafts, mediastinal surgery), leads 3 % (pacemaker or ICD).
"""

from __future__ import annotations

import numpy as np

from tqgd.data.phantom.anatomy import Chest
from tqgd.data.phantom.arteries import Artery
from tqgd.data.phantom.calcium import CalcifiedObject
from tqgd.data.phantom.groups import Group
from tqgd.data.phantom.heart import Heart
from tqgd.data.phantom.lookalikes import _frame
from tqgd.data.phantom.shapes import ellipsoid_matrix

#: Effective HU of solid metal before partial volume (steel wires, clips, lead conductors).
WIRE_DENSITY_HU = 14000.0
LEAD_DENSITY_HU = 6000.0
#: A stent's wall: struts of 80-100 um steel or cobalt-chromium covering 15-25 % of the vessel wall, far below a
#: voxel, drawn as a shell STENT_WALL_MM thick of their coverage-averaged density; the lumen inside stays blood,
#: so a wide stent shows a bright ring round a darker centre and a narrow one blooms into a blob.
STENT_WALL_MM = 0.3
STENT_WALL_HU = (9000.0, 16000.0)
#: Shell pieces round the circumference and their spacing along the vessel.
STENT_RING_PIECES = 12
STENT_STEP_MM = 0.5
#: Stents are split into parts this long (see ``groups``).
STENT_PART_MM = 6.0
#: Extra in-plane blur of metal (sigma, mm): blooming.
BLOOM_MM = (0.3, 0.6)
#: Stents: which artery (weights) and how long (mm).
STENT_ARTERY_WEIGHTS = {"LAD": 0.5, "RCA": 0.3, "LCX": 0.2}
STENT_LENGTH_MM = (12.0, 30.0)
#: Leads are split into parts of this many ellipsoids (see ``groups``).
LEAD_PART_ELLIPSOIDS = 10
LEAD_STEP_MM = 1.6


def _chain(points: np.ndarray, radius_mm: float, along_mm: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ellipsoids of ``radius_mm`` (stretched to along_mm along the path) centred on each point of a polyline."""
    out = []
    for i, point in enumerate(points):
        tangent = points[min(i + 1, len(points) - 1)] - points[max(i - 1, 0)]
        helper = np.array([0.0, 0.0, 1.0]) if abs(tangent[2]) < 0.9 * np.linalg.norm(tangent) else np.array([1.0, 0, 0])
        frame = _frame(tangent, np.cross(tangent, helper))
        out.append((point, ellipsoid_matrix((along_mm, radius_mm, radius_mm), frame)))
    return out


def _split(kind: str, ellipsoids: list, density: float, size: float, per_part: int, bloom: float) -> Group:
    parts = [CalcifiedObject(kind=kind, ellipsoids=ellipsoids[i:i + per_part], density_hu=density, size_mm=size)
             for i in range(0, len(ellipsoids), per_part)]
    return Group(kind, parts, density, size, bloom)


def draw_sternal_wires(rng: np.random.Generator, chest: Chest, z_limits_mm: tuple[float, float]) -> Group | None:
    """Five to seven wire loops round the sternum, 15-25 mm apart, each a chain of 1 mm wire with a twisted knot."""
    top = z_limits_mm[1] + rng.uniform(-5.0, 30.0)
    spacing = rng.uniform(15.0, 25.0)
    levels = [top - i * spacing for i in range(int(rng.integers(5, 8)))]
    levels = [z for z in levels if chest.sternum_bottom_z_mm + 5 < z and z_limits_mm[0] - 3 < z < z_limits_mm[1] + 3]
    if not levels:
        return None
    sy = chest.sternum_y_mm
    ellipsoids = []
    for z in levels:
        tilt = rng.normal(0, 0.08)
        angles = np.arange(0, 2 * np.pi, 1.5 / 16.0)
        loop = np.stack([16.0 * np.cos(angles), sy + 8.5 * np.sin(angles), z + tilt * 16.0 * np.cos(angles)], axis=1)
        ellipsoids += _chain(loop, 0.5, 1.2)
        knot = np.array([rng.uniform(-3, 3), sy - 9.5, z])
        ellipsoids.append((knot, ellipsoid_matrix((2.5, 1.2, 1.2), np.eye(3))))
    return _split("sternal_wire", ellipsoids, WIRE_DENSITY_HU, 1.0, 40, float(rng.uniform(*BLOOM_MM)))


def _stent_rings(artery: Artery, start: float, length: float, z_limits_mm: tuple[float, float]) -> list:
    """Shell pieces (centre, matrix) of a stent on ``artery`` from arc ``start`` over ``length`` mm, at the lumen
    wall: STENT_RING_PIECES flat ellipsoids round the circumference every STENT_STEP_MM along the vessel."""
    angles = 2 * np.pi * np.arange(STENT_RING_PIECES) / STENT_RING_PIECES
    out = []
    for arc in np.arange(start, start + length, STENT_STEP_MM):
        point, tangent, lumen = artery.at(arc)
        if not z_limits_mm[0] - 2 <= point[2] <= z_limits_mm[1] + 2:
            continue
        helper = np.array([0.0, 0.0, 1.0]) if abs(tangent[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        frame = _frame(tangent, np.cross(tangent, helper))
        half_arc = 0.6 * np.pi * lumen / STENT_RING_PIECES  # pieces overlap a little so the shell is closed
        for angle in angles:
            radial = np.cos(angle) * frame[:, 1] + np.sin(angle) * frame[:, 2]
            piece = np.stack([tangent, radial, np.cross(tangent, radial)], axis=1)
            out.append((point + lumen * radial,
                        ellipsoid_matrix((0.6 * STENT_STEP_MM, STENT_WALL_MM / 2, half_arc), piece)))
    return out


def draw_stent(rng: np.random.Generator, arteries: tuple[Artery, ...],
               z_limits_mm: tuple[float, float]) -> Group | None:
    """A stent in a proximal-to-mid coronary segment: a tube of strut mesh at the lumen wall (``_stent_rings``)."""
    names = list(STENT_ARTERY_WEIGHTS)
    name = names[int(rng.choice(len(names), p=list(STENT_ARTERY_WEIGHTS.values())))]
    artery = next(a for a in arteries if a.name == name)
    length = rng.uniform(*STENT_LENGTH_MM)
    start = rng.uniform(5.0, max(6.0, 0.5 * artery.length_mm - length))
    ellipsoids = _stent_rings(artery, start, length, z_limits_mm)
    if len(ellipsoids) < 8 * STENT_RING_PIECES:
        return None
    per_part = int(STENT_PART_MM / STENT_STEP_MM) * STENT_RING_PIECES
    group = _split("stent", ellipsoids, float(rng.uniform(*STENT_WALL_HU)), float(length), per_part,
                   float(rng.uniform(*BLOOM_MM)))
    for part in group.parts:
        part.artery = name
    return group


def draw_clips(rng: np.random.Generator, chest: Chest, heart: Heart,
               z_limits_mm: tuple[float, float]) -> Group | None:
    """Two to eight surgical clips: along the left internal mammary artery bed or on the heart's front."""
    ellipsoids = []
    for _ in range(int(rng.integers(2, 9))):
        if rng.random() < 0.5:
            centre = np.array([rng.uniform(12, 30), chest.sternum_y_mm + rng.uniform(4, 10),
                               rng.uniform(*z_limits_mm)])
        else:
            centre = heart.surface_point(rng.uniform(-0.6, 0.4), np.radians(rng.uniform(-40, 60)),
                                         rng.uniform(4.0, 7.0))
            if not z_limits_mm[0] <= centre[2] <= z_limits_mm[1]:
                continue
        rotation = np.linalg.qr(rng.normal(0, 1, (3, 3)))[0]
        ellipsoids.append((centre, ellipsoid_matrix((rng.uniform(2.0, 3.5), 0.5, 1.0), rotation)))
    if not ellipsoids:
        return None
    return _split("clip", ellipsoids, WIRE_DENSITY_HU, 3.0, 1, float(rng.uniform(*BLOOM_MM)))


def _bezier(points: np.ndarray, step_mm: float) -> np.ndarray:
    """A smooth path through control points (quadratic B-spline by corner cutting), resampled every step_mm."""
    path = points
    for _ in range(4):
        q = 0.75 * path[:-1] + 0.25 * path[1:]
        r = 0.25 * path[:-1] + 0.75 * path[1:]
        path = np.concatenate([path[:1], np.stack([q, r], axis=1).reshape(-1, 3), path[-1:]])
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    samples = np.arange(0.0, arc[-1], step_mm)
    return np.stack([np.interp(samples, arc, path[:, k]) for k in range(3)], axis=1)


def draw_leads(rng: np.random.Generator, heart: Heart, z_limits_mm: tuple[float, float]) -> Group | None:
    """A pacemaker or ICD lead down the superior vena cava, through the right atrium to the right-ventricular apex,
    and (dual chamber, 60 %) a second one curling into the right atrial appendage."""
    x, y, _, svc_from = heart.svc
    right_atrium = heart.chambers[2].centre_mm
    a, b, c = heart.ventricle_axes_mm
    e_long, e_ant, e_side = heart.frame.T
    apex = heart.centre_mm + 0.6 * a * e_long - 0.45 * c * e_side + 0.15 * b * e_ant
    top = np.array([x, y, z_limits_mm[1] + 20.0])
    radius = rng.uniform(0.8, 1.3)  # ICD leads are thicker than pacing leads
    ellipsoids = []
    ventricular = _bezier(np.array([top, [x, y, svc_from], right_atrium + [5, 0, -5], apex]), LEAD_STEP_MM)
    ellipsoids += _chain(ventricular, radius, 1.2)
    ellipsoids.append((apex, ellipsoid_matrix((2.5, 1.5, 1.5), np.eye(3))))  # tip electrode
    if rng.random() < 0.6:
        appendage = right_atrium + np.array([8.0, -18.0, 14.0])
        atrial = _bezier(np.array([top, [x, y, svc_from], right_atrium + [0, 5, -10], appendage]), LEAD_STEP_MM)
        ellipsoids += _chain(atrial, 0.8, 1.2)
    ellipsoids = [e for e in ellipsoids if z_limits_mm[0] - 3 <= e[0][2] <= z_limits_mm[1] + 3]
    if not ellipsoids:
        return None
    return _split("lead", ellipsoids, LEAD_DENSITY_HU, float(2 * radius), LEAD_PART_ELLIPSOIDS,
                  float(rng.uniform(*BLOOM_MM)))
