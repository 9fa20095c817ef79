"""Cost and speed of every model config next to YOLOv5*B, measured in one run: the model half of issue 7's speed table.

Per model (every shipped config at one scale, plus ultralytics' yolov5n, yolov8n, yolo11n, yolo26n and yolo26n-p2):
parameters and GFLOPs at 512 px (``model_cost.cost_row``: ultralytics' THOP count, fused graph), forward latency at
batch 1 and batch 16 (``model_cost.latency_ms``: fused, eval, ``inference_mode``, models interleaved run by run so
load changes hit every model alike), and one training step (forward, ultralytics' loss, backward, SGD step) at the paper's batch 4, from
which the time of one epoch over ``--epoch-images`` images follows. Every number is also given as a ratio to YOLOv5*B
(``yolov5b-panet``) from the same run: on a shared machine the ratios are the numbers to quote. On a GPU (``--device
cuda``) latency is measured in fp32 and fp16.

Usage:
    python benchmarks/model_speed.py --update                 # CPU, scale n, writes the model_speed block
    python benchmarks/model_speed.py --device cuda --update   # GPU: fp32 and fp16 latency, training step
    python benchmarks/model_speed.py --smoke                  # seconds: 64 px, two models, two repeats
    python benchmarks/model_speed.py --before-after           # the exact rewrites: previous vs current layer code
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import tqgd  # noqa: F401  - before ultralytics: it configures ultralytics (offline) at import

# isort: split
import torch
from bench_common import REPO_ROOT, log, record_line, run_record, update_block
from model_cost import CONFIG_ORDER, ULTRALYTICS_REFERENCES, build, cost_row, latency_ms

from tqgd.errors import ConfigError
from tqgd.nn.model_cfg import shipped_configs

BLOCK_NAME = "model_speed"
#: The GPU table (``--device cuda``) has its own block, so a CPU run does not replace it and vice versa.
GPU_BLOCK_NAME = "model_speed_gpu"
BASELINE_STEM = "yolov5b-panet"
#: Training images per epoch for the epoch-time column: the paper trained TQGDNet on 168 images.
PAPER_TRAIN_IMAGES = 168
BOXES_PER_IMAGE = 3


def model_names(scale: str) -> list[str]:
    """Every shipped config at ``scale`` in the docs' order, then the ultralytics references (YOLOv5*B first)."""
    stems = [c for c in CONFIG_ORDER if c in shipped_configs()] + sorted(set(shipped_configs()) - set(CONFIG_ORDER))
    stems.remove(BASELINE_STEM)
    return [f"{BASELINE_STEM}-{scale}", *[f"{stem}-{scale}" for stem in stems], *ULTRALYTICS_REFERENCES]


def training_batch(batch: int, imgsz: int, device: str) -> dict[str, torch.Tensor]:
    """A fixed ultralytics training batch: random images, ``BOXES_PER_IMAGE`` small boxes each (normalised xywh)."""
    generator = torch.Generator().manual_seed(0)
    n = batch * BOXES_PER_IMAGE
    centres = torch.rand(n, 2, generator=generator) * 0.8 + 0.1
    sizes = torch.rand(n, 2, generator=generator) * 0.05 + 0.01  # calcium-sized: 1-6 % of the image side
    return {"img": torch.rand(batch, 3, imgsz, imgsz, generator=generator).to(device),
            "batch_idx": torch.arange(batch).repeat_interleave(BOXES_PER_IMAGE).float().to(device),
            "cls": torch.zeros(n, 1, device=device), "bboxes": torch.cat([centres, sizes], 1).to(device)}


