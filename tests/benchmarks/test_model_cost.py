"""benchmarks/model_cost.py: its counts agree for the same model built by tqgd and by ultralytics."""

from __future__ import annotations

from model_cost import cost_row


def test_counts_match_for_the_same_model_built_by_tqgd_and_by_ultralytics() -> None:
    _, params, flops, fused = cost_row("yolov5b-panet-n", 64)
    assert (params, flops, fused) == cost_row("yolov5n", 64)[1:]
    assert 2.4 < params < 2.6 and 0 < fused < flops  # yolov5n at nc=1: 2.5 M parameters; fusing drops the BN ops
