"""Parameters, GFLOPs and CPU forward latency of tqgd's model configs, next to ultralytics' YOLOv5n / YOLOv8n.

Counts use ultralytics' own ``model_info`` (THOP) on models built with nc=1, for the training graph and for the
fused inference graph (RepConv and BN folded). Latency is a median over interleaved runs of fused models in eval
mode, batch 1, one input size; the machine's load shows up in it, so the ratio is the number to quote.

Usage:
    python benchmarks/model_cost.py                       # cost table + CPU latency vs yolov5n at 512
    python benchmarks/model_cost.py --scales n --repeats 50
    python benchmarks/model_cost.py --update-docs docs/models.md   # rewrite the generated block in the docs
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import statistics
import time
from pathlib import Path

import tqgd  # noqa: F401  - before ultralytics: it configures ultralytics (offline) at import

# isort: split
import torch
from bench_common import update_block
from torch import nn
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.torch_utils import model_info

from tqgd.nn import TQGDDetectionModel
from tqgd.nn.model_cfg import shipped_configs

#: Table order: the paper's ablation family (Tables 2-3) backbone by backbone, each "+GD" as PANet+GD (-gd), GD as the
#: neck injecting P3/P4 (-gd34) and Qf+GD in both injections; then TQGDNet (= ThrConvs*B+Qf+GD) in both readings and
#: the P2 variants.
CONFIG_ORDER = ("yolov5b-fpn", "yolov5b-panet", "yolov5b-qf", "yolov5b-gd", "yolov5b-gd34", "yolov5b-qf-gd",
                "yolov5b-qf-gd34", "thrconvs-panet", "thrconvs-qf", "thrconvs-gd", "thrconvs-gd34", "thrconvs-qf-gd34",
                "thrconvs-same-panet", "thrconvs-same-qf", "thrconvs-same-gd34", "thrconvs-same-qf-gd", "tqgdnet",
                "tqgdnet-faithful", "tqgdnet-p2", "tqgdnet-faithful-p2")
#: Reference models, built by ultralytics itself from its own YAMLs.
ULTRALYTICS_REFERENCES = ("yolov5n", "yolov8n", "yolo11n", "yolo26n", "yolo26n-p2")
NUM_CLASSES = 1
BLOCK_NAME = "model_cost"


def build(name: str) -> nn.Module:
    """A tqgd config name (``tqgdnet-n``) or an ultralytics reference (``yolov5n``), nc=1, eval mode."""
    if name in ULTRALYTICS_REFERENCES:
        return DetectionModel(f"{name}.yaml", nc=NUM_CLASSES, verbose=False).eval()
    return TQGDDetectionModel(name, nc=NUM_CLASSES, verbose=False).eval()


def cost_row(name: str, imgsz: int) -> tuple[str, float, float, float]:
    """(name, parameters in millions, GFLOPs of the training graph, GFLOPs fused) at ``imgsz``."""
    model = build(name)
    _, n_params, _, flops = model_info(model, imgsz=imgsz)
    fused = copy.deepcopy(model).fuse(verbose=False)
    _, _, _, flops_fused = model_info(fused, imgsz=imgsz)
    if not flops or not flops_fused:
        raise RuntimeError(f"{name}: THOP returned no FLOPs (is ultralytics-thop installed?)")
    return name, n_params / 1e6, flops, flops_fused


def latency_ms(names: list[str], imgsz: int, repeats: int, threads: int, warmup: int = 3, batch: int = 1,
               device: str = "cpu", half: bool = False) -> dict[str, list[float]]:
    """Forward times (ms) of fused eval models on one (batch, 3, imgsz, imgsz) input, runs interleaved model by model.

    ``device`` "cuda" times on the GPU (synchronised around each pass), in fp16 with ``half``.
    """
    dtype = torch.float16 if half else torch.float32
    models = {n: build(n).fuse(verbose=False).to(device=device, dtype=dtype) for n in names}
    torch.set_num_threads(threads)  # after building: ultralytics resets the thread count when it selects a device
    x = torch.rand(batch, 3, imgsz, imgsz, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times: dict[str, list[float]] = {n: [] for n in names}
    with torch.inference_mode():
        for run in range(warmup + repeats):
            for name, model in models.items():
                sync()
                start = time.perf_counter()
                model(x)
                sync()
                if run >= warmup:
                    times[name].append((time.perf_counter() - start) * 1e3)
    return times


def cost_table(scales: list[str], imgsz: int) -> str:
    """Markdown table of every shipped config at ``scales`` plus the ultralytics references."""
    stems = [c for c in CONFIG_ORDER if c in shipped_configs()] + sorted(set(shipped_configs()) - set(CONFIG_ORDER))
    names = [f"{stem}-{s}" for stem in stems for s in scales] + list(ULTRALYTICS_REFERENCES)
    lines = [f"| model | params (M) | GFLOPs @{imgsz} (train graph) | GFLOPs @{imgsz} (fused) |",
             "| --- | ---: | ---: | ---: |"]
    for name in names:
        row_name, params, flops, fused = cost_row(name, imgsz)
        shown = f"{row_name} (ultralytics)" if row_name in ULTRALYTICS_REFERENCES else row_name
        lines.append(f"| {shown} | {params:.2f} | {flops:.2f} | {fused:.2f} |")
    return "\n".join(lines)


def latency_table(names: list[str], imgsz: int, repeats: int, threads: int) -> str:
    """Markdown table of median / quartile CPU latency, with the ratio to the last model and the machine."""
    times = latency_ms(names, imgsz, repeats, threads)
    medians = {n: statistics.median(t) for n, t in times.items()}
    base = names[-1]
    lines = [f"| model | median (ms) | quartiles (ms) | vs {base} |", "| --- | ---: | ---: | ---: |"]
    for name, t in times.items():
        q1, _, q3 = statistics.quantiles(t, n=4)
        lines.append(f"| {name} | {medians[name]:.1f} | {q1:.1f}-{q3:.1f} | {medians[name] / medians[base]:.2f}x |")
    machine = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s), "
               f"torch {torch.__version__}, {datetime.date.today().isoformat()}")
    lines.append(f"\nBatch 1, {imgsz}x{imgsz}, fused, eval, `torch.inference_mode`, {repeats} interleaved runs after "
                 f"3 warm-up runs; {machine}.")
    return "\n".join(lines)



def main() -> None:
    """Print (and optionally write into the docs) the cost and latency tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", nargs="+", default=["n", "s", "m"], help="config scales to count (default n s m)")
    parser.add_argument("--imgsz", type=int, default=512, help="square input size in pixels (default 512)")
    parser.add_argument("--repeats", type=int, default=30, help="timed forward passes per model (default 30)")
    parser.add_argument("--latency-models", nargs="+",
                        default=["tqgdnet-n", "tqgdnet-faithful-n", "thrconvs-panet-n", "thrconvs-same-panet-n",
                                 "yolov5n"],
                        help="models to time; ratios are to the last one (default: tqgdnet-n in both readings, the "
                             "two ThrConvs readings on PANet and yolov5n)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, what ultralytics itself uses on a 2-core machine)")
    parser.add_argument("--no-latency", action="store_true", help="only count parameters and FLOPs")
    parser.add_argument("--update-docs", type=Path, help="Markdown file whose model_cost block is rewritten")
    args = parser.parse_args()
    block = cost_table(args.scales, args.imgsz)
    if not args.no_latency:
        latency = latency_table(args.latency_models, args.imgsz, args.repeats, args.threads)
        block += "\n\nCPU forward latency:\n\n" + latency
    print(block)
    if args.update_docs:
        update_block(BLOCK_NAME, block, args.update_docs)


if __name__ == "__main__":
    main()
