"""3D completion of detected lesions: boxes for the slices of a lesion the detector found on other slices.

A deposit's first and last slices often hold 1-10 pixels of calcium (partial volume), too small for a stride-8 head
to localise, while its middle slices are found. OrCaScore defines a lesion in 3D (6-connected voxels >= 130 HU), so
such a piece belongs to the lesion as surely as the piece the box sits on. ``complete_tips`` follows each box's
>= threshold 3D component slice by slice (through slices where the component already has a box) and adds a box for
every piece of it on a neighbouring slice whose box holds at most ``max_area_px`` pixels (or raises a less confident
box already on it). Larger pieces are left to the detector, since growing through them would turn one false box on a
long structure (a stent, a valve ring) into many, unless the lesion verifier has scored the component as calcium with
at least ``WHOLE_LESION_SCORE`` (``whole``): the model also misses middle slices of large deposits (stop 31 measured
gated patients scored at half their Agatston for it), and a component the verifier is sure of is completed whole.
With ``bridge`` a piece of any size is also added when the component has a box at least as confident on a slice
beyond it: a gap between two boxed slices of one component is the same structure (stop 34 found the model skipping
one or two middle slices of large deposits whose verifier score stayed under ``WHOLE_LESION_SCORE``).
"""

from __future__ import annotations

import numpy as np

#: Largest end-slice piece added (box area in pixels): Fig. 2's smallest size bucket, below what the heads localise.
TIP_MAX_AREA_PX = 10
#: Verifier score from which ``tqgd detect`` completes a component whole (see ``complete_tips``'s ``whole``).
WHOLE_LESION_SCORE = 0.5


def _iou(box: tuple[float, float, float, float], row: np.ndarray) -> float:
    """IoU of ``box`` (x0 y0 x1 y1) and a row's box (its first four values)."""
    inter = max(0.0, min(box[2], row[2]) - max(box[0], row[0])) * max(0.0, min(box[3], row[3]) - max(box[1], row[1]))
    union = (box[2] - box[0]) * (box[3] - box[1]) + (row[2] - row[0]) * (row[3] - row[1]) - inter
    return inter / union if union > 0 else 0.0


def _pixels_under(row: np.ndarray, offset_xy: tuple[int, int]) -> tuple[slice, slice]:
    """The (y, x) slices of the pixels a row's box (full-slice pixel edges) touches in a window at ``offset_xy``."""
    x0, y0 = offset_xy
    return (slice(max(int(np.floor(row[1])) - y0, 0), max(int(np.ceil(row[3])) - y0, 0)),
            slice(max(int(np.floor(row[0])) - x0, 0), max(int(np.ceil(row[2])) - x0, 0)))


def _boxed_beyond(labels: np.ndarray, component: int, rows_by_slice: dict[int, list[np.ndarray]],
                  offset_xy: tuple[int, int], z: int, step: int, conf: float) -> bool:
    """Whether a row of confidence >= ``conf`` covers a pixel of ``component`` on a slice past ``z`` going ``step``.

    ``labels``: (Z, h, w) component labels of a window whose top-left pixel is ``offset_xy`` in full-slice pixels.
    """
    z_next = z + step
    while 0 <= z_next < labels.shape[0]:
        on_slice = labels[z_next] == component
        if not on_slice.any():
            return False
        for row in rows_by_slice.get(z_next, ()):
            if row[4] >= conf and on_slice[_pixels_under(row, offset_xy)].any():
                return True
        z_next += step
    return False


