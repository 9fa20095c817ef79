"""Draw the random choices of one phantom run from (seed, patient, view), reproducibly.

A patient has one heart, a left and a right coronary tree, calcium on each tree and a motion pattern; each run
(view) of that patient picks a tree and a standard projection (jittered), and draws its own heart rate, breathing
modulation, C-arm distances, detector spacing, dose, contrast speed and noise. The generators are
``numpy.random.default_rng([seed, patient])`` and ``default_rng([seed, patient, view])``, so a run never depends on
how many other runs were drawn.
"""

from __future__ import annotations

import numpy as np

from tqgd.xa.phantom_heart import Heartbeat
from tqgd.xa.phantom_render import MAX_PHOTONS, MIN_PHOTONS, RunSpec
from tqgd.xa.phantom_tree import (
    CardiacMotion,
    CArm,
    draw_catheter,
    draw_deposits,
    draw_heart,
    draw_tree,
)

FRAME_RATE_FPS = 15.0
HEART_RATE_BPM = (55.0, 110.0)
#: Respiratory modulation of the heart rate (fraction), drawn per run.
HRV_FRACTION = (0.0, 0.03)
#: Detector pixel size at 512 px (the paper's runs: 0.20-0.39 mm); other sizes keep the same field of view.
IMAGER_SPACING_512_MM = (0.28, 0.39)
REFERENCE_SIZE = 512
#: Standard projections (primary, secondary) in degrees: LAO/cranial positive.
VIEWS = {"left": ((-30.0, -25.0), (45.0, 25.0), (0.0, 35.0), (-30.0, 30.0), (50.0, -25.0)),
         "right": ((40.0, 0.0), (-30.0, 0.0), (0.0, 30.0))}
#: Deposits per tree and their probabilities (some runs have none: negatives for classification).
DEPOSIT_COUNTS, DEPOSIT_PROBS = (0, 1, 2, 3, 4), (0.2, 0.25, 0.25, 0.2, 0.1)


def draw_run(seed: int, patient: int, view: int, n_frames: int, size: int,
             hrv_max: float = HRV_FRACTION[1]) -> tuple[RunSpec, str]:
    """(run spec, tree side) for ``view`` (0-based) of ``patient`` (0-based) under ``seed``; the run's heart-rate
    modulation is drawn from 0..``hrv_max`` (a fraction of the rate)."""
    prng = np.random.default_rng([seed, patient])
    heart = draw_heart(prng)
    trees = {side: draw_tree(prng, heart, side) for side in ("left", "right")}
    deposits = {side: draw_deposits(prng, trees[side], int(prng.choice(DEPOSIT_COUNTS, p=DEPOSIT_PROBS)))
                for side in ("left", "right")}
    motion = CardiacMotion(centre=heart.centre, axis=heart.frame[:, 2], contraction=prng.uniform(0.08, 0.14),
                           twist_deg=prng.uniform(4.0, 10.0), shift_mm=prng.normal(0, 3.0, 3))
    first_side = "left" if prng.random() < 0.7 else "right"
    vrng = np.random.default_rng([seed, patient, view])
    side = first_side if view % 3 != 2 else ("right" if first_side == "left" else "left")
    primary, secondary = VIEWS[side][(view + patient) % len(VIEWS[side])]
    carm = CArm(primary_deg=primary + vrng.uniform(-5, 5), secondary_deg=secondary + vrng.uniform(-5, 5),
                sid_mm=vrng.uniform(950, 1150), sod_mm=vrng.uniform(700, 780),
                imager_spacing_mm=vrng.uniform(*IMAGER_SPACING_512_MM) * REFERENCE_SIZE / size, size=size)
    beat = Heartbeat(heart_rate_bpm=vrng.uniform(*HEART_RATE_BPM), fps=FRAME_RATE_FPS,
                     start_phase=vrng.uniform(0, 1), hrv_fraction=vrng.uniform(HRV_FRACTION[0], hrv_max),
                     breathing_period_s=vrng.uniform(3.5, 6.0), breathing_offset_rad=vrng.uniform(0, 2 * np.pi))
    vessels = trees[side]
    ostium = vessels[0].points[0]
    spec = RunSpec(heart=heart, vessels=(draw_catheter(vrng, ostium), *vessels), deposits=tuple(deposits[side]),
                   motion=motion, beat=beat, carm=carm, n_frames=n_frames, contrast_start=n_frames // 2,
                   fill_speed_mm_s=vrng.uniform(80, 160), photons=vrng.uniform(MIN_PHOTONS, MAX_PHOTONS),
                   anatomy_seed=int(vrng.integers(2**31)), noise_seed=int(vrng.integers(2**31)))
    return spec, side
