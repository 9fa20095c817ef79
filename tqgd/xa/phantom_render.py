"""Render one synthetic angiography run: frames (F, H, W) uint8 and their ground truth.

Per frame: static anatomy + the heart shadow warped to the frame's phase + the catheter + the arteries filled
with contrast as far as the front has travelled + calcium, blurred by the detector (sigma 0.6 px); photons
``N = N0 exp(-A)`` with Poisson-like quantum noise (Gaussian of variance N) and a 0.5 % frame-to-frame dose
flicker; stored as ``round(GREY_PER_LOG * ln N) + offset`` in 8 bits (a log image, as XA stores: Pixel Intensity
Relationship LOG, vessels dark on a bright background).

Contrast: the first half of the run has none. Injection starts at ``contrast_start``; the front moves along the
tree from the ostium at ``fill_speed_mm_s`` and the lumen reaches full opacity about 10 mm behind it.

Ground truth per frame: calcium labels (deposit number, 0 = none), the arteries' footprint, the true cardiac
phase, the beat number and the contrast fill (share of the tree's length reached by the front).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tqgd.xa.phantom_anatomy import (
    BODY_ATTENUATION,
    heart_shadow,
    shadow_affines,
    static_layers,
)
from tqgd.xa.phantom_heart import Heartbeat, motion_waveform, smoothstep
from tqgd.xa.phantom_tree import CardiacMotion, CArm, Deposit, HeartShape, Vessel

#: Attenuation of the contrast-filled lumen per mm of path (iodine at angiographic dilution).
IODINE_PER_MM = 0.2
#: The front's soft edge: full opacity this far behind it.
FRONT_WIDTH_MM = 10.0
DETECTOR_BLUR_PX = 0.6
FLICKER = 0.005
GREY_PER_LOG = 56.0
#: Photons per pixel behind BODY_ATTENUATION of tissue.
MIN_PHOTONS, MAX_PHOTONS = 500.0, 1500.0
VALUE_LEVELS = 64  # vessel attenuation quantised to this many levels per unit, so runs of segments draw as one


@dataclass(frozen=True)
class RunSpec:
    """Everything drawn for one run: anatomy, tree, calcium, heartbeat, C-arm, contrast timing, dose."""

    heart: HeartShape
    vessels: tuple[Vessel, ...]
    deposits: tuple[Deposit, ...]
    motion: CardiacMotion
    beat: Heartbeat
    carm: CArm
    n_frames: int
    contrast_start: int
    fill_speed_mm_s: float
    photons: float
    anatomy_seed: int
    noise_seed: int


@dataclass(frozen=True)
class RenderedRun:
    """Frames (F, H, W) uint8; calcium labels (F, H, W) uint8; vessel footprint (F, H, W) bool; per-frame
    phase (F,), beat (F,), contrast fill (F,) and waveform w (F,)."""

    frames: np.ndarray
    calcium: np.ndarray
    vessel: np.ndarray
    phase: np.ndarray
    beat: np.ndarray
    fill: np.ndarray
    waveform: np.ndarray


def _runs(keys: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, stop) index ranges of consecutive equal keys (stop inclusive of the shared end point)."""
    spans, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            spans.append((start, min(i + 1, len(keys))))
            start = i
    return spans


def _polyline_runs(image: np.ndarray, xy: np.ndarray, thickness: np.ndarray, values: np.ndarray) -> None:
    """Draw a polyline whose thickness and value change along it, one cv2 call per constant run."""
    keys = list(zip(thickness.tolist(), values.tolist()))
    pts = np.round(xy * 4).astype(np.int32)  # 2 fractional bits: sub-pixel positions
    for start, stop in _runs(keys[:-1] if len(keys) > 1 else keys):
        t, v = keys[start]
        if v == 0:
            continue
        cv2.polylines(image, [pts[start:stop + 1]], False, float(v) / VALUE_LEVELS if image.dtype == np.float32
                      else int(v), int(t), cv2.LINE_8, 2)