def complete_tips(hu: np.ndarray, rows_by_slice: dict[int, np.ndarray], crop_xyxy: tuple[int, int, int, int],
                  threshold_hu: float = 130.0, max_area_px: int = TIP_MAX_AREA_PX,
                  whole: dict[int, np.ndarray] | None = None, bridge: bool = False
                  ) -> tuple[dict[int, np.ndarray], dict[str, int], dict[int, np.ndarray]]:
    """Complete ``rows_by_slice`` (slice -> (N, 6) ``x0 y0 x1 y1 conf class`` in full-slice pixels) in 3D.

    ``hu``: the volume (Z, H, W); components are searched inside ``crop_xyxy`` (the region the model saw). From each
    box, most confident first, the search passes through the neighbouring slices where its component's piece has a box
    at least as confident; a small piece without one gets the box's confidence: a less confident box on it is raised,
    else the piece's tight box (pixel edges) is added with the box's class. So keeping the boxes at a confidence ``c``
    afterwards gives the same end slices as completing the boxes kept at ``c``. Returns the new mapping (inputs
    untouched), the counts ``added_boxes`` and ``raised_boxes``, and per slice which rows it added or raised (bool).
    ``whole``: per slice, one bool per row; a row marked True completes its component's pieces of any size (a lesion
    the verifier is sure of: OrCaScore's lesion is the whole component). ``bridge``: a piece of any size lying
    between the box's slice and a slice where the component has a box at least as confident is added too.
    """
    from scipy import ndimage

    from tqgd.data.boxes import IN_PLANE_CONNECTIVITY, structure_for

    x0, y0, x1, y1 = crop_xyxy
    labels, _ = ndimage.label(hu[:, y0:y1, x0:x1] >= threshold_hu, structure=structure_for(6, 3))
    extents = ndimage.find_objects(labels)
    plane = structure_for(IN_PLANE_CONNECTIVITY[6], 2)
    out = {z: [row.copy() for row in np.asarray(rows, dtype=np.float64).reshape(-1, 6)]
           for z, rows in rows_by_slice.items()}
    counts = {"added_boxes": 0, "raised_boxes": 0}
    changed: set[int] = set()  # id() of the rows added or raised
    flags = {z: np.zeros(len(rows), dtype=bool) if whole is None or z not in whole else np.asarray(whole[z], dtype=bool)
             for z, rows in out.items()}
    starts = sorted(((z, row, bool(flags[z][i])) for z, rows in out.items() for i, row in enumerate(rows)),
                    key=lambda item: -item[1][4])
    for z_start, row, any_size in starts:
        for component in np.unique(labels[z_start][_pixels_under(row, (x0, y0))]):
            if component == 0:
                continue
            zs, ys, xs = extents[component - 1]
            window, window_xy = labels[:, ys, xs], (x0 + xs.start, y0 + ys.start)
            boxed, frontier = {z_start}, [z_start]
            while frontier:
                z_from = frontier.pop()
                for z in (z_from - 1, z_from + 1):
                    if z in boxed or not zs.start <= z < zs.stop:
                        continue
                    pieces, count = ndimage.label(labels[z, ys, xs] == component, structure=plane)
                    for piece in range(1, count + 1):
                        py, px = np.nonzero(pieces == piece)
                        box = (float(px.min() + xs.start + x0), float(py.min() + ys.start + y0),
                               float(px.max() + 1 + xs.start + x0), float(py.max() + 1 + ys.start + y0))
                        have = out.setdefault(z, [])
                        on_piece = [other for other in have if _iou(box, other) > 0.5]
                        if not any(other[4] >= row[4] for other in on_piece):
                            large = (box[2] - box[0]) * (box[3] - box[1]) > max_area_px
                            if large and not any_size and not (
                                    bridge and _boxed_beyond(window, component, out, window_xy, z, z - z_from, row[4])):
                                continue
                            if on_piece:
                                tip = max(on_piece, key=lambda other: other[4])
                                tip[4] = row[4]
                                counts["raised_boxes"] += 1
                            else:
                                tip = np.array([*box, row[4], row[5]], dtype=np.float64)
                                have.append(tip)
                                counts["added_boxes"] += 1
                            changed.add(id(tip))
                        boxed.add(z)
                        frontier.append(z)
    kept = {z: rows for z, rows in out.items() if rows}
    return ({z: np.array(rows, dtype=np.float64).reshape(-1, 6) for z, rows in kept.items()}, counts,
            {z: np.array([id(row) in changed for row in rows], dtype=bool) for z, rows in kept.items()})
