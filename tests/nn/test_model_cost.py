"""benchmarks/model_cost.py: its counts agree for identical models built two ways, and it rewrites only its block."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tqgd.errors import ConfigError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "model_cost.py"


@pytest.fixture(scope="module")
def model_cost():
    spec = importlib.util.spec_from_file_location("model_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counts_match_for_the_same_model_built_by_tqgd_and_by_ultralytics(model_cost) -> None:
    _, params, flops, fused = model_cost.cost_row("yolov5b-panet-n", 64)
    assert (params, flops, fused) == model_cost.cost_row("yolov5n", 64)[1:]
    assert 2.4 < params < 2.6 and 0 < fused < flops  # yolov5n at nc=1: 2.5 M parameters; fusing drops the BN ops


def test_update_docs_rewrites_only_the_generated_block(model_cost, tmp_path: Path) -> None:
    doc = tmp_path / "models.md"
    doc.write_text(f"intro\n{model_cost.DOCS_BEGIN}\nold table\n{model_cost.DOCS_END}\noutro\n")
    model_cost.update_docs(doc, "new table")
    assert doc.read_text() == f"intro\n{model_cost.DOCS_BEGIN}\nnew table\n{model_cost.DOCS_END}\noutro\n"
    doc.write_text("no markers here\n")
    with pytest.raises(ConfigError, match="models.md: no '<!-- model_cost:begin -->'"):
        model_cost.update_docs(doc, "new table")
    assert doc.read_text() == "no markers here\n"
