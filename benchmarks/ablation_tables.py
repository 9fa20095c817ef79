"""The ablation benchmark's models, the paper's reference numbers, and its Markdown report (Tables 2-3 layout).

Numbers are mean +- sample standard deviation over folds of ``tqgd val``'s ultralytics metrics (P, R, F1 at
ultralytics' operating confidence, mAP50, mAP50-95, as the paper's tables), plus recall per ground-truth box size
(pycocotools matching at IoU 0.5 and the same confidence; buckets of the paper's Fig. 2). The paper's "mAP" is read as
mAP at IoU 0.5 (YOLOv5's headline number). Module effects are paired by fold: the same held-out patients score both
models, so the fold-wise differences say whether a module helped on every fold, on none, or on some.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench_common import record_line

#: Dataset keys in report order, with the paper dataset each imitates.
DATASETS = {"non-gated": "non-gated phantom (Concord-like)", "gated": "gated phantom (OrCaScore-like)"}
PAPER_DATASET = {"non-gated": "Concord", "gated": "OrCaScore"}
METRICS = (("Precision", "precision"), ("Recall", "recall"), ("F1", "f1"), ("mAP50", "map50"),
           ("mAP50-95", "map50_95"))


@dataclass(frozen=True)
class Model:
    """A benchmarked model: what ``tqgd train --model`` gets, and its name in the paper."""

    spec: str
    paper_name: str


MODELS = {
    "thrconvs-panet": Model("thrconvs-panet-n", "ThrConvs*B"),
    "thrconvs-qf": Model("thrconvs-qf-n", "ThrConvs*B+Qf"),
    "thrconvs-gd": Model("thrconvs-gd-n", "ThrConvs*B+GD on PANet, GD P3-P5"),
    "thrconvs-gd34": Model("thrconvs-gd34-n", "ThrConvs*B+GD (GD as neck, P3/P4)"),
    "tqgdnet": Model("tqgdnet-n", "ThrConvs*B+Qf+GD (TQGDNet)"),
    "thrconvs-qf-gd34": Model("thrconvs-qf-gd34-n", "ThrConvs*B+Qf+GD, GD P3/P4"),
    "thrconvs-same-panet": Model("thrconvs-same-panet-n", "ThrConvs*B same-res"),
    "thrconvs-same-qf": Model("thrconvs-same-qf-n", "ThrConvs*B+Qf same-res"),
    "thrconvs-same-gd34": Model("thrconvs-same-gd34-n", "ThrConvs*B+GD same-res (GD as neck, P3/P4)"),
    "thrconvs-same-qf-gd": Model("thrconvs-same-qf-gd-n", "ThrConvs*B+Qf+GD same-res, GD P3-P5"),
    "tqgdnet-faithful": Model("tqgdnet-faithful-n", "ThrConvs*B+Qf+GD same-res, GD P3/P4 (TQGDNet-faithful)"),
    "yolov5b-panet": Model("yolov5b-panet-n", "YOLOv5*B (PANet)"),
    "yolov5b-qf": Model("yolov5b-qf-n", "YOLOv5*B+Qf"),
    "yolov5b-gd": Model("yolov5b-gd-n", "YOLOv5*B+GD on PANet, GD P3-P5"),
    "yolov5b-gd34": Model("yolov5b-gd34-n", "YOLOv5*B+GD (GD as neck, P3/P4)"),
    "yolov5b-qf-gd": Model("yolov5b-qf-gd-n", "YOLOv5*B+Qf+GD"),
    "yolov5b-qf-gd34": Model("yolov5b-qf-gd34-n", "YOLOv5*B+Qf+GD, GD P3/P4"),
    "yolov5b-fpn": Model("yolov5b-fpn-n", "YOLOv5*B with FPN"),
    "yolov8n": Model("yolov8n.yaml", "ultralytics YOLOv8n (outside reference)"),
}
TABLE2 = ("thrconvs-panet", "thrconvs-qf", "thrconvs-gd", "thrconvs-gd34", "tqgdnet", "thrconvs-qf-gd34",
          "thrconvs-same-panet", "thrconvs-same-qf", "thrconvs-same-gd34", "thrconvs-same-qf-gd", "tqgdnet-faithful",
          "yolov5b-panet", "yolov5b-qf", "yolov5b-gd", "yolov5b-gd34", "yolov5b-qf-gd", "yolov5b-qf-gd34", "yolov8n")
TABLE3 = (("FPN", "yolov5b-fpn"), ("PANet", "yolov5b-panet"), ("Qf", "yolov5b-qf"))

#: The paper's (P, R, F1, mAP) per dataset: Table 2, YOLOv5*B from Table 1's YOLOv5 row (= Table 3's PANet row).
PAPER = {
    "Concord": {"thrconvs-panet": (0.874, 0.767, 0.817, 0.865), "thrconvs-qf": (0.845, 0.805, 0.825, 0.888),
                "thrconvs-gd": (0.886, 0.809, 0.846, 0.906), "tqgdnet": (0.892, 0.846, 0.868, 0.918),
                "yolov5b-panet": (0.836, 0.765, 0.799, 0.832), "yolov5b-qf": (0.849, 0.816, 0.832, 0.854),
                "yolov5b-gd": (0.824, 0.831, 0.827, 0.870), "yolov5b-qf-gd": (0.858, 0.844, 0.851, 0.899),
                "yolov5b-fpn": (0.858, 0.757, 0.804, 0.820)},
    "OrCaScore": {"thrconvs-panet": (0.767, 0.972, 0.897, 0.895), "thrconvs-qf": (0.883, 0.861, 0.872, 0.913),
                  "thrconvs-gd": (0.836, 0.932, 0.881, 0.929), "tqgdnet": (0.890, 0.864, 0.877, 0.948),
                  "yolov5b-panet": (0.858, 0.841, 0.849, 0.860), "yolov5b-qf": (0.880, 0.833, 0.856, 0.876),
                  "yolov5b-gd": (0.945, 0.818, 0.877, 0.895), "yolov5b-qf-gd": (0.902, 0.840, 0.870, 0.922),
                  "yolov5b-fpn": (0.790, 0.856, 0.821, 0.841)},
}
#: Other readings of a paper row (docs/models.md): same-resolution ThrConvs, GD as the neck or injecting P3/P4 only.
READING_OF = {"thrconvs-gd34": "thrconvs-gd", "thrconvs-qf-gd34": "tqgdnet", "thrconvs-same-panet": "thrconvs-panet",
              "thrconvs-same-qf": "thrconvs-qf", "thrconvs-same-gd34": "thrconvs-gd", "thrconvs-same-qf-gd": "tqgdnet",
              "tqgdnet-faithful": "tqgdnet", "yolov5b-gd34": "yolov5b-gd", "yolov5b-qf-gd34": "yolov5b-qf-gd"}
for _rows in PAPER.values():
    _rows.update({key: _rows[paper_key] for key, paper_key in READING_OF.items()})
#: Module effects the paper reports as mAP gains: (label, model with the module, model without).
EFFECTS = (("ThrConvs on YOLOv5*B", "thrconvs-panet", "yolov5b-panet"),
           ("+Qf on ThrConvs*B", "thrconvs-qf", "thrconvs-panet"),
           ("+GD on ThrConvs*B", "thrconvs-gd", "thrconvs-panet"),
           ("+Qf+GD on ThrConvs*B", "tqgdnet", "thrconvs-panet"),
           ("+Qf on YOLOv5*B", "yolov5b-qf", "yolov5b-panet"),
           ("+GD on YOLOv5*B", "yolov5b-gd", "yolov5b-panet"),
           ("+Qf+GD on YOLOv5*B", "yolov5b-qf-gd", "yolov5b-panet"),
           ("PANet vs FPN", "yolov5b-panet", "yolov5b-fpn"),
           ("Qf vs FPN", "yolov5b-qf", "yolov5b-fpn"),
           ("TQGDNet vs YOLOv5*B", "tqgdnet", "yolov5b-panet"),
           ("+GD as neck (P3/P4) on YOLOv5*B", "yolov5b-gd34", "yolov5b-panet"),
           ("+Qf+GD (P3/P4) on YOLOv5*B", "yolov5b-qf-gd34", "yolov5b-panet"),
           ("+GD as neck (P3/P4) on ThrConvs*B", "thrconvs-gd34", "thrconvs-panet"),
           ("same-res ThrConvs on YOLOv5*B", "thrconvs-same-panet", "yolov5b-panet"),
           ("+Qf on ThrConvs*B same-res", "thrconvs-same-qf", "thrconvs-same-panet"),
           ("+GD as neck (P3/P4) on ThrConvs*B same-res", "thrconvs-same-gd34", "thrconvs-same-panet"),
           ("+Qf+GD (P3/P4) on ThrConvs*B same-res", "tqgdnet-faithful", "thrconvs-same-panet"),
           ("TQGDNet-faithful vs YOLOv5*B", "tqgdnet-faithful", "yolov5b-panet"))


def mean_sd(values: list[float]) -> str:
    """'0.812 ± 0.034' (sample SD), '0.812' for one value (no spread to show), an em dash for no values."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def metric_values(runs: list[dict], key: str) -> list[float]:
    """One ultralytics metric over a model's folds."""
    return [run["ultralytics"][key] for run in runs]


