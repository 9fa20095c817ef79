"""The chest around the heart: body wall, lungs and their vessels, mediastinum, descending aorta, liver, bones.

Patient millimetres, LPS (x to the patient's left, y posterior, z superior); the body axis is x = y = 0 and the
heart's ventricles are centred at z = 0. The chest wall and lung cavity do not change along z (they change
little over a 12-15 cm cardiac scan), so they are painted once per patient and copied into every slice;
everything else is cut per slice. Bone HU are scaled by the tube-voltage factor (calcium-like attenuation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tqgd.data.phantom.config import (
    AIR_HU, BLOOD_HU, CANCELLOUS_BONE_HU, CARTILAGE_HU, CORTICAL_BONE_HU, CSF_HU, DISC_HU, FAT_HU, LIVER_HU,
    LUNG_HU, MUSCLE_HU, Tissue,
)
from tqgd.data.phantom.shapes import Ellipse, SliceGrid, coverage, ellipsoid_matrix, ellipsoid_section, paint

#: Lungs are denser posteriorly (gravity-dependent); HU difference between the back and the front of the lung.
LUNG_GRADIENT_HU = 70.0
#: Vessels per lung, running out from the hilum.
LUNG_VESSELS_PER_SIDE = 45
#: Ribs are modelled from this many pitches above the heart centre to this many below.
RIBS_ABOVE, RIBS_BELOW = 6, 5
#: Fraction of a rib's posterior-to-anterior course that is costal cartilage rather than bone.
RIB_BONE_END, RIB_CARTILAGE_END = 0.78, 0.92
DISC_THICKNESS_MM = 5.0
#: Where the shoulder blades lie on the back of the rib cage (angle from the spine, radians).
SCAPULA_THETA = 0.28 * np.pi


@dataclass(frozen=True)
class Tube:
    """A straight vessel segment (start and end in patient mm) with a constant radius."""

    start_mm: np.ndarray
    end_mm: np.ndarray
    radius_mm: float


@dataclass(frozen=True)
class Chest:
    """Per-patient chest geometry (all mm); see the module docstring for the frame."""

    body_half_mm: tuple[float, float]  # half width (x), half depth (y)
    fat_mm: float
    muscle_mm: float
    cavity: tuple[float, float, float]  # centre y, half width, half depth of the rib cage's inner ellipse
    spine_y_mm: float
    vertebra_half_mm: tuple[float, float]
    vertebra_height_mm: float
    disc_phase_mm: float
    rib_pitch_mm: float
    rib_drop_mm: float
    rib_phase_mm: float
    sternum_bottom_z_mm: float
    scapula_bottom_z_mm: float
    descending_aorta: tuple[float, float, float]  # x, y, radius
    oesophagus: tuple[float, float, float]
    liver_dome_z_mm: float
    stomach_dome_z_mm: float
    lung_vessels: tuple[Tube, ...]

    @property
    def sternum_y_mm(self) -> float:
        """y of the sternum's centre, just in front of the rib cage's inner wall."""
        return self.cavity[0] - self.cavity[2] - 6.0

    def inside_cavity(self, x_mm: float, y_mm: float, margin_mm: float = 0.0) -> bool:
        """True when (x, y) lies inside the rib cage's inner ellipse shrunk by margin_mm."""
        cy, ax, ay = self.cavity
        return (x_mm / (ax - margin_mm)) ** 2 + ((y_mm - cy) / (ay - margin_mm)) ** 2 < 1.0


def sample_chest(rng: np.random.Generator) -> Chest:
    """Draw one patient's chest: body habitus, rib cage, spine, great vessels behind the heart, lung vessels."""
    half_w, half_d = rng.uniform(150, 182), rng.uniform(105, 128)
    fat, muscle = rng.uniform(8, 24), rng.uniform(5, 9)
    cavity_y = -rng.uniform(4, 10)
    cavity = (cavity_y, half_w - fat - muscle - 9.0, half_d - fat - muscle - 14.0)
    vb_half = (rng.uniform(17, 21), rng.uniform(14, 17))
    spine_y = cavity_y + cavity[2] - 0.35 * vb_half[1]
    da_radius = rng.uniform(10.5, 13.5)
    aorta = (vb_half[0] * 0.55 + da_radius, spine_y - vb_half[1] * 0.75, da_radius)
    oesophagus = (rng.uniform(-2, 4), spine_y - vb_half[1] - 9.0, rng.uniform(5.5, 7.5))
    liver_dome = -rng.uniform(18, 32)
    return Chest(
        body_half_mm=(half_w, half_d), fat_mm=fat, muscle_mm=muscle, cavity=cavity, spine_y_mm=spine_y,
        vertebra_half_mm=vb_half, vertebra_height_mm=rng.uniform(25, 29), disc_phase_mm=rng.uniform(0, 29),
        rib_pitch_mm=rng.uniform(22, 26), rib_drop_mm=rng.uniform(90, 110), rib_phase_mm=rng.uniform(0, 26),
        sternum_bottom_z_mm=-rng.uniform(25, 40), scapula_bottom_z_mm=rng.uniform(0, 30), descending_aorta=aorta,
        oesophagus=oesophagus,
        liver_dome_z_mm=liver_dome, stomach_dome_z_mm=liver_dome - rng.uniform(8, 18),
        lung_vessels=_sample_lung_vessels(rng, cavity),
    )


