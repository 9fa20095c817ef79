"""The phantom's heartbeat: the true cardiac phase of every frame and the motion waveform it drives.

Phase runs 0 -> 1 over one beat (0 = end-diastole, the R wave). The heart rate is fixed per sequence but
breathing modulates it slightly (respiratory sinus arrhythmia): the instantaneous rate is
``HR/60 * (1 + a sin(2 pi t / T_resp + psi))`` beats per second, whose integral is closed-form, so the phase of
frame k is exact. ``a = 0`` gives a strictly periodic phase (``phase[k] = start + k HR / (60 fps)`` mod 1).

The motion waveform ``w(phase)`` (0 = relaxed, 1 = end-systole) rises over systole, falls over the rapid filling
and stays at 0 through diastasis: ``smoothstep`` pieces, continuous with a continuous slope, with strong
harmonics like a real coronary motion curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: End of systole and end of rapid filling, as fractions of the beat.
SYSTOLE_END = 0.35
FILLING_END = 0.65
SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class Heartbeat:
    """Heart rate (bpm), frame rate (fps), phase of frame 0, and the breathing modulation of the rate."""

    heart_rate_bpm: float
    fps: float
    start_phase: float = 0.0
    hrv_fraction: float = 0.0
    breathing_period_s: float = 4.0
    breathing_offset_rad: float = 0.0

    @property
    def period_frames(self) -> float:
        """Mean beat length in frames: fps x 60 / HR."""
        return self.fps * SECONDS_PER_MINUTE / self.heart_rate_bpm

    def cycles(self, n_frames: int) -> np.ndarray:
        """Beats elapsed (float) at each frame, from ``start_phase`` at frame 0; shape (n_frames,)."""
        t = np.arange(n_frames, dtype=np.float64) / self.fps
        omega = 2 * np.pi / self.breathing_period_s
        psi = self.breathing_offset_rad
        integral = t - self.hrv_fraction / omega * (np.cos(omega * t + psi) - np.cos(psi))
        return self.start_phase + self.heart_rate_bpm / SECONDS_PER_MINUTE * integral

    def phases(self, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """(phase in [0, 1), beat index) per frame, each of shape (n_frames,)."""
        cycles = self.cycles(n_frames)
        return cycles % 1.0, np.floor(cycles).astype(np.int64)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, ``3x^2 - 2x^3`` between (zero slope at both ends)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def motion_waveform(phase: np.ndarray) -> np.ndarray:
    """Contraction 0..1 at each phase (same shape): up over systole, down over rapid filling, 0 in diastasis."""
    phase = np.asarray(phase, dtype=np.float64) % 1.0
    rising = smoothstep(phase / SYSTOLE_END)
    falling = 1.0 - smoothstep((phase - SYSTOLE_END) / (FILLING_END - SYSTOLE_END))
    return np.where(phase < SYSTOLE_END, rising, falling)
