"""Pair non-contrast and contrast frames in the same cardiac phase without an ECG (paper 004, eq. 1).

1. The ECG-like signal: ``S_k = ||f_0 - f_k|| / (||f_0|| + ||f_k||)``, the normalised Euclidean distance of every
   frame to the first. The heart's motion makes it periodic.
2. The period: the signal minus its moving average over the longest plausible beat (this removes the step the
   contrast injection adds), Hann-windowed and zero-padded, then the strongest FFT peak between ``max_bpm`` and
   ``min_bpm``, refined by a parabola through the peak's log-magnitudes. A peak whose half frequency carries at
   least ``SUBHARMONIC_SHARE`` of its height is taken to be the second harmonic, and the half frequency wins.
3. The contrast phase: ``D_k``, the same normalised distance between frame k and its best match about one
   period earlier (0.9-1.1 periods back, so heart-rate variability does not raise it), stays at the noise floor
   while the picture only beats and rises while contrast flows in. Contrast starts at the first frame where ``D``
   is above the floor of the first third of the run (median + ``ONSET_MADS`` MADs) and stays above it for
   ``SUSTAINED_SHARE`` of the following beat. It is complete when ``E_k``, the distance of frame k to the mean of the run's last beat averaged over
   one beat (so the beat cancels), has come ``FULL_SHARE`` of the way down to its final level (plus half a beat
   for the averaging).
4. Pairing (the paper pairs "on the basis of the estimated period"): each non-contrast frame ``i`` takes the frame
   ``j`` of the first complete-contrast beat whose distance ``j - i`` is closest to a whole number of periods.
5. Refinement (tqgd's, on by default): once the contrast phase is known, eq. 1 is recomputed per phase of the run
   with its own reference (frame 0 before the contrast, the first fully opacified frame after it; the filling
   left out), and the period is read from the sum of the two power spectra. After the injection the distance to
   frame 0 is dominated by the contrast and beats only faintly, so the whole-run spectrum rests mostly on the
   first half; on the phantom this step cut the worst period errors from about 0.5 to 0.05 frames
   (benchmarks/xa_sync.py). Pairing uses the refined period.

Needs only the frames and, to express the period in bpm, the frame rate; works in frames otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from tqgd.errors import ConfigError, ScanReadError

#: Heart rates searched by default (bpm), wide enough for rest and stress.
MIN_BPM, MAX_BPM = 40.0, 180.0
#: Without a frame rate the search runs over these periods (frames).
DEFAULT_PERIOD_RANGE = (4.0, 30.0)
ZERO_PAD = 16
SUBHARMONIC_SHARE = 0.6
ONSET_MADS = 8.0
#: Share of the beat after a frame that must stay above the floor for the frame to count as the onset.
SUSTAINED_SHARE = 0.8
#: Share of the way to the final contrast level that counts as fully opacified.
FULL_SHARE = 0.95
#: Frames processed at once when computing distances (bounds memory at 512 x 512 float64).
CHUNK_FRAMES = 32


@dataclass(frozen=True)
class SyncResult:
    """Signal (N,), detrended signal (N,), period used for pairing (frames), frame rate (fps or None), contrast
    start and full frames, pairs as (non-contrast frame, contrast frame) rows (P, 2), the whole-run spectrum
    (frequencies in cycles/frame) and the whole-run period of step 2."""

    signal: np.ndarray
    detrended: np.ndarray
    period_frames: float
    fps: float | None
    contrast_start: int
    contrast_full: int
    pairs: np.ndarray
    frequencies: np.ndarray
    spectrum: np.ndarray
    period_whole_run: float = float("nan")

    @property
    def heart_rate_bpm(self) -> float | None:
        """Heart rate implied by the period (None without a frame rate)."""
        return None if self.fps is None else 60.0 * self.fps / self.period_frames

    def estimated_phase(self) -> np.ndarray:
        """Phase (N,) in [0, 1) counted from frame 0, as the period alone implies it."""
        return (np.arange(len(self.signal)) / self.period_frames) % 1.0


def _norms(frames: np.ndarray) -> np.ndarray:
    flat = frames.reshape(len(frames), -1)
    return np.concatenate([np.sqrt(np.einsum("ij,ij->i", c, c, dtype=np.float64))
                           for c in np.array_split(flat.astype(np.float64), max(1, len(flat) // CHUNK_FRAMES))])


def distance_to(frames: np.ndarray, reference: np.ndarray, ref_norm: float | None = None) -> np.ndarray:
    """``||r - f_k|| / (||r|| + ||f_k||)`` for every frame (N,), eq. 1 of the paper with ``r`` as reference."""
    ref = reference.astype(np.float64).ravel()
    ref_norm = float(np.sqrt(ref @ ref)) if ref_norm is None else ref_norm
    out = np.empty(len(frames))
    for start in range(0, len(frames), CHUNK_FRAMES):
        chunk = frames[start:start + CHUNK_FRAMES].reshape(-1, ref.size).astype(np.float64)
        diff = chunk - ref
        out[start:start + len(chunk)] = np.sqrt(np.einsum("ij,ij->i", diff, diff)) / (
            ref_norm + np.sqrt(np.einsum("ij,ij->i", chunk, chunk)) + 1e-12)
    return out


def ecg_like_signal(frames: np.ndarray) -> np.ndarray:
    """The paper's signal S (N,) for frames (N, H, W): distance of each frame to the first (S_0 = 0)."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) < 2:
        raise ConfigError(f"expected frames (N >= 2, H, W), got shape {frames.shape}")
    return distance_to(frames, frames[0])


