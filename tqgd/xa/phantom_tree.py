"""The phantom's 3D coronary tree, its calcium, its motion, and the C-arm that projects it.

Geometry is in mm, patient coordinates (DICOM LPS: +x left, +y posterior, +z head), isocentre at the origin.
The heart is an ellipsoid whose long axis points left, anterior and down; arteries run 1.5 mm outside its surface:
the left tree is a left main splitting into LAD (anterior groove, base to apex) and LCX (left AV groove) with
diagonal / marginal branches, the right tree an RCA along the right AV groove with a posterior descending branch.
Each vessel is a polyline of points ``(K, 3)`` with a radius per point and the path length from the ostium (the
contrast front travels along it). A catheter runs up to the ostium.

Cardiac motion moves every point towards the heart centre, twists it about the long axis and shifts it, scaled
by the waveform ``w`` of ``phantom_heart`` (apex and base move differently through the twist). Calcium deposits
sit on proximal and mid segments, offset from the centreline by less than the lumen leaves room for, so their
projection always lies inside the vessel's.

The C-arm: primary angle (LAO +, RAO -) about the patient's long axis, secondary angle (cranial +, caudal -)
about the left-right axis, source behind the patient at SOD from the isocentre, detector at SID from the source.
A point at depth ``d`` from the source is magnified ``SID / d``; pixels are ``imager spacing`` wide at the detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Arteries lie this far outside the heart surface (epicardial fat), mm.
EPICARDIAL_OFFSET_MM = 1.5
#: Sampling step along every vessel, mm.
STEP_MM = 1.5


@dataclass(frozen=True)
class Vessel:
    """One drawn tube: ``points`` (K, 3) mm, ``radius_mm`` (K,), ``path_mm`` (K,) from the ostium, motion weight (K,).

    ``wall`` is a constant attenuation (catheter wall; 0 for arteries); ``name`` for the ground truth.
    """

    name: str
    points: np.ndarray
    radius_mm: np.ndarray
    path_mm: np.ndarray
    motion_weight: np.ndarray
    wall: float = 0.0


@dataclass(frozen=True)
class Deposit:
    """One calcium deposit: on ``vessel`` at point index ``index``, offset (3,) mm from the centreline, along the
    vessel for ``length_mm``, ``thickness_mm`` across, with line-integral attenuation ``attenuation`` at its core."""

    vessel: str
    index: int
    offset_mm: np.ndarray
    length_mm: float
    thickness_mm: float
    attenuation: float


@dataclass(frozen=True)
class CardiacMotion:
    """Contraction towards ``centre`` (fraction), twist (degrees) about ``axis`` and a ``shift_mm`` (3,) at w = 1."""

    centre: np.ndarray
    axis: np.ndarray
    contraction: float
    twist_deg: float
    shift_mm: np.ndarray

    def move(self, points: np.ndarray, w: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """Points (K, 3) at waveform values ``w`` (F,) -> (F, K, 3); ``weight`` (K,) scales the motion per point."""
        w = np.asarray(w, dtype=np.float64)[:, None, None]
        if weight is not None:
            w = w * weight[None, :, None]
        rel = points[None] - self.centre
        along = (rel @ self.axis)[..., None] * self.axis
        across = rel - along
        angle = np.deg2rad(self.twist_deg) * w
        twisted = (across * np.cos(angle) + np.cross(self.axis, across) * np.sin(angle)) + along
        return self.centre + twisted * (1.0 - self.contraction * w) + self.shift_mm * w


@dataclass(frozen=True)
class CArm:
    """Angles (deg), distances (mm), imager pixel spacing (mm) and image size (px)."""

    primary_deg: float
    secondary_deg: float
    sid_mm: float
    sod_mm: float
    imager_spacing_mm: float
    size: int

    @property
    def magnification(self) -> float:
        """Magnification at the isocentre, SID / SOD."""
        return self.sid_mm / self.sod_mm

    def rotation(self) -> np.ndarray:
        """Patient -> C-arm frame (3, 3): beam along +y of the C-arm frame."""
        a, b = np.deg2rad(self.primary_deg), np.deg2rad(self.secondary_deg)
        rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
        return rx @ rz

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (..., 3) mm -> (pixel xy (..., 2) float, magnification (...,)). Column grows to patient left."""
        c = points @ self.rotation().T
        depth = self.sod_mm - c[..., 1]  # the source sits behind the patient, at +y = SOD (posterior)
        mag = self.sid_mm / depth
        half = self.size / 2.0
        x = half + c[..., 0] * mag / self.imager_spacing_mm
        y = half - c[..., 2] * mag / self.imager_spacing_mm
        return np.stack([x, y], axis=-1), mag


