"""The measurements behind ``pipeline_speed.py``: test scans, weights, per-stage detect timing, readers, memory.

Each function times real tqgd code on real files; ``stage_times`` repeats what ``tqgd.engine.detect_run.detect_scan``
does, stage by stage, with a timer around each call.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import log

#: Slice spacing of the benchmark scans (mm): 60 slices cover 150 mm, a usual calcium-scoring range.
SLICE_SPACING_MM = 2.5
PHANTOM_SEED = 7


@dataclass
class PhantomScans:
    """The benchmark's scans: DICOM series folders (under ``dicom_root``) and the OrCaScore-layout copy."""

    dicom_root: Path
    dicom: list[Path] = field(default_factory=list)
    orcascore: Path | None = None
    orcascore_cases: list[str] = field(default_factory=list)


def write_scans(folder: Path, count: int, slices: int, image_size: int) -> PhantomScans:
    """``count`` phantom patients of exactly ``slices`` slices as DICOM and MetaImage; reused when present."""
    from tqgd.data.phantom.config import PhantomConfig
    from tqgd.data.phantom.layout import DICOM_DIR, write_phantom_set

    length_mm = slices * SLICE_SPACING_MM
    if not (folder / "phantom" / "phantom.json").is_file():
        log(f"scans: {count} phantom patients, {slices} slices of {image_size} px")
        config = PhantomConfig(slice_spacing_mm=(SLICE_SPACING_MM,), overlap_share=0.0,
                               scan_length_mm=(length_mm, length_mm), clip_heart=length_mm < 100)
        write_phantom_set(folder, count, seed=PHANTOM_SEED, formats=("orcascore", "dicom"), image_size=image_size,
                          config=config, overwrite=True)
    series = sorted(p for p in (folder / DICOM_DIR).iterdir() if p.is_dir())
    found = {len(list(p.glob("*.dcm"))) for p in series}
    if found != {slices}:
        raise RuntimeError(f"{folder}: expected {count} series of {slices} slices, found slice counts {found}; "
                           "delete the folder and run again")
    return PhantomScans(dicom_root=folder / DICOM_DIR, dicom=series, orcascore=folder,
                        orcascore_cases=[p.name for p in series])


def demo_weights(work: Path, weights: Path | None, heart: Path | None, quick: bool) -> tuple[Path, Path | None]:
    """(calcium, heart) weights: the given ones, else ``tqgd demo``'s, else trained here by the demo's steps."""
    from tqgd.engine.demo import DemoSettings, demo_weights_dir, run_demo

    if weights is not None:
        return weights.resolve(), heart.resolve() if heart else None
    published = demo_weights_dir()
    if not quick and (published / "calcium.pt").is_file() and (published / "heart.pt").is_file():
        return published / "calcium.pt", published / "heart.pt"
    trained = work / "demo" / "weights"
    if not (trained / "calcium.pt").is_file():
        log("weights: running tqgd demo's training steps" + (" (quick settings)" if quick else ""))
        run_demo(work / "demo", DemoSettings.quick() if quick else DemoSettings())
    return trained / "calcium.pt", trained / "heart.pt"


