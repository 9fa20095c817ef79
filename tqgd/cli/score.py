"""``tqgd score`` (Agatston / volume / mass and risk category of one scan) and ``tqgd evaluate`` (against a reference).

Both take the same scoring conventions as options (see ``tqgd.scoring.options``); every output records them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

Threshold = Annotated[float, typer.Option("--threshold-hu", help="Calcium threshold in HU (Agatston: 130).")]
Inclusive = Annotated[bool, typer.Option("--inclusive-threshold/--exclusive-threshold",
                                         help="Voxels equal to the threshold are calcium (>=) or not (>).")]
Kvp = Annotated[bool, typer.Option("--kvp-threshold/--fixed-threshold",
                                   help="Threshold by the scan's kVp (120: 130 HU, 100: 147 HU).")]
KvpTable = Annotated[list[str] | None, typer.Option("--kvp-table", metavar="KVP=HU",
                                                       help="Add a kVp threshold, e.g. 80=167 (implies "
                                                            "--kvp-threshold).")]
Connectivity = Annotated[int, typer.Option("--connectivity", help="2D lesion connectivity: 8 or 4.")]
MinArea = Annotated[float, typer.Option("--min-area-mm2", help="Smallest per-slice lesion counted, in mm^2.")]
Normalisation = Annotated[str, typer.Option("--slice-normalisation",
                                            help="Scale per-slice scores to 3 mm by: spacing, thickness or none.")]
Thickness = Annotated[float | None, typer.Option("--slice-thickness-mm",
                                                    help="Slice thickness when the file lacks it (MetaImage).")]
Risk = Annotated[str, typer.Option("--risk-scheme", help="five-class (0/1-10/11-100/101-400/>400), four-class "
                                                         "(0/1-99/100-399/>=400) or orcascore (I 0-10/II 11-100/"
                                                         "III 101-1000/IV >1000).")]
Mass = Annotated[float | None, typer.Option("--mass-calibration",
                                               help="Calibration factor in mg/cm^3 per HU; enables mass scores.")]
Labels = Annotated[str, typer.Option("--labels", help="Mask values: auto, arteries (1 LAD, 2 LCX, 3 RCA, "
                                                       "4 undetermined), binary.")]
Out = Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Output folder (created if missing).")]
Mask = Annotated[Path | None, typer.Option("--mask", exists=True, dir_okay=False,
                                              help="Calcium label/mask volume (.mhd, .nii, .nii.gz).")]
Detections = Annotated[Path | None, typer.Option("--detections", exists=True, dir_okay=False,
                                                    help="detections.json written by tqgd detect.")]
IncludeIdentifiers = Annotated[bool, typer.Option("--include-identifiers",
                                                  help="Also write the patient's name and IDs and the input paths "
                                                       "(left out by default).")]
KVP_TABLE_FORMAT = "--kvp-table entries look like 80=167 (kVp=HU)"


def scoring_options(*, threshold_hu: float, inclusive: bool, kvp_threshold: bool, kvp_table: list[str] | None,
                    connectivity: int, min_area_mm2: float, slice_normalisation: str, slice_thickness_mm: float | None,
                    risk_scheme: str, mass_calibration: float | None, labels: str, **_other: Any):
    """``ScoringOptions`` from the CLI's option values (shared by both commands; other keyword values ignored)."""
    from tqgd.errors import ConfigError
    from tqgd.scoring.options import KVP_THRESHOLDS_HU, ScoringOptions

    table = dict(KVP_THRESHOLDS_HU)
    for entry in kvp_table or []:
        kvp, sep, hu = entry.partition("=")
        try:
            if not sep:
                raise ValueError(entry)
            table[int(kvp)] = float(hu)
        except ValueError:
            raise ConfigError(f"{KVP_TABLE_FORMAT}, got {entry!r}") from None
    return ScoringOptions(threshold_hu=threshold_hu, threshold_inclusive=inclusive,
                          kvp_adjusted_threshold=kvp_threshold or bool(kvp_table), kvp_thresholds_hu=table,
                          connectivity_2d=connectivity, min_lesion_area_mm2=min_area_mm2,
                          slice_normalisation=slice_normalisation, slice_thickness_mm=slice_thickness_mm,
                          risk_scheme=risk_scheme, mass_calibration_mg_per_cm3_hu=mass_calibration, mask_labels=labels)


