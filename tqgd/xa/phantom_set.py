"""Write a set of synthetic angiography runs: one XA DICOM file per run plus its ground truth next to it.

Layout of ``OUT`` (run id ``P003V2`` = patient 3, view 2)::

    P003V2.dcm    X-Ray Angiographic Image Storage, F frames, 8-bit LOG, 15 fps
    P003V2.npz    calcium (F, H, W) uint8 deposit numbers, vessel (F, H, W) bool, phase (F,), beat (F,),
                  fill (F,), waveform (F,)
    P003V2.json   heart rate, period in frames, contrast start, C-arm, spacings, deposits, file names
    xa_phantom.json   the set: seed, options, runs and their patients

The sidecars are the only place the truth lives; the DICOM holds only what a scanner would write.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqgd.errors import OutputError
from tqgd.io import write_bytes, write_json
from tqgd.xa.phantom_render import render_run
from tqgd.xa.phantom_spec import HRV_FRACTION, draw_run
from tqgd.xa.writer import XAHeader, write_xa

GENERATOR_VERSION = "1.0"
SET_FILE = "xa_phantom.json"


def run_id(patient: int, view: int) -> str:
    """``P001V1`` for patient 0, view 0."""
    return f"P{patient + 1:03d}V{view + 1}"


@dataclass(frozen=True)
class SetResult:
    """Run ids written, seconds to render and to write each run."""

    run_ids: tuple[str, ...]
    render_s: tuple[float, ...]
    write_s: tuple[float, ...]


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse a file in place of the folder, or a non-empty folder unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose a new or empty folder", out)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError("folder is not empty; choose a new folder or pass --overwrite", out)


def _truth(spec, side: str, rid: str, patient: int, rendered) -> dict:
    carm, beat = spec.carm, spec.beat
    contrast_full = int(np.argmax(rendered.fill >= 1.0)) if rendered.fill[-1] >= 1.0 else None
    return {
        "run": rid, "patient": f"P{patient + 1:03d}", "generator_version": GENERATOR_VERSION, "tree": side,
        "frames": spec.n_frames, "size": carm.size, "fps": beat.fps, "heart_rate_bpm": beat.heart_rate_bpm,
        "period_frames": beat.period_frames, "hrv_fraction": beat.hrv_fraction,
        "breathing_period_s": beat.breathing_period_s, "start_phase": beat.start_phase,
        "contrast_start_frame": spec.contrast_start, "contrast_full_frame": contrast_full,
        "fill_speed_mm_s": spec.fill_speed_mm_s, "photons_per_pixel": spec.photons,
        "positioner_primary_deg": carm.primary_deg, "positioner_secondary_deg": carm.secondary_deg,
        "sid_mm": carm.sid_mm, "sod_mm": carm.sod_mm, "imager_spacing_mm": carm.imager_spacing_mm,
        "isocentre_spacing_mm": carm.imager_spacing_mm / carm.magnification,
        "deposits": [{"label": k, "vessel": d.vessel, "length_mm": d.length_mm, "thickness_mm": d.thickness_mm,
                      "attenuation": d.attenuation} for k, d in enumerate(spec.deposits, start=1)],
        "calcium_frames": int((rendered.calcium.reshape(spec.n_frames, -1).max(axis=1) > 0).sum()),
        "files": {"dicom": f"{rid}.dcm", "truth": f"{rid}.npz"},
    }


def _npz_bytes(rendered) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, calcium=rendered.calcium, vessel=rendered.vessel, phase=rendered.phase,
                        beat=rendered.beat, fill=rendered.fill, waveform=rendered.waveform)
    return buffer.getvalue()


def write_run(out: Path, seed: int, patient: int, view: int, n_frames: int, size: int,
              compression: str = "none", progress: Callable[[int], None] | None = None,
              hrv_max: float = HRV_FRACTION[1]) -> tuple[str, float, float]:
    """Render and write one run (DICOM, .npz, .json); return (run id, render s, write s)."""
    spec, side = draw_run(seed, patient, view, n_frames, size, hrv_max)
    rid = run_id(patient, view)
    start = time.perf_counter()
    rendered = render_run(spec, progress)
    render_s = time.perf_counter() - start
    start = time.perf_counter()
    header = XAHeader(patient_id=f"P{patient + 1:03d}", patient_name=f"Phantom^P{patient + 1:03d}",
                      series_description=f"synthetic 2DCA {side} tree, view {view + 1}", fps=spec.beat.fps,
                      imager_spacing_mm=spec.carm.imager_spacing_mm, sid_mm=spec.carm.sid_mm,
                      sod_mm=spec.carm.sod_mm, primary_deg=spec.carm.primary_deg,
                      secondary_deg=spec.carm.secondary_deg, series_number=view + 1)
    write_xa(out / f"{rid}.dcm", rendered.frames, header, uid_seed=f"tqgd-xa-{seed}-{rid}", compression=compression)
    write_bytes(out / f"{rid}.npz", _npz_bytes(rendered))
    write_json(out / f"{rid}.json", _truth(spec, side, rid, patient, rendered))
    return rid, render_s, time.perf_counter() - start


def write_phantom_set(out: str | Path, sequences: int, seed: int, n_frames: int = 200, size: int = 512,
                      views_per_patient: int = 3, compression: str = "none", overwrite: bool = False,
                      progress: Callable[[str], None] | None = None, hrv_max: float = HRV_FRACTION[1]) -> SetResult:
    """Write ``sequences`` runs, ``views_per_patient`` per patient, into ``out``; ``progress(run_id)`` per run."""
    out = Path(out).expanduser().resolve()
    check_output(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    ids, render_s, write_s = [], [], []
    for index in range(sequences):
        rid, r_s, w_s = write_run(out, seed, index // views_per_patient, index % views_per_patient, n_frames, size,
                                  compression, hrv_max=hrv_max)
        ids.append(rid)
        render_s.append(r_s)
        write_s.append(w_s)
        if progress is not None:
            progress(rid)
    write_json(out / SET_FILE, {"generator_version": GENERATOR_VERSION, "seed": seed, "frames": n_frames,
                                "size": size, "views_per_patient": views_per_patient, "compression": compression,
                                "hrv_max": hrv_max,
                                "runs": [{"run": rid, "patient": rid[:4]} for rid in ids]})
    return SetResult(tuple(ids), tuple(render_s), tuple(write_s))
