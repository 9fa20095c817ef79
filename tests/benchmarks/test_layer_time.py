"""Per-layer CPU time of fused models: one row per top-level layer, parts from the YAML, totals that add up."""

from __future__ import annotations

import re

from layer_time import layer_times, report
from model_cost import build


def test_every_layer_is_timed_once_and_the_parts_follow_the_yaml() -> None:
    times = layer_times(["tqgdnet-n", "yolov5b-panet-n"], imgsz=64, repeats=2, warmup=1)
    for name, rows in times.items():
        model = build(name)
        assert [r["index"] for r in rows] == list(range(len(model.model)))
        assert [r["type"] for r in rows] == [type(layer).__name__ for layer in model.fuse(verbose=False).model]
        assert sum(r["part"] == "backbone" for r in rows) == len(model.yaml["backbone"])
        assert [r["part"] for r in rows].count("Detect") == 1 and rows[-1]["type"] == "Detect"
        assert all(r["ms"] >= 0 for r in rows) and sum(r["ms"] for r in rows) > 0
    assert times["tqgdnet-n"][0]["type"] == "ThrConvs" and times["tqgdnet-n"][0]["shape"] == [16, 32, 32]


def test_report_totals_are_sums_of_the_layers_and_the_ratio_is_to_the_last_model() -> None:
    rows = {"a": [{"index": 0, "type": "Conv", "part": "backbone", "shape": [8, 4, 4], "ms": 3.0},
                  {"index": 1, "type": "QueenFusion", "part": "neck", "shape": [8, 4, 4], "ms": 2.0},
                  {"index": 2, "type": "Detect", "part": "Detect", "shape": None, "ms": 1.0}],
            "b": [{"index": 0, "type": "Conv", "part": "backbone", "shape": [8, 4, 4], "ms": 1.0},
                  {"index": 1, "type": "Detect", "part": "Detect", "shape": None, "ms": 1.0}]}
    text = report(rows, {"command": "x", "date": "d", "commit": "c", "machine": "m", "load": "l"}, 64, 2)
    assert re.search(r"\| a \| 3\.0 ms \| 2\.0 ms \| 1\.0 ms \| 6\.0 ms \| 3\.00x \|", text)
    assert "a minus b: backbone +2.0 ms, neck +2.0 ms, Detect +0.0 ms." in text