def _rotation_to(axis: np.ndarray) -> np.ndarray:
    """A rotation (3, 3) taking +z to unit ``axis`` (columns: two perpendiculars and the axis)."""
    axis = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(axis, u), axis], axis=1)


@dataclass(frozen=True)
class HeartShape:
    """Ellipsoid semi-axes (mm), centre (3,), long-axis frame (3, 3) (column 2 points base -> apex)."""

    semi_axes: np.ndarray
    centre: np.ndarray
    frame: np.ndarray

    def surface(self, polar: np.ndarray, azimuth: np.ndarray, offset_mm: float = EPICARDIAL_OFFSET_MM) -> np.ndarray:
        """Points (K, 3) at polar angle (0 = base, pi = apex) and azimuth, ``offset_mm`` outside the surface."""
        a, b, c = self.semi_axes + offset_mm
        local = np.stack([a * np.sin(polar) * np.cos(azimuth), b * np.sin(polar) * np.sin(azimuth),
                          -c * np.cos(polar)], axis=-1)
        return self.centre + local @ self.frame.T


def draw_heart(rng: np.random.Generator) -> HeartShape:
    """A heart of adult size, long axis left-anterior-inferior with some spread between patients."""
    axis = np.array([0.62, -0.45, -0.64]) + rng.normal(0, 0.08, 3)
    semi = np.array([rng.uniform(42, 52), rng.uniform(38, 46), rng.uniform(52, 62)])
    centre = np.array([rng.uniform(5, 25), rng.uniform(-5, 15), rng.uniform(-25, -5)])
    return HeartShape(semi_axes=semi, centre=centre, frame=_rotation_to(axis))