def bucket_recalls(runs: list[dict], name: str) -> tuple[list[float], int]:
    """Recall of one size bucket over folds (folds without such boxes left out) and its total ground-truth count."""
    values, n_gt = [], 0
    for run in runs:
        bucket = next(b for b in run["size_buckets"] if b["name"] == name)
        n_gt += bucket["n_gt"]
        if bucket["recall"] is not None:
            values.append(bucket["recall"])
    return values, n_gt


def metrics_table(results: dict[str, list[dict]], keys: list[tuple[str, str]], paper: dict) -> list[str]:
    """Rows (label, model key): our five metrics (mean +- SD) and the paper's mAP."""
    lines = ["| model | " + " | ".join(h for h, _ in METRICS) + " | paper mAP | folds | train min/epoch |",
             "| --- |" + " ---: |" * (len(METRICS) + 3)]
    for label, key in keys:
        runs = results.get(key, [])
        if not runs:
            continue
        cells = [mean_sd(metric_values(runs, k)) for _, k in METRICS]
        reference = f"{paper[key][3]:.3f}" if key in paper else "—"
        per_epoch = statistics.fmean(run["train_s"] / run["epochs"] for run in runs) / 60
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {reference} | {len(runs)} | {per_epoch:.2f} |")
    return lines


def size_table(results: dict[str, list[dict]]) -> list[str]:
    """Recall per ground-truth box size (Fig. 2 buckets), mean +- SD over folds, with the box counts."""
    from tqgd.engine.size_buckets import SIZE_BUCKET_NAMES

    first = next((runs for runs in results.values() if runs), [])
    counts = [bucket_recalls(first, name)[1] for name in SIZE_BUCKET_NAMES]
    lines = ["| model | " + " | ".join(f"{n} px ({c} boxes)" for n, c in zip(SIZE_BUCKET_NAMES, counts, strict=True))
             + " |", "| --- |" + " ---: |" * len(SIZE_BUCKET_NAMES)]
    for key in TABLE2 + ("yolov5b-fpn",):
        if results.get(key):
            cells = [mean_sd(bucket_recalls(results[key], name)[0]) for name in SIZE_BUCKET_NAMES]
            lines.append(f"| {MODELS[key].paper_name} | " + " | ".join(cells) + " |")
    return lines