def stage_times(scan: Path, weights: Path, heart: Path | None, out: Path, repeats: int, batch: int,
                device: str, backend: str = "torch") -> dict[str, Any]:
    """Seconds per stage of ``detect_scan`` (load, read, heart crop, detect, score, write) over ``repeats`` runs.

    ``backend``: the models run as ``tqgd detect --backend`` runs them (loading an exported model, already cached,
    counts as loading weights; the runtime session is made on the first prediction, in the heart crop).
    """
    from tqgd.data.readers import read_ct
    from tqgd.detections import save_detections
    from tqgd.engine.detect import DetectOptions, detect_volume
    from tqgd.engine.detect_run import detections_csv, make_setup
    from tqgd.engine.overlay import OVERLAY_DIR, write_overlays
    from tqgd.io import write_json, write_text
    from tqgd.scoring import score_detections
    from tqgd.scoring.report import write_report_png

    names = ("load weights", "read DICOM series", "heart crop", "calcium detection", "scoring",
             "write outputs (json, csv, overlays, report.png)")
    stages: dict[str, list[float]] = {name: [] for name in names}
    detections = 0
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        marks = [time.perf_counter()]
        setup = make_setup(weights, heart, DetectOptions(batch=batch), device, backend=backend)
        marks.append(time.perf_counter())
        volume = read_ct(scan)
        marks.append(time.perf_counter())
        roi = setup.cropper.roi(volume) if setup.cropper is not None else None
        marks.append(time.perf_counter())
        result = detect_volume(volume, setup.detector, roi, setup.options)
        marks.append(time.perf_counter())
        score = score_detections(volume, result, detections_path=out / "detections.json")
        marks.append(time.perf_counter())
        save_detections(result, out / "detections.json")
        write_text(out / "detections.csv", detections_csv(result))
        write_overlays(volume, setup.detector.windowing, result, out / OVERLAY_DIR)
        write_json(out / "score.json", score.to_dict())
        write_report_png(score, volume, out / "report.png")
        marks.append(time.perf_counter())
        for name, start, stop in zip(names, marks, marks[1:], strict=False):
            stages[name].append(stop - start)
        detections = len(result.all_detections())
    return {"stages": stages, "imgsz": setup.detector.imgsz, "detections": detections,
            "roi": roi.xyxy if roi is not None else None}


def tqgd_command() -> str:
    """The ``tqgd`` console script next to this Python."""
    return str(Path(sys.executable).with_name("tqgd"))


def detect_command(source: Path, weights: Path, heart: Path | None, out: Path, batch: int, device: str,
                   backend: str = "torch", extra: tuple[str, ...] = ()) -> list[str]:
    """The ``tqgd detect`` command line (``extra``: further options, e.g. ``--lean-memory``)."""
    command = [tqgd_command(), "detect", str(source), "--weights", str(weights), "--out", str(out),
               "--batch", str(batch), "--device", device, "--backend", backend, *extra]
    return command + (["--heart-weights", str(heart)] if heart else [])