def period_range(fps: float | None, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM) -> tuple[float, float]:
    """(shortest, longest) period in frames searched."""
    if fps is None:
        return DEFAULT_PERIOD_RANGE
    if not 0 < min_bpm < max_bpm:
        raise ConfigError(f"heart-rate search range must satisfy 0 < min < max, got {min_bpm}..{max_bpm} bpm")
    return 60.0 * fps / max_bpm, 60.0 * fps / min_bpm


def detrend(signal: np.ndarray, longest_period: float) -> np.ndarray:
    """Signal minus its moving average over an odd window of at least the longest period."""
    window = int(np.ceil(longest_period)) | 1
    return signal - uniform_filter1d(signal, size=window, mode="nearest")


def _peak(mag: np.ndarray, lo: int, hi: int) -> float:
    """Fractional index of the largest of ``mag[lo:hi]`` refined by a parabola through log-magnitudes."""
    k = lo + int(np.argmax(mag[lo:hi]))
    if 0 < k < len(mag) - 1:
        a, b, c = np.log(mag[k - 1:k + 2] + 1e-30)
        denom = a - 2 * b + c
        if denom < 0:
            return k + 0.5 * (a - c) / denom
    return float(k)


def _fundamental(mag: np.ndarray, size: int, n: int, shortest: float, longest: float) -> float:
    """Period (frames) of the strongest peak of ``mag`` (rfft of ``size`` points of an ``n``-frame signal) within
    the searched periods, moved to the half frequency when that carries SUBHARMONIC_SHARE of its height."""
    lo, hi = int(np.ceil(size / longest)), int(np.floor(size / shortest)) + 1
    k = _peak(mag, lo, hi)
    half = k / 2
    if half >= lo:
        near = slice(max(lo, int(half - size / n)), int(half + size / n) + 1)
        if near.stop > near.start and mag[near].max() >= SUBHARMONIC_SHARE * mag[round(k)]:
            k = _peak(mag, near.start, near.stop)
    return size / k


def _fft_size(n: int) -> int:
    return ZERO_PAD * int(2 ** np.ceil(np.log2(n)))


def estimate_period(signal: np.ndarray, shortest: float, longest: float) -> tuple[float, np.ndarray, np.ndarray,
                                                                                    np.ndarray]:
    """(period in frames, detrended signal, frequencies (cycles/frame), magnitude spectrum) of ``signal`` (step 2)."""
    n = len(signal)
    if n < 2 * longest:
        raise ScanReadError(f"{n} frames hold fewer than two beats of the longest period searched "
                            f"({longest:.1f} frames); the run is too short to find a heartbeat")
    flat = detrend(signal, longest)
    size = _fft_size(n)
    mag = np.abs(np.fft.rfft(flat * np.hanning(n), n=size))
    return _fundamental(mag, size, n, shortest, longest), flat, np.fft.rfftfreq(size), mag