def _one_prediction(mask: Path | None, detections: Path | None) -> Path:
    """The one prediction file given; usage error (exit 2) unless exactly one of --mask/--detections is."""
    if (mask is None) == (detections is None):
        raise typer.BadParameter("give exactly one of --mask or --detections")
    return mask if mask is not None else detections  # type: ignore[return-value]


def _check_outputs(outputs: list[Path], inputs: list[Path | None]) -> None:
    """Refuse to run when an output file would replace one of the inputs."""
    from tqgd.errors import OutputError

    resolved_inputs = {p.resolve() for p in inputs if p is not None}
    for output in outputs:
        if output.resolve() in resolved_inputs:
            raise OutputError("this output file would overwrite an input; choose another --out folder", output)


def score(ct_path: Annotated[Path, typer.Argument(exists=True, help="CT scan: DICOM folder or file, .mhd, .nii.gz.")],
          out: Out, mask: Mask = None, detections: Detections = None, threshold_hu: Threshold = 130.0,
          inclusive: Inclusive = True, kvp_threshold: Kvp = False, kvp_table: KvpTable = None,
          connectivity: Connectivity = 8, min_area_mm2: MinArea = 1.0, slice_normalisation: Normalisation = "spacing",
          slice_thickness_mm: Thickness = None, risk_scheme: Risk = "five-class", mass_calibration: Mass = None,
          labels: Labels = "auto",
          png: Annotated[bool, typer.Option("--png/--no-png", help="Also write the one-page report.png.")] = True,
          include_identifiers: IncludeIdentifiers = False,
          dicom: Annotated[bool, typer.Option("--dicom", help="Also write DICOM SEG, SR (TID 1500) and a secondary "
                                                             "capture of report.png into OUT/dicom/ (DICOM input "
                                                             "only; they carry the source's patient and study).")]
          = False,
          ) -> None:
    """Score coronary calcium of one scan from a mask or from tqgd detections: Agatston, volume, mass, risk.

    Writes OUT/score.json (totals, per artery, per slice, per lesion and every convention used) and OUT/report.png,
    and prints a summary table. Patient names, IDs and input paths are written only with --include-identifiers.

    Example: tqgd score Images/TRV1P1CTI.mhd --mask "Reference standard/TRV1P1R.mhd" --out scores/TRV1P1
    """
    from rich.console import Console

    from tqgd.data.readers import read_ct
    from tqgd.detections import load_detections
    from tqgd.io import check_writable, write_json
    from tqgd.scoring import score_detections, score_mask, summary_table
    from tqgd.scoring.masks import read_mask
    from tqgd.scoring.report import write_report_png

    prediction = _one_prediction(mask, detections)
    options = scoring_options(**locals())
    outputs = [out / "score.json", out / "report.png"]
    _check_outputs(outputs, [ct_path, prediction])
    check_writable(out)  # a read-only or full --out fails now, not after the scan is read and scored
    volume = read_ct(ct_path)
    if dicom and volume.meta.format != "dicom":
        from tqgd.errors import DicomOutputError

        raise DicomOutputError(f"--dicom needs a DICOM CT input (this is {volume.meta.format}): the results must "
                               "reference the source instances", ct_path)
    if mask is not None:
        labels_array, spacing = read_mask(mask)
        report = score_mask(volume, labels_array, options, mask_path=mask, mask_spacing_mm=spacing)
    else:
        report = score_detections(volume, load_detections(prediction), options, detections_path=prediction)
    write_json(outputs[0], report.to_dict(include_identifiers=include_identifiers))
    if png:
        write_report_png(report, volume, outputs[1])
    console = Console()
    console.print(summary_table(report))
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"wrote {outputs[0]}" + (f" and {outputs[1]}" if png else ""))
    if dicom:
        from tqgd.dicom_out import detections_identity, mask_identity, write_dicom_results

        conventions = options.to_dict()
        algorithm = (mask_identity(labels_array, conventions) if mask is not None
                     else detections_identity(prediction, conventions))
        written = write_dicom_results(report, ct_path, out, algorithm, report_png=outputs[1] if png else None,
                                      automatic=mask is None)
        console.print("wrote DICOM " + ", ".join(str(p) for p in written.paths()))


