"""Speed of the scan pipeline: ``tqgd detect`` per stage, DICOM reading, conversion, and detect's peak memory.

Measured on phantom scans of 60 slices of 512 x 512 written as real DICOM series (and MetaImage for the conversion):

- ``tqgd detect`` on one series: the whole command (a subprocess: start-up, imports, model loading included) and, in
  this process with the same functions ``tqgd detect`` calls, the split per stage: read, heart crop, calcium
  detection, scoring, writing (detections.json/.csv, overlays, report.png). Medians over ``--repeats``.
- Reading the series: tqgd's ``read_ct`` against SimpleITK's ``ImageSeriesReader`` on the same files (interleaved
  repeats; the HU of both are checked to agree).
- ``tqgd convert orcascore`` on the MetaImage copies: source slices per second and its own per-stage seconds.
- Peak memory (max RSS of the ``tqgd detect`` process) on a folder holding one scan and on one holding all
  ``--scans``: when detection streams scan by scan, the two peaks match; the same with ``--lean-memory``, and that
  option's cost in time on one scan.
- Backends (``--backends``, default torch, onnx and openvino): ``tqgd detect --backend B`` on one series, the first
  run (which exports the weights unless the export is cached) and then ``--repeats`` rounds with the backends
  interleaved; its ratio to the torch backend, the per-stage split in this process, and peak memory on one scan.
- Start-up: ``tqgd --help``, a bare Python, and a Python importing what ``tqgd detect`` imports.

Weights: ``--weights`` / ``--heart-weights``, else the demo's phantom weights (``tqgd demo``), else this script trains
them first with the demo's settings (about ten minutes on CPU; ``--smoke`` uses the demo's quick settings).

Usage:
    python benchmarks/pipeline_speed.py --work /tmp/tqgd-pipeline --update
    python benchmarks/pipeline_speed.py --work /tmp/tqgd-pipeline-smoke --smoke
    python benchmarks/pipeline_speed.py --work /tmp/tqgd-backends --only-backends --scans 1   # backends, start-up
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import tqgd  # noqa: F401  - before ultralytics: it configures ultralytics (offline) at import

# isort: split
from bench_common import log, record_line, run_record, update_block
from pipeline_stages import (
    PhantomScans,
    cli_detect,
    compare_backends,
    compare_readers,
    conversion_speed,
    demo_weights,
    peak_rss_mib,
    stage_times,
    startup_seconds,
    write_scans,
)

BLOCK_NAME = "pipeline_speed"
#: Peak-memory growth from one scan to a folder still read as streaming: under this share of what keeping every
#: further volume in memory would add (run-to-run noise of the peak is a few tens of MiB).
STREAMING_SHARE = 0.5
#: ``tqgd detect``'s option that returns freed large arrays to the OS (tqgd.engine.heap).
LEAN = ("--lean-memory",)


def fmt_s(values: list[float]) -> str:
    """Median seconds with the spread of the repeats, e.g. '2.31 s (2.20-2.45)'."""
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def stage_lines(stages: dict[str, list[float]], cli: list[float]) -> list[str]:
    """Table of per-stage medians and their share of the sum of the medians, then the CLI total."""
    total = sum(statistics.median(values) for values in stages.values())
    lines = ["| stage | median (min-max) | share |", "| --- | ---: | ---: |"]
    for name, values in stages.items():
        lines.append(f"| {name} | {fmt_s(values)} | {statistics.median(values) / total:.0%} |")
    lines.append(f"| **in-process total** | {total:.2f} s | 100% |")
    lines.append(f"| `tqgd detect` command (start-up, imports, model loading included) | {fmt_s(cli)} | |")
    return lines


def backend_lines(results: dict[str, dict], repeats: int) -> list[str]:
    """Table of ``tqgd detect`` wall per scan by backend (ratio to torch), first run, peak memory; stage medians."""
    reference = statistics.median(results["torch"]["wall"]) if "torch" in results else None
    lines = [(f"`tqgd detect --backend B` on one series (median of {repeats} rounds, backends interleaved; first run: "
             "before them, exporting the weights unless the export was cached):"), "",
             "| backend | `tqgd detect` wall per scan | ratio to torch | first run | peak memory (MiB) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for backend, r in results.items():
        ratio = f"{statistics.median(r['wall']) / reference:.2f}x" if reference else "-"
        lines.append(f"| {backend} | {fmt_s(r['wall'])} | {ratio} | {r['first']:.2f} s | {r['peak_mib']:.0f} |")
    names = list(next(iter(results.values()))["stages"])
    lines += ["", "In this process, per stage (median seconds):", "",
              "| stage | " + " | ".join(results) + " |", "| --- |" + " ---: |" * len(results)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{statistics.median(r['stages'][name]):.2f}"
                                               for r in results.values()) + " |")
    return lines


def startup_line(startup: dict[str, list[float]], repeats: int) -> str:
    """One sentence with the start-up medians."""
    return (f"Start-up (median of {repeats}): " + "; ".join(f"{name} {fmt_s(values)}" for name, values in
                                                           startup.items()) + ".")


def main(argv: list[str] | None = None) -> str:
    """Measure everything, print the block and (with --update) write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="working folder (scans, weights, outputs)")
    parser.add_argument("--weights", type=Path, help="calcium weights (default: the demo's, trained if missing)")
    parser.add_argument("--heart-weights", type=Path, help="heart weights (default: the demo's)")
    parser.add_argument("--scans", type=int, default=8, help="phantom scans for conversion and memory (default 8)")
    parser.add_argument("--slices", type=int, default=60, help="slices per scan (default 60)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each timing (default 3)")
    parser.add_argument("--batch", type=int, default=16, help="slices per model call in detect (default 16)")
    parser.add_argument("--device", default="cpu", help="detect device (default cpu)")
    parser.add_argument("--smoke", action="store_true", help="128 px scans of 8 slices, quick demo weights")
    parser.add_argument("--backends", default="torch,onnx,openvino",
                        help="comma-separated tqgd detect --backend values to compare (default torch,onnx,openvino)")
    parser.add_argument("--only-backends", action="store_true",
                        help="measure only the backends and start-up (no --update: the block would lose its tables)")
    parser.add_argument("--update", type=Path, nargs="?", const=Path("BENCHMARKS.md"),
                        help="write the block into this Markdown file's pipeline_speed block")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    from tqgd.engine.backends import check_backend

    for backend in backends:
        check_backend(backend, args.device)  # a missing package stops the run before anything is measured
    if args.only_backends and args.update:
        parser.error("--only-backends measures part of the block; run without it to --update BENCHMARKS.md")
    work = args.work.expanduser().resolve()
    record = run_record("pipeline_speed.py")
    image_size, slices = (128, 8) if args.smoke else (512, args.slices)
    weights, heart = demo_weights(work, args.weights, args.heart_weights, quick=args.smoke)
    scans: PhantomScans = write_scans(work / "scans", args.scans, slices, image_size)
    log(f"backends {', '.join(backends)} on {scans.dicom[0].name}")
    compared = compare_backends(scans.dicom[0], scans.dicom_root, weights, heart, work / "backends", backends,
                                args.repeats, args.batch, args.device)
    log("start-up")
    startup = startup_seconds(args.repeats)
    backend_block = [*backend_lines(compared, args.repeats), "", startup_line(startup, args.repeats)]
    if args.only_backends:
        block = "\n".join([record_line(record), "",
                           (f"Data: one phantom scan of {slices} slices of {image_size} x {image_size} px (DICOM). "
                           f"Weights: {weights} and {heart}; batch {args.batch}, device {args.device}."), "",
                           *backend_block])
        print(block)
        return block
    log(f"stages: {args.repeats} x detect on {scans.dicom[0].name}")
    stages = stage_times(scans.dicom[0], weights, heart, work / "out", args.repeats, args.batch, args.device)
    log(f"before/after: calcium detection one slice per model call vs {args.batch}")
    unbatched = stage_times(scans.dicom[0], weights, heart, work / "out", args.repeats, 1, args.device)
    log("tqgd detect command, with and without --lean-memory (interleaved)")
    cli, cli_lean = [], []
    for _ in range(args.repeats):
        cli.append(cli_detect(scans.dicom[0], weights, heart, work / "cli", args.batch, args.device))
        cli_lean.append(cli_detect(scans.dicom[0], weights, heart, work / "cli", args.batch, args.device,
                                   extra=LEAN))
    log("DICOM reading: tqgd vs SimpleITK")
    readers = compare_readers(scans.dicom, args.repeats)
    log("conversion")
    conversion = conversion_speed(scans.orcascore, work / "converted", args.repeats)
    log("peak memory of tqgd detect on 1 and on all scans")
    one = peak_rss_mib(scans.dicom_root, weights, heart, work / "mem1", args.batch, args.device, only=1)
    every = peak_rss_mib(scans.dicom_root, weights, heart, work / "mem_all", args.batch, args.device)
    log("the same with --lean-memory")
    one_lean = peak_rss_mib(scans.dicom_root, weights, heart, work / "mem1", args.batch, args.device, only=1,
                            extra=LEAN)
    every_lean = peak_rss_mib(scans.dicom_root, weights, heart, work / "mem_all", args.batch, args.device,
                              extra=LEAN)
    volume_mib = slices * image_size * image_size * 4 / 2**20
    kept_all = (len(scans.dicom) - 1) * volume_mib
    detect_one = statistics.median(unbatched["stages"]["calcium detection"])
    detect_batched = statistics.median(stages["stages"]["calcium detection"])
    lines = [record_line(record), "",
             (f"Data: {len(scans.dicom)} phantom scans of {slices} slices of {image_size} x {image_size} px as DICOM "
             f"series (uncompressed) and MetaImage. Weights: {weights} and {heart} (the calcium model "
             f"{stages['imgsz']} px, {stages['detections']} boxes found, batch {args.batch}, confidence as `tqgd "
             f"detect` takes it: the weights' operating point, else 0.25); device {args.device}."), "",
             f"`tqgd detect` on one series ({args.repeats} repeats):", "",
             *stage_lines(stages["stages"], cli), "",
             (f"Before/after batching slices (the largest in-process stage): calcium detection {detect_one:.2f} s with "
              f"one slice per model call, {detect_batched:.2f} s with {args.batch} ({detect_batched / detect_one:.2f}x;"
              f" median of {args.repeats}). The fused model (RepConv and Conv+BN folded) is what both use."), "",
             (f"Reading one {slices}-slice series (median of {args.repeats} x {len(scans.dicom)} scans, interleaved): "
             f"tqgd `read_ct` {readers['tqgd']:.3f} s, SimpleITK `ImageSeriesReader` {readers['sitk']:.3f} s "
             f"(tqgd / SimpleITK = {readers['tqgd'] / readers['sitk']:.2f}x); largest HU difference "
             f"{readers['max_abs_diff_hu']:g}."), "",
             (f"`tqgd convert orcascore` of {len(scans.orcascore_cases)} scans ({conversion['slices']} slices): "
              f"{conversion['slices_per_s']:.1f} source slices/s (median of {args.repeats}); seconds by stage "
              + ", ".join(f"{k} {v:.2f}" for k, v in conversion["stages"].items()) + "."), "",
             (f"Peak memory (max RSS) of `tqgd detect`: one scan {one:.0f} MiB, a folder of {len(scans.dicom)} scans "
              f"{every:.0f} MiB, {every - one:+.0f} MiB; keeping every further volume (float32 HU, "
              f"{volume_mib:.0f} MiB each) would add {kept_all:.0f} MiB: "
              + ("it streams scan by scan." if every - one < STREAMING_SHARE * kept_all else
                 "it grows with the number of scans.")
              + f" With `--lean-memory`: one scan {one_lean:.0f} MiB, {len(scans.dicom)} scans {every_lean:.0f} MiB, "
              f"{every_lean - one_lean:+.0f} MiB; one scan's command took {statistics.median(cli_lean):.2f} s against "
              f"{statistics.median(cli):.2f} s without it ({statistics.median(cli_lean) / statistics.median(cli):.2f}x"
              f", median of {args.repeats}, interleaved)."), "", *backend_block]
    block = "\n".join(lines)
    print(block)
    if args.update:
        update_block(BLOCK_NAME, block, args.update)
    return block


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min")
