"""``tqgd detect``: calcium boxes (and, with HU, the calcium score) for a scan or a folder of scans."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


class Backend(str, Enum):
    """Where the models run: PyTorch, or an export of the weights on ONNX Runtime or OpenVINO (tqgd.engine.backends)."""

    torch = "torch"
    onnx = "onnx"
    openvino = "openvino"


def _print_outcome(console, outcome) -> None:
    """One scan's result: score table (or why there is none), notes, where the files are."""
    from tqgd.scoring import summary_table

    if outcome.error is not None:
        console.print(f"[red]failed[/red] {outcome.source}: {outcome.error}")
        return
    if outcome.score is not None:
        console.print(summary_table(outcome.score))
    for note in outcome.notes:
        console.print(f"note: {note}")
    console.print(f"{outcome.detections} boxes on {len(outcome.result.slices)} slices; outputs in {outcome.out}")


def _print_summary(console, outcomes) -> None:
    from rich.table import Table

    table = Table(title="scans")
    for column in ("scan", "status", "boxes", "Agatston", "risk"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.name, "ok" if o.error is None else "[red]failed[/red]", str(o.detections),
                      f"{o.score.agatston:.1f}" if o.score is not None else "-",
                      o.score.risk.label if o.score is not None else "-")
    console.print(table)


def _dicom_writer(weights: Path, options):
    """For --dicom: a function that writes a scored DICOM scan's SEG/SR/SC, or records why it could not."""
    from tqgd.dicom_out import detector_identity, write_dicom_results
    from tqgd.errors import TQGDError

    algorithm = detector_identity(weights, {"conf": options.conf, "snap_boxes": options.snap_boxes,
                                            "physics_filter": options.physics_filter,
                                            "complete_tips": options.complete_tips,
                                            "bridge_gaps": options.bridge_gaps, "verify": options.verify})

    def write(outcome) -> None:
        if outcome.error is not None:
            return
        if outcome.score is None or outcome.score.scan.get("format") != "dicom":
            outcome.notes.append("no DICOM results: --dicom needs a DICOM CT scan with Hounsfield units")
            return
        try:
            written = write_dicom_results(outcome.score, outcome.source, outcome.out, algorithm,
                                          report_png=outcome.out / "report.png", automatic=True)
        except TQGDError as exc:
            outcome.error = f"DICOM results not written: {exc}"
            return
        outcome.notes.append("DICOM results: " + ", ".join(str(p) for p in written.paths()))

    return write


def _explain_writer(setup, device, series_uid):
    """For --explain: a function that writes Grad-CAM++ maps of a scan's detections next to its overlays."""
    from tqgd.explain.run import ExplainSettings, explain_scan, make_explainers

    settings = ExplainSettings()
    explainer, _ = make_explainers(setup.detector, settings, device)

    def write(outcome) -> None:
        if outcome.error is not None or outcome.result is None or not outcome.result.slices:
            return
        from tqgd.data.readers import read_ct
        from tqgd.errors import TQGDError

        try:
            volume = read_ct(outcome.source, series_uid=series_uid) if series_uid else read_ct(outcome.source)
            _, maps, _ = explain_scan(volume, setup.detector, None, setup.options, outcome.out, settings, explainer,
                                      result=outcome.result)
        except TQGDError as exc:
            outcome.error = f"maps not written: {exc}"
            return
        outcome.notes.append(f"{settings.method} maps of {sum(len(m.items) for m in maps)} detections: "
                             f"{outcome.out / 'maps'} (explain.json)")

    return write


