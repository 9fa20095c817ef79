"""tqgd.xa phantom: XA files that dciodvfy accepts, determinism by seed, and ground truth that agrees with itself."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from tests.dicom_out.phantom_series import need_tool
from tests.xa.conftest import SMALL_FRAMES, SMALL_SIZE
from tqgd.xa.phantom_heart import Heartbeat, motion_waveform
from tqgd.xa.phantom_render import render_run
from tqgd.xa.phantom_set import write_run
from tqgd.xa.phantom_spec import draw_run
from tqgd.xa.reader import XA_IMAGE_STORAGE


def _dciodvfy_errors(path) -> list[str]:
    tool = need_tool("dciodvfy", "dicom3tools")
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120, check=False)
    lines = (run.stdout + run.stderr).splitlines()
    assert "XAImage" in lines, lines
    return [line for line in lines if line.startswith("Error")]


def test_run_is_valid_xa_multiframe(small_run) -> None:
    ds = pydicom.dcmread(small_run)
    assert ds.SOPClassUID == XA_IMAGE_STORAGE and ds.Modality == "XA"
    assert int(ds.NumberOfFrames) == SMALL_FRAMES and ds.Rows == ds.Columns == SMALL_SIZE
    assert ds.FrameIncrementPointer == 0x00181063  # Frame Time
    assert not _dciodvfy_errors(small_run)


def test_compressed_run_is_valid(tmp_path) -> None:
    write_run(tmp_path, 5, 0, 0, 20, 64, compression="jpegls")
    path = tmp_path / "P001V1.dcm"
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == pydicom.uid.JPEGLSLossless
    assert not _dciodvfy_errors(path)


def test_same_seed_same_run_other_seed_other_run(tmp_path) -> None:
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        (tmp_path / name).mkdir()
        write_run(tmp_path / name, seed, 1, 2, 24, 64)
    for suffix in (".dcm", ".npz", ".json"):  # byte for byte: no dates, UIDs from the seed
        assert (tmp_path / "a" / f"P002V3{suffix}").read_bytes() == (tmp_path / "b" / f"P002V3{suffix}").read_bytes()
    read = {name: pydicom.dcmread(tmp_path / name / "P002V3.dcm") for name in "abc"}
    assert read["a"].PixelData == read["b"].PixelData
    assert read["a"].SOPInstanceUID == read["b"].SOPInstanceUID
    assert read["a"].PixelData != read["c"].PixelData
    with np.load(tmp_path / "a" / "P002V3.npz") as a, np.load(tmp_path / "b" / "P002V3.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_calcium_lies_inside_its_vessel_in_every_frame(small_runs) -> None:
    found = 0
    for npz in sorted(small_runs.glob("*.npz")):
        with np.load(npz) as truth:
            calcium, vessel = truth["calcium"] > 0, truth["vessel"]
        found += int(calcium.any())
        # one pixel of slack for rasterising two polylines of different widths
        grown = ndimage.binary_dilation(vessel, structure=np.ones((1, 3, 3), bool))
        assert not (calcium & ~grown).any(), npz.name
    assert found >= 1  # the fixture's runs must hold calcium for this to test anything


def test_calcium_moves_with_the_heart(small_runs) -> None:
    with np.load(small_runs / "P001V1.npz") as truth:
        calcium, waveform = truth["calcium"], truth["waveform"]
    label = int(calcium.max())
    assert label > 0
    ys, xs = [], []
    for frame in calcium:
        y, x = np.nonzero(frame == label)
        ys.append(y.mean())
        xs.append(x.mean())
    shift = np.hypot(np.array(xs) - xs[int(np.argmin(waveform))], np.array(ys) - ys[int(np.argmin(waveform))])
    assert shift.max() > 1.0  # it moves ...
    assert np.corrcoef(shift, waveform)[0, 1] > 0.8  # ... in step with the contraction


def test_phase_is_periodic_with_the_drawn_heart_rate() -> None:
    beat = Heartbeat(heart_rate_bpm=72.0, fps=15.0, start_phase=0.3)
    phase, index = beat.phases(100)
    expected = 0.3 + np.arange(100) * 72.0 / 60.0 / 15.0
    np.testing.assert_allclose(index + phase, expected, atol=1e-12)
    varying = replace(beat, hrv_fraction=0.03, breathing_period_s=4.0)
    steps = np.diff(varying.cycles(300))
    assert steps.min() >= 72 / 900 * 0.97 - 1e-12 and steps.max() <= 72 / 900 * 1.03 + 1e-12
    assert steps.max() > 72 / 900 * 1.02  # the modulation is really there


def test_recorded_phase_matches_the_recorded_heart_rate(small_runs) -> None:
    for npz in sorted(small_runs.glob("*.npz")):
        record = json.loads(npz.with_suffix(".json").read_text())
        with np.load(npz) as truth:
            cycles = truth["beat"] + truth["phase"]
        rate = np.diff(cycles) * record["fps"] * 60.0  # beats per minute frame by frame
        assert np.all(np.abs(rate / record["heart_rate_bpm"] - 1) <= record["hrv_fraction"] + 1e-9)
        assert record["period_frames"] == pytest.approx(record["fps"] * 60 / record["heart_rate_bpm"])


def test_same_phase_same_picture_without_heart_rate_variability() -> None:
    spec, _ = draw_run(11, 0, 0, 40, 96)
    spec = replace(spec, beat=Heartbeat(heart_rate_bpm=90.0, fps=15.0, start_phase=0.1))  # exactly 10 frames
    run = render_run(spec)
    for k in range(10):
        np.testing.assert_array_equal(run.vessel[k], run.vessel[k + 10])
        np.testing.assert_array_equal(run.calcium[k], run.calcium[k + 10])
    same = np.abs(run.frames[3].astype(float) - run.frames[13]).mean()
    other = np.abs(run.frames[3].astype(float) - run.frames[8]).mean()
    assert same < other  # one period apart only the noise differs


def test_contrast_only_in_the_second_half(small_runs) -> None:
    with np.load(small_runs / "P001V1.npz") as truth:
        fill, vessel = truth["fill"], truth["vessel"]
    record = json.loads((small_runs / "P001V1.json").read_text())
    start = record["contrast_start_frame"]
    assert start == SMALL_FRAMES // 2
    assert np.all(fill[:start] == 0) and fill[-1] > 0.3 and np.all(np.diff(fill) >= 0)
    frames = pydicom.dcmread(small_runs / "P001V1.dcm").pixel_array.astype(float)
    before = frames[start - 1][vessel[start - 1]].mean() - frames[start - 1][~vessel[start - 1]].mean()
    after = frames[-1][vessel[-1]].mean() - frames[-1][~vessel[-1]].mean()
    assert after < before - 5  # filled vessels are darker (grey levels)


def test_motion_waveform_shape() -> None:
    phase = np.linspace(0, 1, 1001)
    w = motion_waveform(phase)
    assert w.min() == 0.0 and w.max() == pytest.approx(1.0)
    assert w[np.argmax(w)] == pytest.approx(1.0) and phase[np.argmax(w)] == pytest.approx(0.35, abs=1e-3)
    assert np.all(w[phase >= 0.65] == 0)  # diastasis