def _by_fold(runs: list[dict]) -> dict[int, dict]:
    """Fold index -> run record: the record's ``fold`` (set by ``collect``), else its position in the list."""
    return {int(run.get("fold", index)): run for index, run in enumerate(runs)}


def effect_rows(results: dict[str, list[dict]], paper: dict) -> list[str]:
    """Per module: fold-wise mAP50 differences, their mean, the paper's difference and whether they agree."""
    lines = ["| effect | mAP50 difference per fold | mean | paper | agrees with the paper's sign? |",
             "| --- | --- | ---: | ---: | --- |"]
    for label, with_module, without in EFFECTS:
        a, b = _by_fold(results.get(with_module, [])), _by_fold(results.get(without, []))
        folds = sorted(a.keys() & b.keys())  # a benchmark cut short: only the folds both models finished
        if not folds:
            continue
        diffs = [a[k]["ultralytics"]["map50"] - b[k]["ultralytics"]["map50"] for k in folds]
        reference = paper[with_module][3] - paper[without][3]
        signs = {1 if d * reference > 0 else -1 if d * reference < 0 else 0 for d in diffs}
        verdict = {frozenset({1}): "yes, every fold", frozenset({-1}): "no, every fold",
                   frozenset({0}): "no difference"}.get(frozenset(signs), "folds disagree")
        lines.append(f"| {label} | {', '.join(f'{d:+.3f}' for d in diffs)} | {statistics.fmean(diffs):+.3f} | "
                     f"{reference:+.3f} | {verdict} |")
    return lines


