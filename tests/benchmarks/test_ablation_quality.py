"""benchmarks/ablation_quality.py: tables from per-fold metrics, paired module effects, and a resumable smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ablation_tables import EFFECTS, MODELS, PAPER, READING_OF, TABLE2, effect_rows, mean_sd, metrics_table


def fold_metrics(map50: float, precision: float = 0.5, train_s: float = 60.0) -> dict:
    """A metrics.json as the benchmark writes it, with only the fields the tables read."""
    return {"ultralytics": {"precision": precision, "recall": 0.4, "f1": 0.45, "map50": map50, "map50_95": map50 / 2},
            "train_s": train_s, "epochs": 2,
            "size_buckets": [{"name": n, "n_gt": 3, "recall": 0.5, "ap50": 0.5, "ap50_95": 0.2}
                             for n in ("0-10", "10-100", "100-200", ">200")]}


def test_mean_and_spread_are_the_sample_mean_and_standard_deviation() -> None:
    values = [0.31, 0.47, 0.52]
    assert mean_sd(values) == f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
    assert mean_sd([0.4]) == "0.400" and mean_sd([]) == "—"


def test_table_rows_hold_fold_means_the_paper_value_and_time_per_epoch() -> None:
    results = {"yolov5b-panet": [fold_metrics(0.2, 0.6, 120.0), fold_metrics(0.4, 0.8, 180.0)]}
    paper = {"yolov5b-panet": (0.0, 0.0, 0.0, 0.86)}
    lines = metrics_table(results, [("PANet", "yolov5b-panet"), ("FPN", "yolov5b-fpn")], paper)
    assert len(lines) == 3, "models without runs get no row"
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[0] == "PANet" and cells[1] == mean_sd([0.6, 0.8]) and cells[4] == mean_sd([0.2, 0.4])
    assert cells[6:] == ["0.860", "2", f"{(120 / 2 + 180 / 2) / 2 / 60:.2f}"]


def test_every_benchmarked_config_is_shipped_and_every_reading_of_a_paper_row_has_its_numbers() -> None:
    from tqgd.nn.model_cfg import shipped_configs

    tqgd_specs = [model.spec for key, model in MODELS.items() if key != "yolov8n"]
    assert {spec.removesuffix("-n") for spec in tqgd_specs} <= set(shipped_configs())
    assert {"thrconvs-same-panet", "thrconvs-same-gd34", "yolov5b-gd34", "tqgdnet-faithful"} <= set(TABLE2)
    assert set(TABLE2) | {"yolov5b-fpn"} == set(MODELS)
    for rows in PAPER.values():
        assert all(rows[key] == rows[paper_key] for key, paper_key in READING_OF.items())
        assert all(a in rows and b in rows for _, a, b in EFFECTS)


@pytest.mark.parametrize(("ours", "verdict"), [((0.3, 0.4), "yes, every fold"), ((0.1, 0.2), "no, every fold"),
                                               ((0.3, 0.1), "folds disagree"), ((0.2, 0.4), "folds disagree"),
                                               ((0.2, 0.3), "no difference")])
def test_module_effects_are_paired_by_fold_and_judged_against_the_paper_sign(ours, verdict) -> None:
    base = [fold_metrics(0.2), fold_metrics(0.3)]
    results = {"yolov5b-panet": base, "tqgdnet": [fold_metrics(ours[0]), fold_metrics(ours[1])]}
    paper = {"yolov5b-panet": (0, 0, 0, 0.860), "tqgdnet": (0, 0, 0, 0.948)}
    (row,) = [line for line in effect_rows(results, paper) if line.startswith("| TQGDNet vs YOLOv5*B")]
    diffs = [ours[0] - 0.2, ours[1] - 0.3]
    assert f"{diffs[0]:+.3f}, {diffs[1]:+.3f}" in row and f"{np.mean(diffs):+.3f}" in row
    assert "+0.088" in row and row.rstrip(" |").endswith(verdict)


def test_a_run_cut_short_pairs_only_the_folds_both_models_finished() -> None:
    results = {"yolov5b-panet": [{**fold_metrics(0.2), "fold": 0}, {**fold_metrics(0.3), "fold": 1}],
               "tqgdnet": [{**fold_metrics(0.5), "fold": 1}]}  # fold 0 missing (failed or not run yet)
    paper = {"yolov5b-panet": (0, 0, 0, 0.860), "tqgdnet": (0, 0, 0, 0.948)}
    (row,) = [line for line in effect_rows(results, paper) if line.startswith("| TQGDNet vs YOLOv5*B")]
    assert row.startswith("| TQGDNet vs YOLOv5*B | +0.200 | +0.200 |")  # fold 1 against fold 1, not fold 0
    results["tqgdnet"] = []
    assert not [line for line in effect_rows(results, paper) if line.startswith("| TQGDNet vs YOLOv5*B")]


@pytest.mark.slow
def test_smoke_run_trains_every_fold_writes_the_block_and_resumes(tmp_path: Path) -> None:
    import ablation_quality

    doc = tmp_path / "BENCHMARKS.md"
    argv = ["--work", str(tmp_path / "work"), "--smoke", "--datasets", "gated", "--models", "yolov5b-panet",
            "--jobs", "1", "--update", str(doc)]
    block = ablation_quality.main(argv)
    runs = sorted((tmp_path / "work" / "runs" / "gated" / "yolov5b-panet").glob("fold*/metrics.json"))
    assert [p.parent.name for p in runs] == ["fold0", "fold1"]
    dataset = tmp_path / "work" / "datasets" / "gated"
    assert json.loads((dataset / "convert.json").read_text())["crop"] == "phantom_heart_box"
    for index, path in enumerate(runs):
        record = json.loads(path.read_text())
        val_images = (dataset / "folds" / f"fold{index}_val.txt").read_text().split()
        assert record["counts"]["images"] == len(val_images) and record["epochs"] == 1
        assert Path(record["weights"]).name == "last.pt", "scored with the last epoch, not a checkpoint picked on val"
    assert "| YOLOv5*B (PANet) |" in block and "<!-- ablation_quality:begin -->" in doc.read_text()
    stamps = [p.stat().st_mtime_ns for p in runs]
    again = ablation_quality.main(argv)
    assert again.split("\n")[1:] == block.split("\n")[1:], "the same runs give the same tables"
    assert [p.stat().st_mtime_ns for p in runs] == stamps, "finished runs are reused, not trained again"
