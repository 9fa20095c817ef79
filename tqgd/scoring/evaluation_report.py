"""Outputs of an evaluation: evaluation.json, per_patient.csv, Bland-Altman and confusion PNGs, terminal summary."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tqgd.scoring.cohort import CohortEvaluation

EVALUATION_FILES = ("evaluation.json", "per_patient.csv", "bland_altman.png", "risk_confusion.png")


def fmt(value: float | None) -> str:
    """Three decimals, or '-' for an undefined statistic."""
    return "-" if value is None else f"{value:.3f}"


def write_evaluation(cohort: CohortEvaluation, out_dir: str | Path) -> list[Path]:
    """Write the evaluation files into ``out_dir`` atomically; figures only for two or more patients."""
    from tqgd.io import write_json, write_text
    from tqgd.scoring.plots import write_bland_altman_png, write_confusion_png

    paths = {name: Path(out_dir) / name for name in EVALUATION_FILES}
    data = cohort.to_dict()
    rows = cohort.per_patient_rows()
    write_json(paths["evaluation.json"], data)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["case_id"])
    writer.writeheader()
    writer.writerows(rows)
    write_text(paths["per_patient.csv"], buffer.getvalue())
    written = [paths["evaluation.json"], paths["per_patient.csv"]]
    if len(rows) >= 2:
        agreement = data["agreement"]
        write_bland_altman_png([r["agatston_reference"] for r in rows], [r["agatston_predicted"] for r in rows],
                               paths["bland_altman.png"], labels=[r["case_id"] for r in rows])
        write_confusion_png(agreement["risk_confusion_matrix"], agreement["risk_categories"],
                            paths["risk_confusion.png"], agreement["risk_kappa_linear"])
        written += [paths["bland_altman.png"], paths["risk_confusion.png"]]
    return written


def print_evaluation(cohort: CohortEvaluation, console=None) -> None:
    """Per-patient table, pooled lesion metrics (per artery too, when the references name arteries) and agreement
    statistics on a rich console."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="Evaluation per patient")
    for column in ("case", "Agatston ref", "Agatston pred", "risk ref", "risk pred", "sens", "PPV", "F1 vol"):
        table.add_column(column, justify="left" if column.startswith(("case", "risk")) else "right")
    for r in cohort.per_patient_rows():
        table.add_row(r["case_id"], f"{r['agatston_reference']:.1f}", f"{r['agatston_predicted']:.1f}",
                      r["risk_reference"].split(" ")[0], r["risk_predicted"].split(" ")[0], fmt(r["sensitivity"]),
                      fmt(r["ppv"]),
                      fmt(r["f1_volume"]))
    console.print(table)
    pooled_all = cohort.pooled()
    if pooled_all["per_artery"]:
        arteries = Table(title="Lesions per artery (pooled)")
        for column in ("artery", "ref lesions", "sens", "PPV", "F1 vol"):
            arteries.add_column(column, justify="left" if column == "artery" else "right")
        for name, m in pooled_all["per_artery"].items():
            arteries.add_row(name, str(m["reference_lesions"]), fmt(m["sensitivity"]), fmt(m["ppv"]),
                             fmt(m["f1_volume"]))
        console.print(arteries)
    pooled = pooled_all["lesions"]
    agreement = cohort.agreement()
    console.print(f"lesions: sensitivity {fmt(pooled['sensitivity'])}, PPV {fmt(pooled['ppv'])}; by volume "
                  f"sensitivity {fmt(pooled['sensitivity_volume'])}, PPV {fmt(pooled['ppv_volume'])}, "
                  f"F1 {fmt(pooled['f1_volume'])}")
    console.print(f"ICC(A,1) Agatston {fmt(agreement['icc_a1_agatston'])}, volume {fmt(agreement['icc_a1_volume'])}; "
                  f"risk kappa (linear) {fmt(agreement['risk_kappa_linear'])}")