def data_line(dataset: str, converted: Path) -> str:
    """What the converted dataset holds (from its convert.json)."""
    import json

    convert = json.loads((converted / "convert.json").read_text(encoding="utf-8"))
    counts = convert["counts"]
    return (f"{DATASETS[dataset]}: {counts['patients']} patients, {counts['source_slices']} slices, "
            f"{counts['images']} calcium slices with {counts['boxes']} boxes, {convert['folds']} patient-grouped folds")


def report(results: dict, datasets: dict[str, Path], schedule: dict, record: dict, minutes: float) -> str:
    """The BENCHMARKS.md block: how it ran, the data, Table 2 and 3 layouts, size buckets and module effects."""
    cpu = schedule["device"] == "cpu"
    schedule_line = (f"Schedule ({schedule['name']}): {schedule['epochs']} epochs, {schedule['imgsz']} px, batch "
                     f"{schedule['batch']} (nominal batch {schedule['nbs']}), {schedule['optimizer']} lr "
                     f"{schedule['lr0']} with {schedule['warmup_epochs']:g} warm-up epoch(s), device "
                     f"{schedule['device']}; otherwise the paper's recipe (from scratch, mosaic, flips, HSV, "
                     "translation), every model the same; scored on the held-out fold with the last epoch's weights.")
    lines = [record_line(record) + f" This invocation: {minutes:.0f} min (finished runs are reused).", "",
             schedule_line, "", *[f"- {data_line(name, path)}." for name, path in datasets.items()],
             "- Heart crop: the phantom's ground-truth heart boxes + 10 mm (an oracle heart detector, not tqgd's).",
             ("- min/epoch: a run's training wall time (set-up and ultralytics' closing validation included) / epochs, "
              "two trainings sharing the cores."), ""]
    if cpu:
        lines += [("**CPU-schedule numbers.** No GPU was lent to this task, so the paper's 200-epoch schedule was not "
                   "run; these short-schedule numbers on synthetic data compare the configs with each other, not with "
                   "the paper's absolute values."), ""]
    for dataset in datasets:
        found = results.get(dataset, {})
        paper = PAPER[PAPER_DATASET[dataset]]
        lines += [f"### {DATASETS[dataset]}", "", "Table 2 layout (paper mAP: its Table 2; YOLOv5*B: Table 1):", "",
                  *metrics_table(found, [(MODELS[k].paper_name, k) for k in TABLE2], paper), "",
                  "Table 3 layout (necks on YOLOv5*B):", "", *metrics_table(found, list(TABLE3), paper), "",
                  "Recall per ground-truth box size (px², Fig. 2 buckets):", "", *size_table(found), "",
                  "Module effects on mAP50 (paired by fold):", "", *effect_rows(found, paper), ""]
    return "\n".join(lines).rstrip()
