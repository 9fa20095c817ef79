"""Drawing machinery of the phantom: soft-edged ellipses painted into one axial slice.

Every structure is an ellipse in the slice plane (a 3D ellipsoid cut at the slice's z is one too). Edges get a
linear partial-volume ramp about one pixel wide, computed from a first-order signed distance, so boundaries look
like a reconstructed CT edge rather than a binary mask. Coordinates are patient millimetres (LPS: x to the
patient's left, y posterior); only the pixels inside an ellipse's bounding box are touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Below this |E d| the signed-distance formula is replaced by "deep inside" (ellipse centre).
_MIN_GRADIENT = 1e-9


@dataclass(frozen=True)
class SliceGrid:
    """Pixel centres of a square axial slice: column j at x0_mm + j*spacing_mm, row i at y0_mm + i*spacing_mm."""

    x0_mm: float
    y0_mm: float
    spacing_mm: float
    size: int

    def columns_mm(self, start: int, stop: int) -> np.ndarray:
        """x (mm) of columns start..stop-1, shape (1, n)."""
        return (self.x0_mm + np.arange(start, stop, dtype=np.float32) * self.spacing_mm)[None, :]

    def rows_mm(self, start: int, stop: int) -> np.ndarray:
        """y (mm) of rows start..stop-1, shape (n, 1)."""
        return (self.y0_mm + np.arange(start, stop, dtype=np.float32) * self.spacing_mm)[:, None]

    def index_range(self, low_mm: float, high_mm: float, origin_mm: float) -> tuple[int, int]:
        """Half-open pixel index range whose centres may fall in [low_mm, high_mm] along one axis."""
        start = int(np.floor((low_mm - origin_mm) / self.spacing_mm))
        stop = int(np.ceil((high_mm - origin_mm) / self.spacing_mm)) + 1
        return max(start, 0), min(stop, self.size)


@dataclass(frozen=True)
class Ellipse:
    """The set (p - centre)^T matrix (p - centre) <= 1 in the slice plane (mm); matrix is 2x2 positive definite."""

    cx: float
    cy: float
    matrix: np.ndarray

    @classmethod
    def axes(cls, cx: float, cy: float, ax_mm: float, ay_mm: float, angle_rad: float = 0.0) -> Ellipse:
        """Ellipse with semi-axes ax_mm (along angle_rad from +x) and ay_mm, centred at (cx, cy)."""
        c, s = np.cos(angle_rad), np.sin(angle_rad)
        rot = np.array([[c, -s], [s, c]])
        return cls(cx, cy, rot @ np.diag([1.0 / ax_mm**2, 1.0 / ay_mm**2]) @ rot.T)

    @classmethod
    def circle(cls, cx: float, cy: float, radius_mm: float) -> Ellipse:
        """Circle of radius_mm."""
        return cls.axes(cx, cy, radius_mm, radius_mm)

    def half_extent_mm(self) -> tuple[float, float]:
        """Half width (x) and half height (y) of the bounding box."""
        inv = np.linalg.inv(self.matrix)
        return float(np.sqrt(inv[0, 0])), float(np.sqrt(inv[1, 1]))


def ellipsoid_section(centre_mm: np.ndarray, matrix: np.ndarray, z_mm: float) -> Ellipse | None:
    """The ellipse where the ellipsoid (p - c)^T M (p - c) <= 1 (p in x, y, z mm) meets the plane z = z_mm."""
    dz = z_mm - centre_mm[2]
    a = matrix[:2, :2]
    b = matrix[:2, 2]
    a_inv_b = np.linalg.solve(a, b)
    level = 1.0 - dz * dz * (matrix[2, 2] - b @ a_inv_b)
    if level <= 1e-6:
        return None
    shift = -dz * a_inv_b
    return Ellipse(float(centre_mm[0] + shift[0]), float(centre_mm[1] + shift[1]), a / level)


def ellipsoid_matrix(semi_axes_mm: tuple[float, float, float], rotation: np.ndarray) -> np.ndarray:
    """3x3 matrix M of an ellipsoid whose semi-axes lie along the columns of ``rotation`` (patient x, y, z)."""
    return rotation @ np.diag(1.0 / np.square(np.asarray(semi_axes_mm, dtype=np.float64))) @ rotation.T


def coverage(grid: SliceGrid, ellipse: Ellipse, edge_mm: float) -> tuple[slice, slice, np.ndarray] | None:
    """Fraction (0..1) of each pixel covered by ``ellipse``, on its bounding box: (rows, cols, fraction)."""
    hx, hy = ellipse.half_extent_mm()
    pad = edge_mm
    r0, r1 = grid.index_range(ellipse.cy - hy - pad, ellipse.cy + hy + pad, grid.y0_mm)
    c0, c1 = grid.index_range(ellipse.cx - hx - pad, ellipse.cx + hx + pad, grid.x0_mm)
    if r0 >= r1 or c0 >= c1:
        return None
    dx = grid.columns_mm(c0, c1) - np.float32(ellipse.cx)
    dy = grid.rows_mm(r0, r1) - np.float32(ellipse.cy)
    m = ellipse.matrix.astype(np.float32)
    gx = m[0, 0] * dx + m[0, 1] * dy
    gy = m[0, 1] * dx + m[1, 1] * dy
    q = dx * gx + dy * gy
    root_q = np.sqrt(q)
    grad = np.maximum(np.sqrt(gx * gx + gy * gy), _MIN_GRADIENT)
    signed_distance = (q - root_q) / grad  # ~ (|p|_E - 1) / |grad |p|_E|: mm outside (+) or inside (-)
    fraction = np.clip(0.5 - signed_distance / np.float32(edge_mm), 0.0, 1.0)
    return slice(r0, r1), slice(c0, c1), fraction


def paint(image: np.ndarray, grid: SliceGrid, ellipse: Ellipse | None, value_hu: float, edge_mm: float,
          tissue: np.ndarray | None = None, tissue_code: int = 0,
          clip: np.ndarray | None = None) -> tuple[slice, slice, np.ndarray] | None:
    """Blend ``value_hu`` into ``image`` (Y, X) by coverage; mark ``tissue`` where coverage >= 0.5.

    ``clip`` (Y, X), when given, multiplies the coverage (e.g. confine the liver dome to the rib cage).
    Returns (rows, cols, coverage) on the bounding box, or None when the ellipse misses the slice.
    """
    if ellipse is None:
        return None
    cov = coverage(grid, ellipse, edge_mm)
    if cov is None:
        return None
    rows, cols, fraction = cov
    if clip is not None:
        fraction = fraction * clip[rows, cols]
    region = image[rows, cols]
    region += fraction * (np.float32(value_hu) - region)
    if tissue is not None:
        tissue[rows, cols][fraction >= 0.5] = tissue_code
    return rows, cols, fraction