def evaluate(out: Out,
             ct_path: Annotated[Path | None, typer.Argument(exists=True, help="CT scan (one-patient form).")] = None,
             reference: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                               help="Reference label volume for CT_PATH.")] = None,
             mask: Mask = None, detections: Detections = None,
             orcascore: Annotated[Path | None, typer.Option(exists=True, file_okay=False,
                                                               help="OrCaScore-layout folder (set form).")] = None,
             predictions: Annotated[Path | None, typer.Option(exists=True, file_okay=False,
                                                                 help="Folder of <ID>.json or <ID>*.mhd/.nii.gz "
                                                                      "(set form).")] = None,
             reference_labels: Annotated[str, typer.Option(help="Reference values: arteries, binary or auto.")]
             = "arteries",
             threshold_hu: Threshold = 130.0, inclusive: Inclusive = True, kvp_threshold: Kvp = False,
             kvp_table: KvpTable = None, connectivity: Connectivity = 8, min_area_mm2: MinArea = 1.0,
             slice_normalisation: Normalisation = "spacing", slice_thickness_mm: Thickness = None,
             risk_scheme: Risk = "five-class", mass_calibration: Mass = None, labels: Labels = "auto",
             ) -> None:
    """Evaluate predictions against a reference: lesion sensitivity/PPV/F1, ICC, weighted kappa, Bland-Altman.

    One patient: CT_PATH --reference REF (--mask PRED | --detections det.json). A set: --orcascore ROOT
    --predictions DIR, pairing files by case ID. Writes OUT/evaluation.json and OUT/per_patient.csv, and for two
    or more patients OUT/bland_altman.png and OUT/risk_confusion.png.

    Example: tqgd evaluate --orcascore phantom_set --predictions detections/ --out eval
    """
    from rich.progress import Progress

    from tqgd.data.orcascore import discover_cases
    from tqgd.data.readers import read_ct
    from tqgd.scoring.cohort import CohortEvaluation, evaluate_cohort, evaluate_scan, pair_predictions
    from tqgd.scoring.evaluation_report import EVALUATION_FILES, print_evaluation, write_evaluation

    from tqgd.io import check_writable

    options = scoring_options(**locals())
    one_patient = [v for v in (ct_path, reference, mask, detections) if v is not None]
    if orcascore is not None or predictions is not None:
        if orcascore is None or predictions is None or one_patient:
            raise typer.BadParameter("the set form takes --orcascore ROOT --predictions DIR and no CT, --reference, "
                                     "--mask or --detections")
        pairs = pair_predictions(discover_cases(orcascore), predictions)
        check_writable(out)  # before the whole set is scored
        with Progress(transient=True) as progress:
            task = progress.add_task("evaluating", total=len(pairs))
            cohort = evaluate_cohort(pairs, options, on_case=lambda _: progress.advance(task))
    else:
        if ct_path is None or reference is None:
            raise typer.BadParameter("give CT_PATH and --reference (or --orcascore and --predictions)")
        prediction = _one_prediction(mask, detections)
        _check_outputs([out / name for name in EVALUATION_FILES], [ct_path, reference, prediction])
        check_writable(out)
        case = evaluate_scan(read_ct(ct_path), reference, prediction, options, reference_labels=reference_labels)
        cohort = CohortEvaluation(cases=[case], options=options)
    written = write_evaluation(cohort, out)
    print_evaluation(cohort)
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Attach ``tqgd score`` and ``tqgd evaluate``."""
    app.command("score")(score)
    app.command("evaluate")(evaluate)
