"""tqgd.xa.sync: the paper's signal, the FFT period, the contrast phase and the pairing, against the true phase."""

from __future__ import annotations

import numpy as np
import pytest

from tqgd.errors import ConfigError, ScanReadError
from tqgd.xa.phantom_render import render_run
from tqgd.xa.phantom_spec import draw_run
from tqgd.xa.sync import ecg_like_signal, estimate_period, pair_by_period, synchronise
from tqgd.xa.sync_eval import pair_phase_errors
from tqgd.xa.truth import RunTruth


def test_signal_is_equation_one() -> None:
    rng = np.random.default_rng(0)
    frames = rng.random((5, 6, 7))
    signal = ecg_like_signal(frames)
    f0 = frames[0]
    for k in range(5):
        expected = np.linalg.norm(f0 - frames[k]) / (np.linalg.norm(f0) + np.linalg.norm(frames[k]))
        assert signal[k] == pytest.approx(expected, rel=1e-12)
    assert signal[0] == 0.0


@pytest.mark.parametrize("period", [6.3, 9.0, 13.7, 21.2])
def test_fft_period_of_a_pulse_train(period) -> None:
    k = np.arange(200)
    phase = (k / period + 0.37) % 1
    pulse = np.exp(-((phase - 0.2) / 0.08) ** 2)  # narrow pulses: strong harmonics, fundamental must still win
    found, *_ = estimate_period(pulse + 0.3 * (k > 100), 60 * 15 / 180, 60 * 15 / 40)
    assert found == pytest.approx(period, abs=0.05)


def test_too_short_run_is_refused() -> None:
    with pytest.raises(ScanReadError, match="fewer than two beats"):
        estimate_period(np.zeros(30), 5.0, 22.5)


def test_pairs_are_whole_periods_apart_in_the_first_contrast_beat() -> None:
    pairs = pair_by_period(100, 10.0, 50, 60)
    assert len(pairs) == 50
    assert np.all((pairs[:, 1] >= 60) & (pairs[:, 1] < 70))
    assert np.all((pairs[:, 1] - pairs[:, 0]) % 10 == 0)
    with pytest.raises(ConfigError, match="contrast start"):
        pair_by_period(100, 10.0, 70, 60)


def test_phase_error_of_pairs() -> None:
    cycles = np.arange(50) / 8.0  # period 8 frames
    errors = pair_phase_errors(np.array([[0, 16], [0, 17], [3, 10]]), cycles, 8.0)
    np.testing.assert_allclose(errors, [0.0, 1.0, -1.0])


@pytest.fixture(scope="module", params=[(0, 0, 0), (1, 1, 0), (4, 0, 1)], ids=lambda p: f"seed{p[0]}-P{p[1]}V{p[2]}")
def rendered(request):
    spec, _ = draw_run(*request.param, n_frames=200, size=96)
    return render_run(spec)


def test_period_and_pairs_match_the_truth(rendered) -> None:
    result = synchronise(rendered.frames.astype(np.float32), 15.0)
    truth = RunTruth(calcium=rendered.calcium, phase=rendered.phase, beat=rendered.beat, vessel=None, record={})
    period = truth.mean_period_frames()
    assert result.period_frames == pytest.approx(period, abs=0.15)
    assert result.heart_rate_bpm == pytest.approx(900 / period, rel=0.02)
    assert abs(result.contrast_start - 100) <= 3  # the generator injects at half the run
    assert np.all(rendered.fill[result.contrast_full:] > 0.8)  # paired contrast frames are (nearly) filled
    errors = pair_phase_errors(result.pairs, truth.cycles(), period)
    assert len(errors) == result.contrast_start
    assert np.mean(np.abs(errors) <= 1.0) >= 0.9


def test_no_contrast_is_reported() -> None:
    spec, _ = draw_run(2, 0, 0, n_frames=140, size=64)
    from dataclasses import replace

    run = render_run(replace(spec, contrast_start=10_000))
    with pytest.raises(ScanReadError, match="no contrast injection found.*--contrast-start"):
        synchronise(run.frames.astype(np.float32), 15.0)
    result = synchronise(run.frames.astype(np.float32), 15.0, contrast_start=80)
    assert result.contrast_start == 80 and len(result.pairs) == 80