def train_step_ms(names: list[str], imgsz: int, batch: int, repeats: int, threads: int, device: str = "cpu",
                  warmup: int = 2) -> dict[str, list[float]]:
    """Times (ms) of one training step per model (train mode, ultralytics loss, SGD), interleaved model by model."""
    from ultralytics.cfg import get_cfg

    models = {}
    for name in names:
        model = build(name).to(device).train()
        model.args = get_cfg()  # the loss gains (box, cls, dfl) ultralytics' trainer would attach
        models[name] = (model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.937))
    torch.set_num_threads(threads)
    data = training_batch(batch, imgsz, device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times: dict[str, list[float]] = {n: [] for n in names}
    for run in range(warmup + repeats):
        for name, (model, optimizer) in models.items():
            sync()
            start = time.perf_counter()
            loss, _ = model.loss(data)
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
            sync()
            if run >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


def speed_table(names: list[str], args: argparse.Namespace) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Markdown rows and the medians behind them (ms), every column also as a ratio to the first model."""
    devices = [("cpu", False)] if args.device == "cpu" else [("cuda", False), ("cuda", True)]
    medians: dict[str, dict[str, float]] = {n: {} for n in names}
    columns = []
    for device, half in devices:
        tag = "CPU" if device == "cpu" else f"GPU {'fp16' if half else 'fp32'}"
        for batch, repeats, warmup in ((1, args.repeats, 3), (16, args.repeats_batch16, 1)):
            log(f"latency {tag}, batch {batch}: {len(names)} models x {repeats} runs")
            times = latency_ms(names, args.imgsz, repeats, args.threads, warmup, batch, device, half)
            columns.append(f"{tag} b{batch} (ms)")
            for name in names:
                medians[name][columns[-1]] = statistics.median(times[name])
    log(f"training step, batch {args.train_batch}: {len(names)} models x {args.train_repeats} runs")
    step = train_step_ms(names, args.imgsz, args.train_batch, args.train_repeats, args.threads,
                         "cpu" if args.device == "cpu" else "cuda")
    steps_per_epoch = math.ceil(args.epoch_images / args.train_batch)
    step_col, epoch_col = f"train step b{args.train_batch} (ms)", f"epoch, {args.epoch_images} images (s)"
    for name in names:
        medians[name][step_col] = statistics.median(step[name])
        medians[name][epoch_col] = medians[name][step_col] * steps_per_epoch / 1e3
    columns += [step_col, epoch_col]
    base = names[0]
    header = ["model", "params (M)", f"GFLOPs @{args.imgsz} (fused)", *columns]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    base_cost = cost_row(base, args.imgsz)
    for name in names:
        _, params, _, flops = cost_row(name, args.imgsz)
        cells = [f"{params:.2f} ({params / base_cost[1]:.2f}x)", f"{flops:.2f} ({flops / base_cost[3]:.2f}x)"]
        for column in columns:
            value, ratio = medians[name][column], medians[name][column] / medians[base][column]
            cells.append(f"{value:.0f} ({ratio:.2f}x)" if value >= 10 else f"{value:.2f} ({ratio:.2f}x)")
        shown = f"{name} (ultralytics)" if name in ULTRALYTICS_REFERENCES else name
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    return lines, medians


def before_after(names: list[str], imgsz: int, repeats: int, threads: int, warmup: int = 3) -> str:
    """CPU latency of each model with tqgd's layers as they were before the exact rewrites
    (tests/nn/reference_layers.py) and as they are, next to YOLOv5*B, interleaved in one process: a Markdown table.

    Wall time and this thread's CPU time are both given: on a machine shared with other jobs the CPU time is the
    steadier of the two (it leaves out time the thread waited for a core).
    """
    sys.path.insert(0, str(REPO_ROOT))
    from tests.nn.reference_layers import reference_model

    baseline = f"{BASELINE_STEM}-n"
    models = {baseline: build(baseline).fuse(verbose=False)}
    for name in names:
        models[f"{name} after"] = build(name).fuse(verbose=False)
        models[f"{name} before"] = reference_model(models[f"{name} after"])
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, imgsz, imgsz)
    wall: dict[str, list[float]] = {k: [] for k in models}
    cpu: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for run in range(warmup + repeats):
            for key, model in models.items():
                start_wall, start_cpu = time.perf_counter(), time.thread_time()
                model(x)
                if run >= warmup:
                    wall[key].append((time.perf_counter() - start_wall) * 1e3)
                    cpu[key].append((time.thread_time() - start_cpu) * 1e3)
    base_wall, base_cpu = statistics.median(wall[baseline]), statistics.median(cpu[baseline])
    lines = [f"| model | layer code | wall (ms) | vs {baseline} | thread CPU (ms) | vs {baseline} |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for key in models:
        name, _, code = key.partition(" ")
        w, c = statistics.median(wall[key]), statistics.median(cpu[key])
        lines.append(f"| {name} | {code or 'stock'} | {w:.1f} | {w / base_wall:.2f}x | {c:.1f} | {c / base_cpu:.2f}x |")
    lines.append(f"\nBatch 1, {imgsz}x{imgsz}, fused, eval, `torch.inference_mode`, {threads} torch thread(s), "
                 f"medians of {repeats} interleaved runs after {warmup} warm-up runs; "
                 f"{record_line(run_record('model_speed.py'))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Measure, print the table and (with --update) write it into BENCHMARKS.md's model_speed block."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="n", choices=["n", "s", "m"], help="config scale (default n)")
    parser.add_argument("--imgsz", type=int, default=512, help="input size in px (default 512)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to time (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as ultralytics here)")
    parser.add_argument("--repeats", type=int, default=20, help="timed batch-1 passes per model (default 20)")
    parser.add_argument("--repeats-batch16", type=int, default=5, help="timed batch-16 passes per model (default 5)")
    parser.add_argument("--train-batch", type=int, default=4, help="training batch (default 4, the paper's)")
    parser.add_argument("--train-repeats", type=int, default=6, help="timed training steps per model (default 6)")
    parser.add_argument("--epoch-images", type=int, default=PAPER_TRAIN_IMAGES,
                        help=f"images per epoch for the epoch column (default {PAPER_TRAIN_IMAGES}, the paper's)")
    parser.add_argument("--models", nargs="+", help="models to time (default: every config + ultralytics' yolov5n, "
                                                    "yolov8n, yolo11n, yolo26n, yolo26n-p2); ratios are to the first")
    parser.add_argument("--smoke", action="store_true", help="64 px, two models, two repeats: a check in seconds")
    parser.add_argument("--before-after", action="store_true",
                        help="time --models (default tqgdnet-n) with the layer code before and after the exact "
                             "rewrites, next to YOLOv5*B, batch 1 only; prints a table")
    parser.add_argument("--update", type=Path, nargs="?", const=Path("BENCHMARKS.md"),
                        help="write the table into this Markdown file's model_speed block (with --device cuda: "
                             "model_speed_gpu)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.imgsz, args.repeats, args.repeats_batch16, args.train_repeats = 64, 2, 1, 1
        args.models = args.models or [f"{BASELINE_STEM}-n", "tqgdnet-n"]
    if args.before_after:
        table = before_after(args.models or [f"tqgdnet-{args.scale}"], args.imgsz, args.repeats, args.threads)
        print(table)
        return table
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device; time on the CPU (--device cpu)")
    record = run_record("model_speed.py")
    names = args.models or model_names(args.scale)
    rows, _ = speed_table(names, args)
    note = (f"Medians; {args.imgsz}x{args.imgsz} input, {args.threads} torch thread(s) on CPU. Latency: fused eval "
            f"models, {args.repeats} interleaved runs after 3 warm-up runs (batch 1), {args.repeats_batch16} after 1 "
            f"(batch 16). Training step: train mode, ultralytics' v8 detection loss on {BOXES_PER_IMAGE} small boxes "
            f"per image, SGD, {args.train_repeats} interleaved steps after 2 warm-up steps; epoch = step x "
            f"ceil({args.epoch_images} / {args.train_batch}), data loading and augmentation not included. "
            f"In brackets: ratio to {names[0]} (YOLOv5*B) in the same run.")
    block = "\n".join([record_line(record), "", *rows, "", note])
    print(block)
    if args.update:
        update_block(BLOCK_NAME if args.device == "cpu" else GPU_BLOCK_NAME, block, args.update)
    return block


if __name__ == "__main__":
    main()