def refine_period(frames: np.ndarray, start: int, full: int, shortest: float, longest: float) -> float | None:
    """Step 5: the period from eq. 1 computed per phase of the run (reference frame 0 for frames before the
    contrast, the first fully opacified frame for the frames after it, the filling left out), the two
    mean-removed, Hann-windowed spectra added as power. None when a segment holds fewer than two longest beats."""
    segments = [(0, start), (full, len(frames))]
    if any(b - a < 2 * longest for a, b in segments):
        return None
    size = _fft_size(len(frames))
    power = np.zeros(size // 2 + 1)
    for a, b in segments:
        s = distance_to(frames[a:b], frames[a])
        power += np.abs(np.fft.rfft((s - s.mean()) * np.hanning(b - a), n=size)) ** 2
    return _fundamental(np.sqrt(power), size, max(b - a for a, b in segments), shortest, longest)


def one_beat_back(frames: np.ndarray, period: float) -> np.ndarray:
    """``D_k`` (N,): eq. 1 between frame k and its best match among the frames 0.9 to 1.1 periods (at least one
    frame either side of a period) earlier; 0 for the first frames. The best match absorbs heart-rate variability."""
    n = len(frames)
    lags = range(max(1, min(int(np.floor(0.9 * period)), round(period) - 1)),
                 max(int(np.ceil(1.1 * period)), round(period) + 1) + 1)
    norms = _norms(frames)
    flat = frames.reshape(n, -1)
    d = np.full(n, np.inf)
    for lag in lags:
        if lag >= n:
            break
        for start in range(lag, n, CHUNK_FRAMES):
            stop = min(n, start + CHUNK_FRAMES)
            diff = flat[start:stop].astype(np.float32) - flat[start - lag:stop - lag]
            dist = np.sqrt(np.einsum("ij,ij->i", diff, diff, dtype=np.float64))
            d[start:stop] = np.minimum(d[start:stop], dist / (norms[start:stop] + norms[start - lag:stop - lag] + 1e-12))
    d[~np.isfinite(d)] = 0.0
    return d


def _forward_share(flags: np.ndarray, window: int) -> np.ndarray:
    """Share of True among flags[k:k + window] for every k (shorter windows at the end)."""
    cs = np.concatenate([[0], np.cumsum(flags)])
    k = np.arange(len(flags))
    stop = np.minimum(k + window, len(flags))
    return (cs[stop] - cs[k]) / (stop - k)


def contrast_phase(frames: np.ndarray, period: float, signal_floor_frames: int | None = None) -> tuple[int, int]:
    """(first contrast frame, first fully opacified frame) from ``D`` (``one_beat_back``) and ``E`` (step 3)."""
    n, lag = len(frames), max(1, round(period))
    d = one_beat_back(frames, period)
    floor_end = signal_floor_frames or max(lag + 3, n // 3)
    first = int(np.ceil(1.1 * period)) + 1
    base = d[first:floor_end]
    if len(base) < 3:
        raise ScanReadError(f"{n} frames are too few to measure the no-contrast floor at a period of {period:.1f}")
    median = float(np.median(base))
    mad = float(np.median(np.abs(base - median))) * 1.4826 + 1e-9
    high = d > median + ONSET_MADS * mad
    high[:first] = False
    sustained = high & (_forward_share(high, lag) >= SUSTAINED_SHARE)
    if not sustained[floor_end // 2:].any():
        raise ScanReadError("no contrast injection found: the frames one beat apart never differ more than the "
                            "heartbeat does; pass the first contrast frame (--contrast-start)")
    start = int(np.argmax(sustained))
    # complete once the distance to the filled run (the mean of its last beat), averaged over a beat so the
    # heartbeat cancels, has come down FULL_SHARE of the way from its no-contrast level to its final level
    e = uniform_filter1d(distance_to(frames, frames[-lag:].mean(axis=0)), size=lag, mode="nearest")
    before, after = float(np.median(e[:start])), float(np.median(e[max(start + 1, n - max(n // 4, lag)):]))
    reached = np.flatnonzero(e[start:] <= after + (1 - FULL_SHARE) * (before - after))
    full = start + (int(reached[0]) if len(reached) else n - 1 - start) + lag // 2
    return start, min(max(full, start + 1), n - 1)


def pair_by_period(n_frames: int, period: float, contrast_start: int, contrast_full: int) -> np.ndarray:
    """Rows (non-contrast i, contrast j): j in the first contrast beat with ``j - i`` nearest a whole number of
    periods; frames i without such a j inside the run are left out. Shape (P, 2), int."""
    if not 0 < contrast_start <= contrast_full < n_frames:
        raise ConfigError(f"need 0 < contrast start ({contrast_start}) <= full ({contrast_full}) < frames "
                          f"({n_frames})")
    candidates = np.arange(contrast_full, min(n_frames, contrast_full + int(np.ceil(period))))
    rows = []
    for i in range(contrast_start):
        offset = (candidates - i) / period
        mismatch = np.abs(offset - np.round(offset))
        rows.append((i, int(candidates[int(np.argmin(mismatch))])))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def synchronise(frames: np.ndarray, fps: float | None = None, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM,
                contrast_start: int | None = None, refine: bool = True) -> SyncResult:
    """Signal, period, contrast phase and pairs for frames (N, H, W); ``contrast_start`` replaces step 3 (the
    contrast is then taken as complete one period later); ``refine=False`` pairs with the whole-run period of
    step 2 (the paper's literal recipe) instead of step 5's."""
    frames = np.asarray(frames)
    signal = ecg_like_signal(frames)
    shortest, longest = period_range(fps, min_bpm, max_bpm)
    period, flat, freqs, mag = estimate_period(signal, shortest, longest)
    if contrast_start is None:
        start, full = contrast_phase(frames, period)
    else:
        if not 0 < contrast_start < len(frames):
            raise ConfigError(f"contrast start {contrast_start} must lie inside the run (1..{len(frames) - 1})")
        start, full = contrast_start, min(contrast_start + int(np.ceil(period)), len(frames) - 1)
    refined = refine_period(frames, start, full, shortest, longest) if refine else None
    pairs = pair_by_period(len(frames), refined or period, start, full)
    return SyncResult(signal=signal, detrended=flat, period_frames=float(refined or period), fps=fps,
                      contrast_start=start, contrast_full=full, pairs=pairs, frequencies=freqs, spectrum=mag,
                      period_whole_run=float(period))