def cli_detect(source: Path, weights: Path, heart: Path | None, out: Path, batch: int, device: str,
               backend: str = "torch", extra: tuple[str, ...] = ()) -> float:
    """Wall seconds of one ``tqgd detect`` run (fresh output folder); raises if the command fails."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(detect_command(source, weights, heart, out, batch, device, backend, extra),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tqgd detect failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


#: Runs a command and prints the peak RSS (KiB) of its process tree's largest process.
_PEAK_RSS = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True); "
             "sys.stderr.write(done.stderr.decode()[-2000:]) if done.returncode else None; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")


def peak_rss_mib(dicom_root: Path, weights: Path, heart: Path | None, out: Path, batch: int, device: str,
                 only: int | None = None, backend: str = "torch", extra: tuple[str, ...] = ()) -> float:
    """Max RSS (MiB) of ``tqgd detect`` on a folder of series: all of ``dicom_root``, or a folder of its first
    ``only`` series (symbolic links)."""
    source = dicom_root
    if only is not None:
        source = out.parent / f"{out.name}_source"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        for series in sorted(p for p in dicom_root.iterdir() if p.is_dir())[:only]:
            (source / series.name).symlink_to(series, target_is_directory=True)
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-c", _PEAK_RSS,
               *detect_command(source, weights, heart, out, batch, device, backend, extra)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tqgd detect on {source} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(done.stdout.split()[-1]) / 1024


def command_seconds(command: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``command``; raises if it fails."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return times


#: What ``tqgd detect`` imports before it touches a scan: tqgd (ultralytics' offline switches), the detect engine,
#: torch, and ultralytics' predictor (torchvision with it).
DETECT_IMPORTS = ("import tqgd, tqgd.cli, tqgd.engine.detect_run, torch, "
                  "ultralytics.models.yolo.detect.predict")
#: What ``tqgd detect --backend onnx`` imports to run a cached export (no torch, no ultralytics).
LEAN_ONNX_IMPORTS = "import tqgd, tqgd.cli, tqgd.engine.detect_run, tqgd.engine.onnx_predictor, onnxruntime, cv2"


def startup_seconds(repeats: int) -> dict[str, list[float]]:
    """Wall seconds of ``tqgd --help``, of a bare Python, and of a Python importing what detect needs (with torch,
    and for a cached ONNX export without it)."""
    return {"tqgd --help": command_seconds([tqgd_command(), "--help"], repeats),
            "python (nothing imported)": command_seconds([sys.executable, "-c", "pass"], repeats),
            "python importing detect's modules": command_seconds([sys.executable, "-c", DETECT_IMPORTS], repeats),
            "the same for a cached ONNX export (no torch)": command_seconds([sys.executable, "-c", LEAN_ONNX_IMPORTS],
                                                                            repeats)}


def compare_backends(scan: Path, dicom_root: Path, weights: Path, heart: Path | None, out: Path, backends: list[str],
                     repeats: int, batch: int, device: str) -> dict[str, dict[str, Any]]:
    """Per backend: the first ``tqgd detect`` (exports made then, unless cached), then ``repeats`` rounds with the
    backends interleaved (same load for each), per-stage seconds in this process, and peak RSS on one scan."""
    results: dict[str, dict[str, Any]] = {b: {"wall": []} for b in backends}
    for backend in backends:
        log(f"backend {backend}: first run (export if not cached)")
        results[backend]["first"] = cli_detect(scan, weights, heart, out / backend, batch, device, backend)
    for round_ in range(repeats):
        for backend in backends:
            log(f"backend {backend}: round {round_ + 1} of {repeats}")
            results[backend]["wall"].append(cli_detect(scan, weights, heart, out / backend, batch, device, backend))
    for backend in backends:
        log(f"backend {backend}: stages in process, peak memory")
        results[backend]["stages"] = stage_times(scan, weights, heart, out / f"{backend}_stages", repeats, batch,
                                                 device, backend)["stages"]
        results[backend]["peak_mib"] = peak_rss_mib(dicom_root, weights, heart, out / f"{backend}_mem", batch, device,
                                                     only=1, backend=backend)
    return results


def read_with_sitk(folder: Path) -> np.ndarray:
    """HU volume (z, y, x) of a DICOM series folder through SimpleITK's ImageSeriesReader (GDCM's slice order)."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute()).astype(np.float32)


def compare_readers(series: list[Path], repeats: int) -> dict[str, float]:
    """Median seconds per series read by tqgd and by SimpleITK (interleaved), and their largest HU difference."""
    from tqgd.data.readers import read_ct

    times: dict[str, list[float]] = {"tqgd": [], "sitk": []}
    max_diff = 0.0
    for _ in range(repeats):
        for folder in series:
            started = time.perf_counter()
            ours = read_ct(folder).hu
            times["tqgd"].append(time.perf_counter() - started)
            started = time.perf_counter()
            theirs = read_with_sitk(folder)
            times["sitk"].append(time.perf_counter() - started)
            if ours.shape != theirs.shape:
                raise RuntimeError(f"{folder}: tqgd read {ours.shape}, SimpleITK {theirs.shape}")
            max_diff = max(max_diff, float(np.abs(ours - theirs).max()))
    return {"tqgd": statistics.median(times["tqgd"]), "sitk": statistics.median(times["sitk"]),
            "max_abs_diff_hu": max_diff}


def conversion_speed(source: Path, out: Path, repeats: int) -> dict[str, Any]:
    """Median source slices/s of ``convert_orcascore`` (fresh output each time) and the fastest run's stage seconds."""
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore

    reports = []
    for index in range(repeats):
        shutil.rmtree(out / f"run{index}", ignore_errors=True)
        reports.append(convert_orcascore(source, out / f"run{index}", OrcaConvertOptions(folds=2)))
    fastest = max(reports, key=lambda r: r.slices_per_second)
    return {"slices": fastest.source_slices, "slices_per_s": statistics.median(r.slices_per_second for r in reports),
            "stages": {k: v for k, v in fastest.seconds.items() if k != "total"}}
