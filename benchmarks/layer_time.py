"""Where a model's CPU inference time goes, layer by layer: TQGDNet-n against YOLOv5*B-n (issue 13's "what remains").

Each top-level layer of the fused eval model (``model.model[i]``, as its YAML lists it) is timed with forward hooks
in thread CPU time (``time.thread_time``): with one torch thread every operator runs on the calling thread, so the
numbers hold when other jobs share the cores, where wall time would not. Medians over ``--repeats`` passes of one
(1, 3, imgsz, imgsz) input, models interleaved. The part column is the YAML's: backbone, head (ultralytics calls the
neck and the Detect layer together "head"; tqgd splits them here into neck and Detect).

Usage:
    python benchmarks/layer_time.py --update docs/models.md
    python benchmarks/layer_time.py --models tqgdnet-faithful-n yolov5b-panet-n --repeats 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import tqgd  # noqa: F401  - before ultralytics: it configures ultralytics (offline) at import

# isort: split
import torch
from bench_common import log, record_line, run_record, update_block
from model_cost import build

BLOCK_NAME = "layer_time"
PARTS = ("backbone", "neck", "Detect")


def part_of(model: torch.nn.Module, index: int) -> str:
    """backbone / neck / Detect for layer ``index`` of a built ultralytics model (from its YAML)."""
    if index < len(model.yaml["backbone"]):
        return "backbone"
    return "Detect" if index == len(model.model) - 1 else "neck"


def layer_times(names: list[str], imgsz: int, repeats: int, warmup: int = 2) -> dict[str, list[dict]]:
    """Per model, per top-level layer: index, type, part, output shape and the median thread-CPU ms of a pass."""
    models = {n: build(n).fuse(verbose=False) for n in names}
    torch.set_num_threads(1)  # after building: ultralytics resets the thread count when it selects a device
    x = torch.rand(1, 3, imgsz, imgsz)
    samples = {n: [[] for _ in m.model] for n, m in models.items()}
    shapes: dict[str, dict[int, list[int]]] = {n: {} for n in names}
    started: dict[int, float] = {}
    recording = {"on": False, "name": ""}

    def hooks(name: str, index: int, layer: torch.nn.Module) -> None:
        def before(_module, _inputs) -> None:
            started[index] = time.thread_time()

        def after(_module, _inputs, output) -> None:
            if recording["on"] and recording["name"] == name:
                samples[name][index].append((time.thread_time() - started[index]) * 1e3)
                if isinstance(output, torch.Tensor):
                    shapes[name][index] = list(output.shape[1:])

        layer.register_forward_pre_hook(before)
        layer.register_forward_hook(after)

    for name, model in models.items():
        for index, layer in enumerate(model.model):
            hooks(name, index, layer)
    with torch.inference_mode():
        for run in range(warmup + repeats):
            for name, model in models.items():
                recording.update(on=run >= warmup, name=name)
                model(x)
    return {name: [{"index": i, "type": type(layer).__name__, "part": part_of(model, i),
                    "shape": shapes[name].get(i), "ms": statistics.median(samples[name][i])}
                   for i, layer in enumerate(model.model)] for name, model in models.items()}


def report(times: dict[str, list[dict]], record: dict[str, str], imgsz: int, repeats: int) -> str:
    """Markdown: totals by part for every model (difference to the last one), then each model's layers."""
    names = list(times)
    base = names[-1]
    totals = {n: {p: sum(r["ms"] for r in rows if r["part"] == p) for p in PARTS} for n, rows in times.items()}
    lines = [record_line(record), "",
             f"Thread CPU time per layer, fused eval model, 1 x 3 x {imgsz} x {imgsz}, one torch thread, median of "
             f"{repeats} passes (models interleaved). Sums of layer medians by part, and the difference to {base}:",
             "", "| model | " + " | ".join(PARTS) + " | total | vs " + base + " |",
             "| --- |" + " ---: |" * (len(PARTS) + 2)]
    for name in names:
        total = sum(totals[name].values())
        lines.append(f"| {name} | " + " | ".join(f"{totals[name][p]:.1f} ms" for p in PARTS)
                     + f" | {total:.1f} ms | {total / sum(totals[base].values()):.2f}x |")
    for name in names[:-1]:
        diff = {p: totals[name][p] - totals[base][p] for p in PARTS}
        lines.append("")
        lines.append(f"{name} minus {base}: " + ", ".join(f"{p} {d:+.1f} ms" for p, d in diff.items()) + ".")
    for name, rows in times.items():
        total = sum(r["ms"] for r in rows)
        lines += ["", f"{name}, by layer:", "", "| layer | type | part | output (C, H, W) | ms | share |",
                  "| ---: | --- | --- | --- | ---: | ---: |"]
        for r in rows:
            shape = "x".join(str(v) for v in r["shape"]) if r["shape"] else "-"
            lines.append(f"| {r['index']} | {r['type']} | {r['part']} | {shape} | {r['ms']:.2f} | "
                         f"{r['ms'] / total:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Time the layers, print the block and (with --update) write it into a Markdown file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tqgdnet-n", "yolov5b-panet-n"],
                        help="configs to profile; the last is the baseline (default tqgdnet-n yolov5b-panet-n)")
    parser.add_argument("--imgsz", type=int, default=512, help="input size in px (default 512)")
    parser.add_argument("--repeats", type=int, default=20, help="timed passes per model (default 20)")
    parser.add_argument("--update", type=Path, nargs="?", const=Path("docs/models.md"),
                        help="write the block into this Markdown file's layer_time block (default docs/models.md)")
    args = parser.parse_args(argv)
    record = run_record("layer_time.py")
    log(f"layer times of {', '.join(args.models)} at {args.imgsz} px, {args.repeats} passes")
    block = report(layer_times(args.models, args.imgsz, args.repeats), record, args.imgsz, args.repeats)
    print(block)
    if args.update:
        update_block(BLOCK_NAME, block, args.update)
    return block


if __name__ == "__main__":
    main()
