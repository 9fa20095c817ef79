"""``tqgd score`` (Agatston / volume / mass and risk category of one scan) and ``tqgd evaluate`` (against a reference).

Both take the same scoring conventions as options (see ``tqgd.scoring.options``); every output records them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ThresholdOpt = Annotated[float, typer.Option("--threshold-hu", help="Calcium threshold in HU (Agatston: 130).")]
KvpOpt = Annotated[bool, typer.Option("--kvp-threshold/--fixed-threshold",
                                      help="Look the threshold up by the scan's kVp (120: 130 HU, 100: 147 HU).")]
KvpTableOpt = Annotated[Optional[list[str]], typer.Option("--kvp-table", metavar="KVP=HU",
                                                          help="Add/override a kVp threshold, e.g. 80=167.")]
ConnectivityOpt = Annotated[int, typer.Option("--connectivity", help="2D lesion connectivity: 8 (default) or 4.")]
MinAreaOpt = Annotated[float, typer.Option("--min-area-mm2", help="Smallest per-slice lesion counted, in mm^2.")]
NormalisationOpt = Annotated[str, typer.Option("--slice-normalisation",
                                               help="Scale per-slice scores to 3 mm by: spacing, thickness or none.")]
ThicknessOpt = Annotated[Optional[float], typer.Option("--slice-thickness-mm",
                                                       help="Slice thickness when the file lacks it (MetaImage).")]
RiskOpt = Annotated[str, typer.Option("--risk-scheme", help="five-class (0/1-10/11-100/101-400/>400) or "
                                                            "four-class (0/1-99/100-399/>=400).")]
MassOpt = Annotated[Optional[float], typer.Option("--mass-calibration",
                                                  help="Calibration factor in mg/cm^3 per HU; enables mass scores.")]
LabelsOpt = Annotated[str, typer.Option("--labels", help="Mask values: auto, arteries (1 LAD, 2 LCX, 3 RCA) or "
                                                         "binary.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Output folder (created if missing).")]
MaskOpt = Annotated[Optional[Path], typer.Option("--mask", exists=True, dir_okay=False,
                                                 help="Calcium label/mask volume (.mhd, .nii, .nii.gz).")]
DetectionsOpt = Annotated[Optional[Path], typer.Option("--detections", exists=True, dir_okay=False,
                                                       help="detections.json written by tqgd detect.")]


def _options(threshold_hu: float, kvp_threshold: bool, kvp_table: list[str] | None, connectivity: int,
             min_area_mm2: float, slice_normalisation: str, slice_thickness_mm: float | None, risk_scheme: str,
             mass_calibration: float | None, labels: str):
    from tqgd.errors import ConfigError
    from tqgd.scoring.options import KVP_THRESHOLDS_HU, ScoringOptions

    table = dict(KVP_THRESHOLDS_HU)
    for entry in kvp_table or []:
        kvp, sep, hu = entry.partition("=")
        try:
            table[int(kvp)] = float(hu)
        except ValueError:
            raise ConfigError(f"--kvp-table entries look like 80=167 (kVp=HU), got {entry!r}") from None
        if not sep:
            raise ConfigError(f"--kvp-table entries look like 80=167 (kVp=HU), got {entry!r}")
    return ScoringOptions(threshold_hu=threshold_hu, kvp_adjusted_threshold=kvp_threshold or bool(kvp_table),
                          kvp_thresholds_hu=table, connectivity_2d=connectivity, min_lesion_area_mm2=min_area_mm2,
                          slice_normalisation=slice_normalisation, slice_thickness_mm=slice_thickness_mm,
                          risk_scheme=risk_scheme, mass_calibration_mg_per_cm3_hu=mass_calibration, mask_labels=labels)


def _one_prediction(mask: Path | None, detections: Path | None) -> Path:
    if (mask is None) == (detections is None):
        raise typer.BadParameter("give exactly one of --mask or --detections")
    return mask if mask is not None else detections  # type: ignore[return-value]


def _check_outputs(outputs: list[Path], inputs: list[Path | None]) -> None:
    from tqgd.errors import OutputError

    resolved_inputs = {p.resolve() for p in inputs if p is not None}
    for output in outputs:
        if output.resolve() in resolved_inputs:
            raise OutputError("this output file would overwrite an input; choose another --out folder", output)


def _read_scan(path: Path):
    from tqgd.data.readers import read_ct

    return read_ct(path)


def score(ct_path: Annotated[Path, typer.Argument(exists=True, help="CT scan: DICOM folder or file, .mhd, .nii.gz.")],
          out: OutOpt, mask: MaskOpt = None, detections: DetectionsOpt = None, threshold_hu: ThresholdOpt = 130.0,
          kvp_threshold: KvpOpt = False, kvp_table: KvpTableOpt = None, connectivity: ConnectivityOpt = 8,
          min_area_mm2: MinAreaOpt = 1.0, slice_normalisation: NormalisationOpt = "spacing",
          slice_thickness_mm: ThicknessOpt = None, risk_scheme: RiskOpt = "five-class",
          mass_calibration: MassOpt = None, labels: LabelsOpt = "auto",
          png: Annotated[bool, typer.Option("--png/--no-png", help="Also write the one-page report.png.")] = True,
          ) -> None:
    """Score coronary calcium of one scan from a mask or from tqgd detections: Agatston, volume, mass, risk.

    Writes OUT/score.json (totals, per artery, per slice, per lesion and every convention used) and OUT/report.png,
    and prints a summary table. Patient names are never written.

    Example: tqgd score Images/TRV1P1CTI.mhd --mask "Reference standard/TRV1P1R.mhd" --out scores/TRV1P1
    """
    from rich.console import Console

    from tqgd.io import write_json
    from tqgd.scoring import score_detections, score_mask, summary_table
    from tqgd.scoring.masks import read_mask
    from tqgd.scoring.report import write_report_png

    prediction = _one_prediction(mask, detections)
    options = _options(threshold_hu, kvp_threshold, kvp_table, connectivity, min_area_mm2, slice_normalisation,
                       slice_thickness_mm, risk_scheme, mass_calibration, labels)
    outputs = [out / "score.json", out / "report.png"]
    _check_outputs(outputs, [ct_path, prediction])
    volume = _read_scan(ct_path)
    if mask is not None:
        labels_array, spacing = read_mask(mask)
        report = score_mask(volume, labels_array, options, mask_path=mask, mask_spacing_mm=spacing)
    else:
        from tqgd.detections import load_detections

        report = score_detections(volume, load_detections(prediction), options, detections_path=prediction)
    write_json(outputs[0], report.to_dict())
    if png:
        write_report_png(report, volume, outputs[1])
    console = Console()
    console.print(summary_table(report))
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"wrote {outputs[0]}" + (f" and {outputs[1]}" if png else ""))


def evaluate(out: OutOpt,
             ct_path: Annotated[Optional[Path], typer.Argument(exists=True, help="CT scan (single-patient form).")] = None,
             reference: Annotated[Optional[Path], typer.Option("--reference", exists=True, dir_okay=False,
                                                               help="Reference label volume for CT_PATH.")] = None,
             mask: MaskOpt = None, detections: DetectionsOpt = None,
             orcascore: Annotated[Optional[Path], typer.Option("--orcascore", exists=True, file_okay=False,
                                                               help="OrCaScore-layout folder (set form).")] = None,
             predictions: Annotated[Optional[Path], typer.Option("--predictions", exists=True, file_okay=False,
                                                                 help="Folder of <ID>.json or <ID>*.mhd/.nii.gz.")] = None,
             reference_labels: Annotated[str, typer.Option("--reference-labels",
                                                           help="Reference values: arteries, binary or auto.")] = "arteries",
             threshold_hu: ThresholdOpt = 130.0, kvp_threshold: KvpOpt = False, kvp_table: KvpTableOpt = None,
             connectivity: ConnectivityOpt = 8, min_area_mm2: MinAreaOpt = 1.0,
             slice_normalisation: NormalisationOpt = "spacing", slice_thickness_mm: ThicknessOpt = None,
             risk_scheme: RiskOpt = "five-class", mass_calibration: MassOpt = None, labels: LabelsOpt = "auto",
             ) -> None:
    """Evaluate predictions against a reference: lesion sensitivity/PPV/F1, ICC, weighted kappa, Bland-Altman.

    Single patient: CT_PATH --reference REF (--mask PRED | --detections det.json). Set: --orcascore ROOT
    --predictions DIR, pairing files by case ID. Writes OUT/evaluation.json and OUT/per_patient.csv, and for two
    or more patients OUT/bland_altman.png and OUT/risk_confusion.png.

    Example: tqgd evaluate --orcascore phantom_set --predictions detections/ --out eval
    """
    from rich.progress import Progress

    from tqgd.data.orcascore import discover_cases
    from tqgd.scoring.cohort import CohortEvaluation, evaluate_cohort, evaluate_scan, pair_predictions

    options = _options(threshold_hu, kvp_threshold, kvp_table, connectivity, min_area_mm2, slice_normalisation,
                       slice_thickness_mm, risk_scheme, mass_calibration, labels)
    single = [v for v in (ct_path, reference, mask, detections) if v is not None]
    if orcascore is not None or predictions is not None:
        if orcascore is None or predictions is None or single:
            raise typer.BadParameter("the set form takes --orcascore ROOT --predictions DIR and nothing else")
        pairs = pair_predictions(discover_cases(orcascore), predictions)
        with Progress(transient=True) as progress:
            task = progress.add_task("evaluating", total=len(pairs))
            cohort = evaluate_cohort(pairs, options, on_case=lambda _: progress.advance(task))
        inputs = [orcascore, predictions]
    else:
        if ct_path is None or reference is None:
            raise typer.BadParameter("give CT_PATH and --reference (or --orcascore and --predictions)")
        prediction = _one_prediction(mask, detections)
        _check_outputs([out / "evaluation.json", out / "per_patient.csv"], [ct_path, reference, prediction])
        case = evaluate_scan(_read_scan(ct_path), reference, prediction, options, reference_labels=reference_labels)
        cohort = CohortEvaluation(cases=[case], options=options)
        inputs = [ct_path, reference, prediction]
    _write_evaluation(cohort, out, inputs)


def fmt(value: float | None) -> str:
    """Three decimals, or '-' for an undefined statistic."""
    return "-" if value is None else f"{value:.3f}"


def _write_evaluation(cohort, out: Path, inputs: list[Path]) -> None:
    import csv
    import io

    from rich.console import Console
    from rich.table import Table

    from tqgd.io import write_json, write_text
    from tqgd.scoring.plots import write_bland_altman_png, write_confusion_png

    outputs = {name: out / name for name in ("evaluation.json", "per_patient.csv", "bland_altman.png",
                                              "risk_confusion.png")}
    _check_outputs(list(outputs.values()), inputs)
    data = cohort.to_dict()
    rows = cohort.per_patient_rows()
    write_json(outputs["evaluation.json"], data)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(outputs["per_patient.csv"], buffer.getvalue())
    agreement = data["agreement"]
    written = [outputs["evaluation.json"], outputs["per_patient.csv"]]
    if len(rows) >= 2:
        write_bland_altman_png([r["agatston_reference"] for r in rows], [r["agatston_predicted"] for r in rows],
                               outputs["bland_altman.png"], labels=[r["case_id"] for r in rows])
        write_confusion_png(agreement["risk_confusion_matrix"], agreement["risk_categories"],
                            outputs["risk_confusion.png"], agreement["risk_kappa_linear"])
        written += [outputs["bland_altman.png"], outputs["risk_confusion.png"]]
    table = Table(title="Evaluation per patient")
    for column in ("case", "Agatston ref", "Agatston pred", "risk ref", "risk pred", "sens", "PPV", "F1 vol"):
        table.add_column(column, justify="left" if column.startswith(("case", "risk")) else "right")
    for r in rows:
        table.add_row(r["case_id"], f"{r['agatston_reference']:.1f}", f"{r['agatston_predicted']:.1f}",
                      r["risk_reference"], r["risk_predicted"], fmt(r["sensitivity"]), fmt(r["ppv"]), fmt(r["f1_volume"]))
    console = Console()
    console.print(table)
    pooled = data["lesions"]
    console.print(f"lesions: sensitivity {fmt(pooled['sensitivity'])}, PPV {fmt(pooled['ppv'])}; by volume "
                  f"sensitivity {fmt(pooled['sensitivity_volume'])}, PPV {fmt(pooled['ppv_volume'])}, "
                  f"F1 {fmt(pooled['f1_volume'])}")
    console.print(f"ICC(A,1) Agatston {fmt(agreement['icc_a1_agatston'])}, volume {fmt(agreement['icc_a1_volume'])}; "
                  f"risk kappa (linear) {fmt(agreement['risk_kappa_linear'])}")
    console.print("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Attach ``tqgd score`` and ``tqgd evaluate``."""
    app.command("score")(score)
    app.command("evaluate")(evaluate)