def _walk(rng: np.random.Generator, start: tuple[float, float], end: tuple[float, float], n: int,
          wiggle: float) -> tuple[np.ndarray, np.ndarray]:
    """(polar, azimuth) arrays (n,) from start to end with smooth random tortuosity ``wiggle`` (radians)."""
    s = np.linspace(0.0, 1.0, n)
    bump = np.zeros(n)
    for k in (2, 3, 5):
        bump += rng.normal(0, wiggle / k) * np.sin(np.pi * k * s + rng.uniform(0, np.pi))
    polar = start[0] + (end[0] - start[0]) * s + bump * np.sin(np.pi * s)
    azimuth = start[1] + (end[1] - start[1]) * s + np.roll(bump, n // 3) * np.sin(np.pi * s)
    return polar, azimuth


def _vessel(name: str, points: np.ndarray, r0: float, r1: float, path0: float, heart: HeartShape) -> Vessel:
    """Resample ``points`` every STEP_MM and taper the radius from r0 to r1."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    samples = np.arange(0.0, arc[-1], STEP_MM)
    pts = np.stack([np.interp(samples, arc, points[:, i]) for i in range(3)], axis=1)
    radius = np.linspace(r0, r1, len(samples))
    height = (pts - heart.centre) @ heart.frame[:, 2] / heart.semi_axes[2]
    weight = 0.8 + 0.4 * np.clip(height, -1, 1)  # apex moves more than base
    return Vessel(name=name, points=pts, radius_mm=radius, path_mm=path0 + samples, motion_weight=weight)


def draw_tree(rng: np.random.Generator, heart: HeartShape, side: str) -> list[Vessel]:
    """The left (LM, LAD, LCX, diagonals, marginals) or right (RCA, PDA) coronary tree as vessels."""
    base = 0.55 * np.pi
    n = 120
    vessels: list[Vessel] = []
    if side == "left":
        ant = rng.uniform(-0.35, -0.1) * np.pi
        lad_p, lad_a = _walk(rng, (base, ant), (0.96 * np.pi, ant + rng.uniform(-0.3, 0.1)), n, 0.08)
        lcx_p, lcx_a = _walk(rng, (base, ant), (base + rng.uniform(-0.05, 0.1), ant + rng.uniform(0.9, 1.3) * np.pi),
                             n, 0.05)
        ostium = heart.surface(np.array([0.5 * np.pi]), np.array([ant - 0.35]), 6.0)[0]
        lad = heart.surface(lad_p, lad_a)
        lcx = heart.surface(lcx_p, lcx_a)
        lm = np.linspace(ostium, lad[0], 8)
        lm_len = float(np.linalg.norm(lad[0] - ostium))
        vessels += [_vessel("LM", lm, 2.2, 2.0, 0.0, heart), _vessel("LAD", lad, 1.9, 0.7, lm_len, heart),
                    _vessel("LCX", lcx, 1.7, 0.8, lm_len, heart)]
        parents = [("D", "LAD", lad_p, lad_a, +1), ("OM", "LCX", lcx_p, lcx_a, -1)]
    else:
        ant = rng.uniform(0.05, 0.25) * np.pi
        start = (base, -ant - 0.6 * np.pi)
        rca_p, rca_a = _walk(rng, start, (base + 0.05, start[1] - rng.uniform(0.9, 1.2) * np.pi), n, 0.05)
        ostium = heart.surface(np.array([0.5 * np.pi]), np.array([start[1] + 0.3]), 6.0)[0]
        rca = heart.surface(rca_p, rca_a)
        stub = np.linspace(ostium, rca[0], 6)
        stub_len = float(np.linalg.norm(rca[0] - ostium))
        vessels += [_vessel("RCA0", stub, 2.2, 2.1, 0.0, heart), _vessel("RCA", rca, 2.0, 1.0, stub_len, heart)]
        parents = [("RV", "RCA", rca_p[: n // 2], rca_a[: n // 2], +1),
                   ("PDA", "RCA", rca_p[n // 2:], rca_a[n // 2:], -1)]
    for prefix, parent_name, p_p, p_a, sign in parents:
        parent = next(v for v in vessels if v.name == parent_name)
        for k in range(int(rng.integers(1, 4))):
            at = int(rng.uniform(0.15, 0.7) * len(p_p))
            length = int(rng.uniform(0.4, 0.7) * n)
            bp, ba = _walk(rng, (p_p[at], p_a[at]), (min(p_p[at] + rng.uniform(0.2, 0.4) * np.pi, 0.97 * np.pi),
                                                     p_a[at] + sign * rng.uniform(0.15, 0.4)), length, 0.04)
            pts = heart.surface(bp, ba)
            j = int(np.argmin(np.linalg.norm(parent.points - pts[0], axis=1)))
            r0 = float(min(1.2, parent.radius_mm[j] * 0.75))
            vessels.append(_vessel(f"{prefix}{k + 1}", pts, r0, 0.5, float(parent.path_mm[j]), heart))
    return vessels


def draw_catheter(rng: np.random.Generator, ostium: np.ndarray) -> Vessel:
    """A 6F guiding catheter (1 mm radius) from the descending aorta over the arch into the ostium."""
    arch_top = ostium + np.array([rng.uniform(-25, -10), rng.uniform(10, 25), rng.uniform(45, 60)])
    far = arch_top + np.array([rng.uniform(20, 35), rng.uniform(20, 35), -rng.uniform(120, 160)])
    ctrl = np.array([ostium, (ostium + arch_top) / 2 + np.array([-10, 0, 10]), arch_top,
                     (arch_top + far) / 2 + np.array([10, 0, 20]), far])
    t = np.linspace(0, 1, 200)[:, None]
    curve = np.zeros((200, 3))  # Bezier through the control points
    from math import comb

    for i, point in enumerate(ctrl):
        curve += comb(4, i) * t ** i * (1 - t) ** (4 - i) * point
    seg = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    samples = np.arange(0.0, arc[-1], STEP_MM)
    pts = np.stack([np.interp(samples, arc, curve[:, i]) for i in range(3)], axis=1)
    return Vessel(name="catheter", points=pts, radius_mm=np.full(len(pts), 1.0), path_mm=-samples,
                  motion_weight=np.exp(-samples / 40.0), wall=0.12)


def draw_deposits(rng: np.random.Generator, vessels: list[Vessel], count: int) -> list[Deposit]:
    """``count`` deposits on proximal/mid segments of vessels at least 1.2 mm in radius."""
    candidates = [(v, i) for v in vessels if v.wall == 0 for i in range(len(v.points))
                  if v.radius_mm[i] >= 1.2 and 3 <= i < len(v.points) - 3]
    deposits = []
    for _ in range(count if candidates else 0):
        vessel, index = candidates[int(rng.integers(len(candidates)))]
        radius = float(vessel.radius_mm[index])
        thickness = float(rng.uniform(0.35, 0.6) * radius)
        room = radius * 0.85 - thickness / 2  # centre offset that keeps the deposit inside the lumen's projection
        direction = rng.normal(size=3)
        tangent = vessel.points[index + 1] - vessel.points[index - 1]
        tangent /= np.linalg.norm(tangent)
        direction -= (direction @ tangent) * tangent
        direction /= np.linalg.norm(direction)
        deposits.append(Deposit(vessel=vessel.name, index=index, offset_mm=direction * rng.uniform(0, max(room, 0)),
                                length_mm=float(rng.uniform(2.0, 7.0)), thickness_mm=thickness,
                                attenuation=float(rng.uniform(0.04, 0.10))))
    return deposits