def _sample_lung_vessels(rng: np.random.Generator, cavity: tuple[float, float, float]) -> tuple[Tube, ...]:
    """Vessels fanning out from each hilum, kept inside the rib cage so the chest wall stays clean."""
    cy, ax, ay = cavity
    tubes = []
    for side in (-1.0, 1.0):
        hilum = np.array([side * 48.0, cy + 0.1 * ay, 20.0])
        while sum(1 for t in tubes if np.sign(t.start_mm[0]) == side) < LUNG_VESSELS_PER_SIDE:
            start = hilum + rng.normal(0, [8, 12, 30])
            direction = rng.normal(0, 1, 3) + np.array([side * 1.2, 0.0, 0.0])
            direction /= np.linalg.norm(direction)
            length = rng.uniform(40, 120)
            end = start + length * direction
            if (end[0] / (ax - 6)) ** 2 + ((end[1] - cy) / (ay - 6)) ** 2 >= 1.0:
                continue
            radius = float(np.clip(rng.lognormal(np.log(1.6), 0.45) * (1.3 - length / 200), 0.6, 4.5))
            tubes.append(Tube(start, end, radius))
    return tuple(tubes)


def render_chest_base(chest: Chest, grid: SliceGrid, edge_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The z-independent chest wall: (HU image, tissue codes, rib-cage coverage), each (Y, X)."""
    image = np.full((grid.size, grid.size), AIR_HU, dtype=np.float32)
    tissue = np.full(image.shape, Tissue.AIR, dtype=np.uint8)
    half_w, half_d = chest.body_half_mm
    paint(image, grid, Ellipse.axes(0, 0, half_w, half_d), FAT_HU, edge_mm, tissue, Tissue.FAT)
    inner_w, inner_d = half_w - chest.fat_mm, half_d - chest.fat_mm
    paint(image, grid, Ellipse.axes(0, 0, inner_w, inner_d), FAT_HU + 15.0, edge_mm, tissue, Tissue.FAT)
    cy, ax, ay = chest.cavity
    paint(image, grid, Ellipse.axes(0, cy, ax + chest.muscle_mm + 6.0, ay + chest.muscle_mm + 6.0), MUSCLE_HU, edge_mm,
          tissue, Tissue.MUSCLE)
    under_skin = np.zeros(image.shape, dtype=np.float32)
    reach = coverage(grid, Ellipse.axes(0, 0, half_w - 0.5 * chest.fat_mm, half_d - 0.5 * chest.fat_mm), edge_mm)
    if reach is not None:
        under_skin[reach[0], reach[1]] = reach[2]
    for side in (-1.0, 1.0):  # pectoral muscles in front, paraspinal muscles beside the spinous processes
        paint(image, grid, Ellipse.axes(side * 0.45 * ax, cy - ay - 8.0, 0.42 * ax, 10.0, -side * 0.22), MUSCLE_HU,
              edge_mm, tissue, Tissue.MUSCLE, clip=under_skin)
        paint(image, grid, Ellipse.axes(side * 26.0, chest.spine_y_mm + 30.0, 18.0, 16.0), MUSCLE_HU, edge_mm,
              tissue, Tissue.MUSCLE, clip=under_skin)
        x, y, angle = _wall_point(chest, side, SCAPULA_THETA, 14.0)
        paint(image, grid, Ellipse.axes(x, y, 40.0, 9.0, angle), MUSCLE_HU, edge_mm, tissue, Tissue.MUSCLE,
              clip=under_skin)
    cavity_cov = np.zeros(image.shape, dtype=np.float32)
    reach = coverage(grid, Ellipse.axes(0, cy, ax + edge_mm, ay + edge_mm), edge_mm)
    if reach is not None:  # a little beyond the lung edge, so clipped organs leave no rim of lung
        cavity_cov[reach[0], reach[1]] = reach[2]
    painted = paint(image, grid, Ellipse.axes(0, cy, ax, ay), LUNG_HU, edge_mm, tissue, Tissue.LUNG)
    if painted is not None:
        rows, cols, fraction = painted
        depth = (grid.rows_mm(rows.start, rows.stop) - np.float32(cy)) / np.float32(ay)  # -1 front .. +1 back
        image[rows, cols] += fraction * np.float32(LUNG_GRADIENT_HU / 2) * depth
    return image, tissue, cavity_cov


def paint_chest_soft(chest: Chest, image: np.ndarray, tissue: np.ndarray, cavity_cov: np.ndarray,
                     grid: SliceGrid, z_mm: float, edge_mm: float, mediastinum_bottom_z_mm: float) -> None:
    """Lung vessels, liver and stomach domes under the diaphragm, and the mediastinal fat (above
    mediastinum_bottom_z_mm), at slice z_mm; ``cavity_cov`` confines the domes to the rib cage."""
    for tube in chest.lung_vessels:
        section = _tube_section(tube, z_mm)
        paint(image, grid, section, BLOOD_HU, edge_mm, tissue, Tissue.BLOOD)
    cy, ax, ay = chest.cavity
    liver = ellipsoid_section(np.array([-0.3 * ax, cy + 0.1 * ay, chest.liver_dome_z_mm - 60.0]),
                              ellipsoid_matrix((0.9 * ax, 1.1 * ay, 60.0), np.eye(3)), z_mm)
    paint(image, grid, liver, LIVER_HU, edge_mm, tissue, Tissue.OTHER_SOFT, clip=cavity_cov)
    stomach = ellipsoid_section(np.array([0.45 * ax, cy + 0.05 * ay, chest.stomach_dome_z_mm - 50.0]),
                                ellipsoid_matrix((0.6 * ax, 0.85 * ay, 50.0), np.eye(3)), z_mm)
    paint(image, grid, stomach, LIVER_HU - 12.0, edge_mm, tissue, Tissue.OTHER_SOFT, clip=cavity_cov)
    if z_mm > mediastinum_bottom_z_mm:
        front, back = chest.sternum_y_mm, chest.spine_y_mm
        paint(image, grid, Ellipse.axes(4.0, (front + back) / 2, 18.0, (back - front) / 2), FAT_HU + 10.0, edge_mm,
              tissue, Tissue.FAT)


def paint_posterior_mediastinum(chest: Chest, image: np.ndarray, tissue: np.ndarray, grid: SliceGrid,
                                edge_mm: float) -> None:
    """Descending aorta and oesophagus (with a little air), painted after the heart so they stay round."""
    x, y, r = chest.descending_aorta
    paint(image, grid, Ellipse.circle(x, y, r + 1.5), FAT_HU, edge_mm, tissue, Tissue.FAT)
    paint(image, grid, Ellipse.circle(x, y, r), BLOOD_HU, edge_mm, tissue, Tissue.BLOOD)
    x, y, r = chest.oesophagus
    paint(image, grid, Ellipse.circle(x, y, r), MUSCLE_HU - 15.0, edge_mm, tissue, Tissue.OTHER_SOFT)
    paint(image, grid, Ellipse.circle(x, y, 0.25 * r), AIR_HU, edge_mm)


def paint_bones(chest: Chest, image: np.ndarray, tissue: np.ndarray, grid: SliceGrid, z_mm: float,
                edge_mm: float, bone_factor: float) -> None:
    """Ribs and costal cartilage, sternum, vertebral body (or disc), neural arch and spinal canal."""
    cortical, cancellous = CORTICAL_BONE_HU * bone_factor, CANCELLOUS_BONE_HU * bone_factor
    cy, ax, ay = chest.cavity
    for k in range(-RIBS_BELOW, RIBS_ABOVE + 1):
        course = (chest.rib_phase_mm + k * chest.rib_pitch_mm - z_mm) / chest.rib_drop_mm  # 0 back .. 1 front
        if not 0.08 <= course <= RIB_CARTILAGE_END:
            continue
        theta = course * 0.85 * np.pi
        for side in (-1.0, 1.0):
            x, y, angle = _wall_point(chest, side, theta, 5.0)
            if course > RIB_BONE_END:
                paint(image, grid, Ellipse.axes(x, y, 7.0, 4.0, angle), CARTILAGE_HU, edge_mm, tissue,
                      Tissue.OTHER_SOFT)
                continue
            paint(image, grid, Ellipse.axes(x, y, 7.5, 3.8, angle), 0.75 * cortical, edge_mm, tissue, Tissue.BONE)
            paint(image, grid, Ellipse.axes(x, y, 5.5, 2.0, angle), cancellous, edge_mm, tissue, Tissue.BONE)
    if z_mm > chest.scapula_bottom_z_mm:
        for side in (-1.0, 1.0):
            x, y, angle = _wall_point(chest, side, SCAPULA_THETA, 14.0)
            paint(image, grid, Ellipse.axes(x, y, 30.0, 3.0, angle), 0.6 * cortical, edge_mm, tissue, Tissue.BONE)
    if z_mm > chest.sternum_bottom_z_mm:
        sy = chest.sternum_y_mm
        paint(image, grid, Ellipse.axes(0, sy, 14.0, 6.5), 0.7 * cortical, edge_mm, tissue, Tissue.BONE)
        paint(image, grid, Ellipse.axes(0, sy, 12.0, 4.5), 0.85 * cancellous, edge_mm, tissue, Tissue.BONE)
    _paint_vertebra(chest, image, tissue, grid, z_mm, edge_mm, cortical, cancellous)


def _paint_vertebra(chest: Chest, image: np.ndarray, tissue: np.ndarray, grid: SliceGrid, z_mm: float,
                    edge_mm: float, cortical: float, cancellous: float) -> None:
    rx, ry = chest.vertebra_half_mm
    sy = chest.spine_y_mm
    canal_y = sy + ry + 8.0
    paint(image, grid, Ellipse.axes(0, canal_y, 15.0, 12.0), 0.7 * cortical, edge_mm, tissue, Tissue.BONE)
    paint(image, grid, Ellipse.axes(0, canal_y + 19.0, 4.0, 12.0), 0.7 * cortical, edge_mm, tissue, Tissue.BONE)
    for side in (-1.0, 1.0):
        paint(image, grid, Ellipse.axes(side * 21.0, canal_y - 1.0, 11.0, 4.5, side * 0.35), 0.6 * cortical, edge_mm,
              tissue, Tissue.BONE)
    paint(image, grid, Ellipse.axes(0, canal_y, 7.5, 6.5), CSF_HU, edge_mm, tissue, Tissue.OTHER_SOFT)
    in_disc = (z_mm - chest.disc_phase_mm) % chest.vertebra_height_mm < DISC_THICKNESS_MM
    if in_disc:
        paint(image, grid, Ellipse.axes(0, sy, rx, ry), DISC_HU, edge_mm, tissue, Tissue.OTHER_SOFT)
        return
    paint(image, grid, Ellipse.axes(0, sy, rx, ry), cortical, edge_mm, tissue, Tissue.BONE)
    paint(image, grid, Ellipse.axes(0, sy, rx - 2.0, ry - 2.0), cancellous, edge_mm, tissue, Tissue.BONE)


def _wall_point(chest: Chest, side: float, theta: float, outside_mm: float) -> tuple[float, float, float]:
    """Point outside_mm beyond the rib cage's inner wall at angle theta from the back (0) to the front (pi),
    on the patient's left (side +1) or right (-1), and the wall's tangent angle there."""
    cy, ax, ay = chest.cavity
    x, y = side * (ax + outside_mm) * np.sin(theta), cy + (ay + outside_mm) * np.cos(theta)
    return float(x), float(y), float(np.arctan2(-ay * np.sin(theta), side * ax * np.cos(theta)))


def _tube_section(tube: Tube, z_mm: float) -> Ellipse | None:
    """Where a straight vessel crosses the plane z_mm: an ellipse stretched along its in-plane direction."""
    dz = tube.end_mm[2] - tube.start_mm[2]
    if abs(dz) < 1e-6:
        return None
    t = (z_mm - tube.start_mm[2]) / dz
    if not 0.0 <= t <= 1.0:
        return None
    centre = tube.start_mm + t * (tube.end_mm - tube.start_mm)
    direction = (tube.end_mm - tube.start_mm) / np.linalg.norm(tube.end_mm - tube.start_mm)
    stretch = min(1.0 / max(abs(direction[2]), 1e-3), 6.0)
    angle = float(np.arctan2(direction[1], direction[0]))
    return Ellipse.axes(float(centre[0]), float(centre[1]), tube.radius_mm * stretch, tube.radius_mm, angle)