def _vessel_frame(vessel: Vessel, xy: np.ndarray, mag: np.ndarray, carm: CArm, fill: np.ndarray,
                  layer: np.ndarray, footprint: np.ndarray | None) -> None:
    """Add one vessel at one frame: attenuation into ``layer``, footprint (arteries) into ``footprint``."""
    r_px = vessel.radius_mm * mag / carm.imager_spacing_mm
    thickness = np.maximum(np.round(2 * r_px), 1).astype(np.int64)
    value = vessel.wall + fill * IODINE_PER_MM * 2 * vessel.radius_mm
    quantised = np.round(value * VALUE_LEVELS).astype(np.int64)
    if quantised.any():
        x0, y0 = np.floor(xy.min(axis=0) - thickness.max() - 2).astype(int)
        x1, y1 = np.ceil(xy.max(axis=0) + thickness.max() + 2).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, carm.size), min(y1, carm.size)
        if x1 > x0 and y1 > y0:
            patch = np.zeros((y1 - y0, x1 - x0), np.float32)
            _polyline_runs(patch, xy - [x0, y0], thickness, quantised)  # outer wall-to-wall path, then the core
            core = np.zeros_like(patch)
            _polyline_runs(core, xy - [x0, y0], np.maximum(thickness // 2, 1), quantised)
            layer[y0:y1, x0:x1] += 0.7 * patch + 0.3 * core
    if footprint is not None:
        _polyline_runs(footprint, xy, thickness, np.ones_like(thickness))


def _deposit_track(deposit: Deposit, vessel: Vessel, spec: RunSpec, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pixel xy (F, K, 2), magnification (F, K)) of a deposit's centreline: the vessel points within half its
    length of its centre, shifted by its offset, moving with the vessel's own motion weights."""
    inside = np.abs(vessel.path_mm - vessel.path_mm[deposit.index]) <= deposit.length_mm / 2
    points = vessel.points[inside] + deposit.offset_mm
    return spec.carm.project(spec.motion.move(points, w, vessel.motion_weight[inside]))


def render_run(spec: RunSpec, progress=None) -> RenderedRun:
    """Render every frame of ``spec``; ``progress(frame_index)`` is called after each frame if given."""
    size, n = spec.carm.size, spec.n_frames
    phase, beat = spec.beat.phases(n)
    w = motion_waveform(phase)
    anatomy_rng = np.random.default_rng(spec.anatomy_seed)
    noise_rng = np.random.default_rng(spec.noise_seed)
    background = static_layers(spec.carm, anatomy_rng)
    shadow, surface = heart_shadow(spec.heart, spec.carm)
    affines = shadow_affines(surface, spec.motion, w, spec.carm)
    by_name = {v.name: v for v in spec.vessels}
    moved = {v.name: spec.carm.project(spec.motion.move(v.points, w, v.motion_weight)) for v in spec.vessels}
    deposit_xy = [_deposit_track(d, by_name[d.vessel], spec, w) for d in spec.deposits]
    times = (np.arange(n) - spec.contrast_start) / spec.beat.fps
    front_mm = np.where(times >= 0, times * spec.fill_speed_mm_s, -np.inf)
    tree_mm = max(float(v.path_mm.max()) for v in spec.vessels if v.wall == 0)
    flicker = 1 + FLICKER * noise_rng.standard_normal(n)
    frames = np.empty((n, size, size), np.uint8)
    calcium = np.zeros((n, size, size), np.uint8)
    vessel_mask = np.zeros((n, size, size), np.uint8)
    offset = 128.0 - GREY_PER_LOG * np.log(spec.photons)
    for f in range(n):
        a = background + cv2.warpAffine(shadow, affines[f].astype(np.float64), (size, size),
                                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        for vessel in spec.vessels:
            xy, mag = moved[vessel.name][0][f], moved[vessel.name][1][f]
            if vessel.wall > 0:  # the catheter is full of contrast from the injection on
                fill = np.full(len(xy), 1.0 if times[f] >= 0 else 0.0)
            else:
                fill = smoothstep((front_mm[f] - vessel.path_mm) / FRONT_WIDTH_MM) if times[f] >= 0 \
                    else np.zeros(len(xy))
            _vessel_frame(vessel, xy, mag, spec.carm, fill, a, None if vessel.wall > 0 else vessel_mask[f])
        for k, (deposit, (xy_all, mag_all)) in enumerate(zip(spec.deposits, deposit_xy), start=1):
            xy, mag = xy_all[f], float(np.mean(mag_all[f]))
            thick = max(round(deposit.thickness_mm * mag / spec.carm.imager_spacing_mm), 1)
            pts = np.round(xy * 4).astype(np.int32)
            blob = np.zeros((size, size), np.uint8)
            cv2.polylines(blob, [pts], False, 1, thick, cv2.LINE_8, 2)
            a += deposit.attenuation * blob
            calcium[f][blob > 0] = k
        a = cv2.GaussianBlur(a, (0, 0), DETECTOR_BLUR_PX)
        photons = (spec.photons * np.exp(BODY_ATTENUATION) * flicker[f]) * np.exp(-a)
        photons += np.sqrt(photons) * noise_rng.standard_normal((size, size), dtype=np.float32)
        grey = GREY_PER_LOG * np.log(np.maximum(photons, 1.0)) + offset
        frames[f] = np.clip(np.round(grey), 0, 255).astype(np.uint8)
        if progress is not None:
            progress(f)
    fill_share = np.clip(front_mm / tree_mm, 0, 1)
    return RenderedRun(frames=frames, calcium=calcium, vessel=vessel_mask.astype(bool), phase=phase, beat=beat,
                       fill=fill_share, waveform=w)