def detect(
    source: Path = typer.Argument(..., exists=True, readable=True,
                                  help="A .dcm file, a DICOM series folder, .mhd, .nii.gz, a PNG slice, or a folder "
                                       "of scans (sub-folders and files; each is processed)."),
    weights: Path = typer.Option(None, "--weights", exists=True, dir_okay=False,
                                 help="Calcium detector weights (best.pt of tqgd train). Default: the phantom weights "
                                      "of tqgd demo, if it has run."),
    heart_weights: Path = typer.Option(None, "--heart-weights", exists=True, dir_okay=False,
                                       help="Heart detector weights (tqgd heart train). Default: the ones recorded in "
                                            "--weights when it was trained on heart crops."),
    out: Path = typer.Option(Path("runs/detect"), "--out", "-o", file_okay=False,
                             help="Output folder (one sub-folder per scan when SOURCE holds several)."),
    conf: float = typer.Option(None, "--conf", min=0.0, max=0.999,
                               help="Keep boxes with this confidence or more (default: the operating confidence "
                                    "recorded in the weights, chosen on validation patients; else 0.25)."),
    device: str = typer.Option(None, "--device", help="cpu, 0, ... (default: ultralytics' choice)."),
    batch: int = typer.Option(16, "--batch", min=1, help="Slices per model call."),
    series_uid: str = typer.Option(None, "--series-uid",
                                   help="SeriesInstanceUID to read when the DICOM folder holds several series."),
    trust_weights: bool = typer.Option(False, "--trust-weights",
                                       help="Load the weights with full pickle (only for files you trust)."),
    snap_boxes: bool = typer.Option(True, "--snap/--no-snap",
                                    help="Replace each box by the tight box of the calcium (>= 130 HU) holding its "
                                         "brightest pixel, as reference boxes are drawn."),
    physics_filter: bool = typer.Option(True, "--physics-filter/--no-physics-filter",
                                        help="Drop boxes that hold no voxel at or above 130 HU, and boxes on metal "
                                             "(a voxel >= 2500 HU: wires, clips, leads); neither is calcium. The "
                                             "counts dropped are reported and recorded."),
    complete_tips: bool = typer.Option(True, "--complete-tips/--no-complete-tips",
                                       help="With the physics filter: add boxes for the small end slices (at most "
                                            "10 px) of each found lesion's >= 130 HU 3D component, which the model "
                                            "cannot localise. The count added is reported and recorded."),
    bridge_gaps: bool = typer.Option(True, "--bridge-gaps/--no-bridge-gaps",
                                     help="With --complete-tips: also box a found lesion's pieces of any size on "
                                          "slices between two of its boxed slices (the model skips middle slices of "
                                          "large deposits); the boxes get the weaker neighbour's confidence."),
    verify: bool = typer.Option(True, "--verify/--no-verify",
                                help="With the physics filter: check the whole >= 130 HU 3D component under each box "
                                     "with the lesion verifier (a small 3D network) and drop the boxes of components "
                                     "it rejects (aortic wall, bone, metal look-alikes). The counts are reported and "
                                     "recorded."),
    verifier: Path = typer.Option(None, "--verifier", exists=True, dir_okay=False,
                                  help="Lesion verifier (.onnx from tools/train_verifier.py). Default: the one shipped "
                                       "with tqgd (phantom-trained)."),
    verify_threshold: float = typer.Option(None, "--verify-threshold", min=0.0, max=0.999,
                                           help="Reject components the verifier scores under this probability "
                                                "(default: the threshold recorded in the verifier)."),
    whole_lesions: bool = typer.Option(True, "--whole-lesions/--tips-only",
                                       help="With the verifier and --complete-tips: complete every slice of a "
                                            "component the verifier is sure is calcium (score >= "
                                            "--whole-lesion-score), not only its small end slices: OrCaScore's "
                                            "lesion is the whole 3D component, and the model misses middle slices "
                                            "of large deposits."),
    whole_lesion_score: float = typer.Option(None, "--whole-lesion-score", min=0.0, max=1.0, show_default=False,
                                             help="Verifier score from which a component is completed whole "
                                                  "(default: 0.5)."),
    rescue: bool = typer.Option(True, "--rescue/--no-rescue",
                                help="With the verifier: also show it the >= 130 HU components (4 voxels to 3000 "
                                     "mm³) in the heart crop that no box touches, and report those it is sure of "
                                     "(score >= --rescue-score) as detections (origin 'verifier'), completed on all "
                                     "their slices: small deposits the model lost."),
    rescue_score: float = typer.Option(None, "--rescue-score", min=0.0, max=1.0, show_default=False,
                                       help="Verifier score from which an unboxed component is reported "
                                            "(default: 0.99)."),
    roi_crop: bool = typer.Option(None, "--roi-crop/--square-crop", show_default=False,
                                  help="Run the calcium model on the heart ROI itself, each side rounded up to 32 px, "
                                       "or on the square crop it was trained on. Default: the ROI crop for weights "
                                       "that record an operating point for it (the shipped ones), else the square "
                                       "crop. The ROI crop has fewer pixels (about half on the phantom) and no image "
                                       "beyond the ROI."),
    include_identifiers: bool = typer.Option(False, "--include-identifiers",
                                             help="Also write source paths and the patient's name and IDs into the "
                                                  "outputs (left out by default)."),
    explain_maps: bool = typer.Option(False, "--explain",
                                      help="Also write a Grad-CAM++ map of every detection next to the overlays "
                                           "(maps/slice_<z>_det<k>.png, per-slice sums, explain.json; tqgd explain "
                                           "has the options)."),
    backend: Backend = typer.Option(Backend.torch, "--backend",
                                    help="Run the models with PyTorch, ONNX Runtime or OpenVINO (CPU). The weights are "
                                         "exported once and the export is cached (TQGD_EXPORT_CACHE, default "
                                         "~/.cache/tqgd/exports); preprocessing, physics filter and snapping are "
                                         "the same."),
    dicom: bool = typer.Option(False, "--dicom",
                               help="Also write DICOM SEG, SR (TID 1500) and a secondary capture of report.png into "
                                    "<scan output>/dicom/ for each DICOM CT scan (they carry the source's patient "
                                    "and study, to go back to the PACS)."),
    lean_memory: bool = typer.Option(False, "--lean-memory",
                                     help="Return large arrays to the OS as soon as they are freed (glibc), so a "
                                          "folder run's peak memory grows about half as much per scan; each scan "
                                          "takes about 15 % longer."),
) -> None:
    """Detect coronary calcium: heart crop, boxes per slice, detections.json/.csv, overlays and the calcium score.

    Boxes are given in full-slice pixels and in patient millimetres. Scans with Hounsfield units also get
    score.json, report.png and a score table (Agatston, volume, risk category). Output names hold scan IDs or
    series UIDs, never patient names. Exits 1 if any scan failed.

    Example: tqgd detect scans/patient01 --weights runs/train/exp/weights/best.pt --heart-weights heart.pt --out out
    """
    from rich.console import Console
    from rich.panel import Panel
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if lean_memory:
        from tqgd.engine.heap import map_large_allocations

        map_large_allocations()  # before torch is imported: its allocations too come and go by mmap
    from tqgd.engine.demo import PHANTOM_WARNING
    from tqgd.engine.detect import DetectOptions
    from tqgd.engine.detect_run import default_weights, failed_summary, make_setup, run_detect

    console = Console()
    backend = Backend(backend).value
    if backend != "torch":
        from tqgd.engine.backends import check_backend
        from tqgd.errors import ConfigError

        check_backend(backend, device)  # a missing package fails before any weights load
        if explain_maps:
            raise ConfigError(f"--explain computes gradients of the PyTorch model; it cannot run with --backend "
                              f"{backend}. Use --backend torch with --explain")
    options = DetectOptions(conf=conf, batch=batch, include_identifiers=include_identifiers,
                            physics_filter=physics_filter, snap_boxes=snap_boxes, roi_crop=roi_crop,
                            complete_tips=complete_tips, bridge_gaps=bridge_gaps, verify=verify,
                            verifier=str(verifier) if verifier is not None else None,
                            verify_threshold=verify_threshold,
                            **score_option("whole_lesion_score", whole_lesions, whole_lesion_score),
                            **score_option("rescue_score", rescue, rescue_score))
    if weights is None:
        weights, demo_heart = default_weights()
        heart_weights = heart_weights or demo_heart
        console.print(f"no --weights given: using {weights}")
    with console.status("loading the models" if backend == "torch" else
                        f"preparing the {backend} backend (first use: export)"):
        setup = make_setup(weights, heart_weights, options, device, trust_weights or None, backend)
    if setup.detector.phantom_trained:
        console.print(Panel(f"{PHANTOM_WARNING}\n{setup.detector.training_data}", style="bold red",
                            title="phantom weights"))
    for note in setup.notes:
        console.print(f"note: {note}")
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)
    task = bars.add_task("slices", total=None)

    def progress(label: str, done: int, total: int) -> None:
        bars.update(task, description=label, completed=done, total=total)

    write_dicom = _dicom_writer(weights, setup.options) if dicom else None
    write_maps = _explain_writer(setup, device, series_uid) if explain_maps else None

    def on_scan(outcome) -> None:
        if write_maps is not None:
            write_maps(outcome)
        if write_dicom is not None:
            write_dicom(outcome)
        _print_outcome(console, outcome)

    with bars:
        outcomes = run_detect(source, out, setup, progress, on_scan=on_scan, series_uid=series_uid)
    if len(outcomes) > 1 or outcomes[0].out != out:  # a folder of scans
        _print_summary(console, outcomes)
    error = failed_summary(outcomes)
    if error is not None:
        raise error


def register(app: typer.Typer) -> None:
    """Attach ``tqgd detect``."""
    app.command("detect")(detect)


def score_option(name: str, on: bool, score: float | None) -> dict:
    """A ``DetectOptions`` verifier-score setting (``whole_lesion_score``, ``rescue_score``) from the CLI: None when
    switched off, else the given score or the option's default (``WHOLE_LESION_SCORE``, ``RESCUE_SCORE``; not
    imported here to keep --help fast)."""
    if not on:
        return {name: None}
    return {} if score is None else {name: score}
