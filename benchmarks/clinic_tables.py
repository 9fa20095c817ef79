"""The clinic benchmark's numbers per run and its Markdown report (``clinic_quality.py``).

Per run (one trained model, one seed, one held-out test set), from the run's result.json:

- per-lesion sensitivity, PPV, F1 (OrCaScore's rules, ``tqgd.scoring.evaluate``): lesions are 3D 6-connected
  calcium components; a reference lesion is detected when a predicted lesion shares a voxel with it, a predicted
  lesion is a true positive when it shares a voxel with a reference lesion. Counts are pooled over the test patients:
  sensitivity = detected reference lesions / reference lesions, PPV = true-positive predicted lesions / predicted
  lesions, F1 = 2 S P / (S + P) (0 when S = 0; undefined when nothing was predicted and S > 0 cannot happen);
- Agatston ICC: ICC(A,1) of (reference, predicted) total Agatston over the test patients (``agreement.icc_a1``);
- risk kappa: linearly weighted kappa of the risk categories (``agreement.weighted_kappa``) under ``risk_scheme``;
  computed here from the stored scores, so another scheme needs no new run;
- mAP50 and recall per Fig. 2 size bucket: ``coco_eval.evaluate_boxes`` over every slice of every test scan; recall
  at the run's operating confidence (the boxes that were scored).

Each table cell is the mean ± sample SD over the runs (training seeds) that define the value.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
from ablation_tables import mean_sd
from bench_common import record_line


def lesion_metrics(patients: list[dict[str, Any]]) -> dict[str, float | None]:
    """Pooled per-lesion sensitivity, PPV and F1 (see the module docstring)."""
    ref = sum(p["lesions"]["reference_lesions"] for p in patients)
    detected = sum(p["lesions"]["detected_reference_lesions"] for p in patients)
    predicted = sum(p["lesions"]["predicted_lesions"] for p in patients)
    true_positive = sum(p["lesions"]["true_positive_lesions"] for p in patients)
    sensitivity = detected / ref if ref else None
    ppv = true_positive / predicted if predicted else None
    if sensitivity is None:
        f1 = None
    elif sensitivity == 0 or ppv is None:
        f1 = 0.0
    else:
        f1 = 2 * sensitivity * ppv / (sensitivity + ppv)
    return {"sensitivity": sensitivity, "ppv": ppv, "f1": f1, "reference_lesions": ref, "predicted_lesions": predicted}


def agreement_metrics(patients: list[dict[str, Any]], risk_scheme: str) -> dict[str, Any]:
    """Agatston ICC(A,1) and linearly weighted risk kappa over the patients of one run."""
    from tqgd.scoring.agreement import icc_a1, weighted_kappa
    from tqgd.scoring.risk import categories, risk_category

    reference = np.array([p["agatston_reference"] for p in patients], dtype=np.float64)
    predicted = np.array([p["agatston_predicted"] for p in patients], dtype=np.float64)
    ref_risk = [risk_category(a, risk_scheme).index for a in reference]
    pred_risk = [risk_category(a, risk_scheme).index for a in predicted]
    return {"icc": icc_a1(np.stack([reference, predicted], axis=1)) if len(patients) else None,
            "kappa": weighted_kappa(ref_risk, pred_risk, len(categories(risk_scheme)), "linear"),
            "same_category": float(np.mean(np.equal(ref_risk, pred_risk))) if patients else None,
            "reference_categories": ref_risk}


def run_metrics(record: dict[str, Any], risk_scheme: str) -> dict[str, Any]:
    """Every table number of one run."""
    buckets = {b["name"]: b for b in record["boxes"]["buckets"]}
    return {**lesion_metrics(record["patients"]), **agreement_metrics(record["patients"], risk_scheme),
            "map50": record["boxes"]["map50"], "bucket_recall": {k: b["recall"] for k, b in buckets.items()},
            "bucket_gt": {k: b["n_gt"] for k, b in buckets.items()}, "train_min": record["train_s"] / 60}


def cell(values: list[float | None]) -> str:
    """mean ± SD of the defined values; '(k of n)' when some runs leave it undefined."""
    defined = [round(v, 6) + 0.0 for v in values if v is not None]  # + 0.0: no '-0.000' for a rounding-error ICC
    text = mean_sd(defined)
    return text if len(defined) == len(values) or not defined else f"{text} ({len(defined)} of {len(values)})"


CLINIC_COLUMNS = (("sensitivity", "sensitivity"), ("PPV", "ppv"), ("F1", "f1"), ("Agatston ICC", "icc"),
                  ("risk κ", "kappa"), ("mAP50", "map50"))


def clinic_table(runs_by_row: dict[str, list[dict]], labels: dict[str, str]) -> list[str]:
    """One line per row: the clinic columns, recall of 0-10 px² boxes, training minutes and run count."""
    lines = ["| method | " + " | ".join(h for h, _ in CLINIC_COLUMNS) + " | recall 0-10 px² | train min | runs |",
             "| --- |" + " ---: |" * (len(CLINIC_COLUMNS) + 3)]
    for key, runs in runs_by_row.items():
        if not runs:
            lines.append(f"| {labels[key]} |" + " — |" * (len(CLINIC_COLUMNS) + 2) + " 0 |")
            continue
        cells = [cell([r[k] for r in runs]) for _, k in CLINIC_COLUMNS]
        small = cell([r["bucket_recall"]["0-10"] for r in runs])
        minutes = statistics.fmean(r["train_min"] for r in runs)
        lines.append(f"| {labels[key]} | " + " | ".join(cells) + f" | {small} | {minutes:.1f} | {len(runs)} |")
    return lines


def bucket_table(runs_by_row: dict[str, list[dict]], labels: dict[str, str]) -> list[str]:
    """Recall per Fig. 2 size bucket (box counts in the header, from the test set's reference boxes)."""
    from tqgd.engine.size_buckets import SIZE_BUCKET_NAMES

    first = next((runs[0] for runs in runs_by_row.values() if runs), None)
    counts = [first["bucket_gt"][n] if first else 0 for n in SIZE_BUCKET_NAMES]
    lines = ["| method | " + " | ".join(f"{n} px² ({c} boxes)" for n, c in zip(SIZE_BUCKET_NAMES, counts, strict=True))
             + " |", "| --- |" + " ---: |" * len(SIZE_BUCKET_NAMES)]
    for key, runs in runs_by_row.items():
        if runs:
            lines.append(f"| {labels[key]} | " + " | ".join(cell([r["bucket_recall"][n] for r in runs])
                                                           for n in SIZE_BUCKET_NAMES) + " |")
    return lines


def test_set_line(runs_by_row: dict[str, list[dict]], risk_scheme: str, describe: str) -> str:
    """What the held-out set holds: patients, reference lesions, reference risk categories."""
    from tqgd.scoring.risk import categories

    first = next((runs[0] for runs in runs_by_row.values() if runs), None)
    if first is None:
        return f"{describe}: no finished run yet."
    labels = [c.label for c in categories(risk_scheme)]
    counts = np.bincount(first["reference_categories"], minlength=len(labels))
    spread = ", ".join(f"{label}: {n}" for label, n in zip(labels, counts, strict=True) if n)
    return (f"{describe}: {len(first['reference_categories'])} patients, {first['reference_lesions']} reference "
            f"lesions; reference risk categories ({risk_scheme}) {spread}.")


def report(results: dict[str, dict[str, list[dict]]], labels: dict[str, str], context: dict[str, Any]) -> str:
    """The BENCHMARKS.md block (``context``: record, schedule, data lines, datasets, risk scheme, minutes)."""
    scheme = context["risk_scheme"]
    per_run = {d: {k: [run_metrics(r, scheme) for r in runs] for k, runs in rows.items()}
               for d, rows in results.items()}
    lines = [record_line(context["record"]) + f" This invocation: {context['minutes']:.0f} min (finished runs are "
             "reused).", "", context["schedule_line"], "", *[f"- {line}" for line in context["data_lines"]],
             "- **Heart ROI: the phantom's ground-truth heart boxes + 10 mm** (an oracle heart detector) for every "
             "row (trained rows see it through the model crop the training dataset records), so the rows differ only "
             "by the calcium detector.",
             "- Detectors: `tqgd.engine.detect.detect_volume` with `DetectOptions`' defaults (the user's path: input "
             "built from the weights' record, physics filter, box snapping), boxes at each detector's operating confidence "
             "(chosen after training on the fold-0 validation patients of its training set by pooled lesion F1, as "
             "`tqgd.engine.operating_point` chooses the shipped weights'; never on the test set) -> `tqgd evaluate`'s scoring (box rule, OrCaScore lesion matching, Agatston); last epoch's "
             "weights. HU threshold: voxels > 130 HU in the heart ROI, 4-connected components per slice "
             "(`tqgd.baselines.threshold`) of at least Agatston's 1 mm². "
             "U-Net: probability >= 0.5, 4-connected components -> boxes, then detect's physics filter and snapping. "
             "Threshold and U-Net boxes go through the same scoring code. Shipped: the weights inside the package "
             "(`tools/ship_weights.py`, trained once on other phantom patients, not by this benchmark); "
             "'+ shipped heart detector' replaces the oracle heart ROI by the shipped heart detector (`tqgd detect` "
             "without `--weights`).",
             "- Columns: per-lesion sensitivity / PPV / F1 by OrCaScore's rules (3D 6-connected lesions, overlap "
             "of one voxel, counts pooled over the test patients); Agatston ICC = ICC(A,1) over test patients; risk "
             f"κ = linearly weighted kappa of the {scheme} risk categories; mAP50 = pycocotools over every slice of "
             "every test scan against the reference labels' per-slice boxes (detectors ranked from a second pass at "
             "confidence 0.001); recall of 0-10 px² boxes and per Fig. 2 bucket at the scored boxes' confidence; "
             "train min = wall time of one training (closing validation included, trainings sharing the cores). "
             "Mean ± sample SD over training seeds; the HU threshold and the shipped weights run once.", ""]
    for dataset, describe in context["datasets"].items():
        rows = per_run.get(dataset, {})
        lines += [f"### {describe}", "", test_set_line(rows, scheme, "Held-out test set"), "",
                  *clinic_table(rows, labels), "", "Recall per reference box size (Fig. 2 buckets):", "",
                  *bucket_table(rows, labels), ""]
    return "\n".join(lines).rstrip()
