"""benchmarks/model_speed.py: every config is listed, a training step really trains, the table's ratios add up."""

from __future__ import annotations

import re

import torch
from model_cost import build
from model_speed import BASELINE_STEM, main, model_names, training_batch

from tqgd.nn.model_cfg import shipped_configs


def test_every_shipped_config_and_the_ultralytics_references_are_timed_baseline_first() -> None:
    names = model_names("n")
    references = ["yolov5n", "yolov8n", "yolo11n", "yolo26n", "yolo26n-p2"]
    assert names[0] == f"{BASELINE_STEM}-n" and names[-len(references):] == references
    assert sorted(n[: -len("-n")] for n in names[:-len(references)]) == sorted(shipped_configs())


def test_the_training_batch_feeds_ultralytics_loss_and_a_step_changes_the_weights() -> None:
    from ultralytics.cfg import get_cfg

    batch = training_batch(2, 64, "cpu")
    assert batch["img"].shape == (2, 3, 64, 64) and batch["bboxes"].shape == (len(batch["cls"]), 4)
    assert float(batch["bboxes"].min()) > 0 and float(batch["bboxes"].max()) < 1
    model = build("tqgdnet-n").train()
    model.args = get_cfg()
    before = [p.detach().clone() for p in model.parameters()]
    loss, _ = model.loss(batch)
    assert torch.isfinite(loss).all() and float(loss.detach().sum()) > 0
    loss.sum().backward()
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_smoke_table_gives_ratios_to_yolov5b_from_the_same_run(tmp_path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    block = main(["--smoke", "--update", str(doc)])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
            for line in block.splitlines() if line.startswith(("| yolov5b", "| tqgdnet"))}
    assert set(rows) == {"yolov5b-panet-n", "tqgdnet-n"}
    assert all(cell.endswith("(1.00x)") for cell in rows["yolov5b-panet-n"])
    params = {name: sum(p.numel() for p in build(name).parameters()) / 1e6 for name in rows}
    ratio = float(re.search(r"\(([\d.]+)x\)", rows["tqgdnet-n"][0]).group(1))
    assert abs(ratio - params["tqgdnet-n"] / params["yolov5b-panet-n"]) < 0.01
    assert rows["tqgdnet-n"][0].startswith(f"{params['tqgdnet-n']:.2f} ")
    assert "<!-- model_speed:begin -->" in doc.read_text() and "ratio to yolov5b-panet-n" in block
