"""``tqgd explain``: saliency maps of a detector's detections, the paper's Fig. 9 panel, the randomisation check."""

from __future__ import annotations

from pathlib import Path

import typer

#: Dataset images (model images already): explained as they are, not read as CT.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ROI_HELP = ("Heart crop of scans: 'auto' (as tqgd detect: the heart weights recorded in the calcium weights, or "
            "--heart-weights; full slices for weights trained on them), 'phantom' (the phantom's own heart boxes + "
            "10 mm, for tqgd phantom scans in OrCaScore layout) or x0,y0,x1,y1 in slice pixels.")


def _roi(spec: str, volume, detector, heart_weights, device, trust):
    """The HeartROI for ``volume`` (None: full slices) as ``--roi`` asks."""
    from tqgd.engine.detect import choose_crop
    from tqgd.engine.heart_crop import HeartROI
    from tqgd.errors import CheckpointError, ConfigError

    text = spec.strip().lower()
    if text == "auto":
        try:
            cropper, _ = choose_crop(detector, heart_weights, device, trust)
        except CheckpointError as exc:
            if isinstance(detector.preprocess.get("crop"), str):
                raise CheckpointError(f"{exc}. These weights were trained on crops made by "
                                      f"'{detector.preprocess['crop']}'; for tqgd phantom scans pass --roi phantom, "
                                      "or give the crop as --roi x0,y0,x1,y1") from exc
            raise
        return cropper.roi(volume) if cropper is not None else None
    if text == "phantom":
        from tqgd.baselines.roi import phantom_heart_crop

        box = phantom_heart_crop()(volume)
    else:
        from tqgd.baselines.roi import parse_roi

        box = parse_roi(text)
        if isinstance(box, str):
            raise ConfigError(f"--roi must be auto, phantom or x0,y0,x1,y1, got {spec!r}")
    return HeartROI(xyxy=tuple(int(v) for v in box), slices_run=[], slices_found=[], slices_kept=[],
                    median_box=tuple(float(v) for v in box), margin_px=(0, 0))


def _reference_boxes(source: Path, z: int, crop) -> list | None:
    """Reference calcium boxes on slice ``z`` in crop pixels, for an OrCaScore-layout scan (``Images/<ID>CTI.mhd``
    with ``Reference standard/<ID>R.mhd``, as tqgd phantom writes); None when there is no reference."""
    if not source.name.endswith("CTI.mhd"):
        return None
    mask_path = source.parent.parent / "Reference standard" / source.name.replace("CTI.mhd", "R.mhd")
    if not mask_path.is_file():
        return None
    from tqgd.data.boxes import mask_to_boxes
    from tqgd.data.readers import read_ct

    labels = read_ct(mask_path).hu[z] > 0
    x0, y0, x1, y1 = crop
    return [(b.x0, b.y0, b.x1, b.y1) for b in mask_to_boxes(labels[y0:y1, x0:x1], connectivity=8)]


def _print_report(console, report) -> bool:
    from tqgd.explain.sanity import summary_lines

    for line in summary_lines(report):
        console.print(line)
    return bool(report.summary()["passed"])


def explain(
    paths: list[Path] = typer.Argument(..., exists=True, readable=True,
                                       help="SOURCE: scans (.dcm file or DICOM folder, .mhd, .nii.gz) or dataset "
                                            "images (.png made by tqgd convert). With --compare, the .pt files among "
                                            "them are the models and the rest the sources."),
    weights: Path = typer.Option(None, "--weights", exists=True, dir_okay=False,
                                 help="Calcium detector weights (tqgd train's best.pt / last.pt, or any ultralytics "
                                      "detector). With --compare: the first model."),
    method: str = typer.Option("gradcam++", "--method",
                               help="gradcam++ (the paper's), gradcam, eigencam, layercam or hirescam."),
    layer: str = typer.Option("neck", "--layer",
                              help="'neck' (the layers feeding the Detect head) or layer indices, e.g. 17,20,23."),
    conf: float = typer.Option(0.25, "--conf", min=0.0, max=0.999, help="Explain detections with this confidence "
                                                                        "or more (as tqgd detect keeps them)."),
    out: Path = typer.Option(Path("runs/explain"), "--out", "-o", file_okay=False, help="Output folder."),
    roi: str = typer.Option("auto", "--roi", help=ROI_HELP),
    heart_weights: Path = typer.Option(None, "--heart-weights", exists=True, dir_okay=False,
                                       help="Heart detector weights for --roi auto (default: recorded in --weights)."),
    verify: bool = typer.Option(True, "--verify/--no-verify",
                                help="Explain the boxes tqgd detect keeps after the lesion verifier, or every box the "
                                     "model itself keeps (--no-verify: more boxes, e.g. for --sanity on a small "
                                     "model)."),
    sanity: bool = typer.Option(False, "--sanity",
                                help="Also compute every map with the neck and head re-initialised (Adebayo et al., "
                                     "2018) and report rank correlations and energy shares inside the boxes; exit 1 "
                                     "if the trained maps do not beat the randomised ones."),
    seed: int = typer.Option(0, "--seed", help="Seed of the re-initialisation (--sanity)."),
    randomise: str = typer.Option("neck-head", "--randomise",
                                  help="--sanity: re-initialise the neck and head (neck-head, as the check is "
                                       "defined) or every layer (all)."),
    compare: bool = typer.Option(False, "--compare",
                                 help="Fig. 9 panel: several models' maps side by side, one row per slice."),
    names: str = typer.Option(None, "--names", help="Column titles for --compare, comma separated (default: run "
                                                    "folder names)."),
    rows: int = typer.Option(2, "--rows", min=1, help="--compare: slices per source (where most models detect)."),
    slices: str = typer.Option(None, "--slices", help="--compare: these slice indices instead, e.g. 30,41 for every "
                                                      "source or 30,41;52,60 (one group per source)."),
    per_detection: bool = typer.Option(True, "--per-detection/--per-slice",
                                       help="Also write one picture per detection (default), or only the per-slice "
                                            "sums."),
    device: str = typer.Option(None, "--device", help="cpu, 0, ... (default: cpu)."),
    trust_weights: bool = typer.Option(False, "--trust-weights",
                                       help="Load the weights with full pickle (only for files you trust)."),
) -> None:
    """Saliency maps (Grad-CAM++ by default) of each detection, on the slice in the model's own window.

    Scans are read, cropped and detected exactly as tqgd detect does; each detection's map comes from the chosen layers
    with the detection's class score as the target. Writes maps/slice_<z>.png (sum over the slice's detections),
    maps/slice_<z>_det<k>.png and explain.json per scan; --sanity adds maps_randomised/, sanity.json and sanity.csv;
    --compare writes compare.png (one column per model, one row per slice) and compare.json.

    Example: tqgd explain scans/patient01 --weights runs/train/exp/weights/best.pt --sanity --out explain/
    """
    from rich.console import Console

    from tqgd.errors import ConfigError

    console = Console()
    if compare:
        models = [p for p in paths if p.suffix == ".pt"]
        sources = [p for p in paths if p.suffix != ".pt"]
        if weights is not None:
            models.insert(0, weights)
        if len(models) < 1 or not sources:
            raise ConfigError("--compare needs model weights (.pt) and at least one source among the arguments, e.g. "
                              "tqgd explain --compare a.pt b.pt scan.mhd")
        _compare(console, models, sources, names, method, layer, conf, out, roi, heart_weights, rows, slices, device,
                 trust_weights or None, verify)
        return
    if weights is None:
        raise ConfigError("--weights is required (or --compare W1 W2 ... SOURCE)")
    if any(p.suffix == ".pt" for p in paths):
        raise ConfigError("a .pt file among the sources: give weights with --weights, or several with --compare")
    ok = _explain(console, weights, paths, method, layer, conf, out, roi, heart_weights, sanity, seed, randomise,
                  per_detection, device, trust_weights or None, verify)
    if not ok:
        raise typer.Exit(1)


def _explain(console, weights, sources, method, layer, conf, out, roi, heart_weights, sanity, seed, randomise,
             per_detection, device, trust, verify=True) -> bool:
    import time

    from tqgd.engine.detect import DetectOptions
    from tqgd.engine.detect_model import load_slice_detector
    from tqgd.explain.run import ExplainSettings, explain_dataset_image, explain_scan, make_explainers
    from tqgd.explain.sanity import SanityReport
    from tqgd.explain.scan import read_model_image
    from tqgd.io import check_writable

    check_writable(out)
    detector = load_slice_detector(weights, device=device, trust=trust)
    settings = ExplainSettings(method=method, layers=layer, per_detection=per_detection, sanity=sanity, seed=seed,
                               randomise=randomise)
    explainer, randomised = make_explainers(detector, settings, device)
    options = DetectOptions(conf=conf, verify=verify)
    total = SanityReport(settings={**explainer.describe(), "seed": seed, "randomised": randomise})
    several = len(sources) > 1
    used: set[str] = set()
    for source in sources:
        start = time.perf_counter()
        name, n = source.name.split(".")[0], 2
        while name in used:  # same-named scans of different sets (TRV1P1CTI.mhd twice): TRV1P1CTI_2
            name, n = f"{source.name.split('.')[0]}_{n}", n + 1
        used.add(name)
        target = out / name if several else out
        if source.suffix.lower() in IMAGE_SUFFIXES:
            item, report = explain_dataset_image(read_model_image(source), source.name, detector, conf, target,
                                                 settings, explainer, randomised)
            count = len(item.items)
        else:
            from tqgd.data.readers import read_ct

            volume = read_ct(source)
            heart = _roi(roi, volume, detector, heart_weights, device, trust)
            result, maps, report = explain_scan(volume, detector, heart, options, target, settings, explainer,
                                                randomised)
            count = sum(len(m.items) for m in maps)
        if report is not None:
            total.rows += report.rows
        console.print(f"{source.name}: {count} detection(s) explained with {method} in "
                      f"{time.perf_counter() - start:.1f} s; maps in {target}")
    if randomised is None:
        return True
    if several:
        from tqgd.explain.run import sanity_csv
        from tqgd.io import write_json, write_text

        write_json(out / "sanity.json", total.to_dict())
        write_text(out / "sanity.csv", sanity_csv(total))
    return _print_report(console, total)


def _compare(console, models, sources, names, method, layer, conf, out, roi, heart_weights, rows, slices, device,
             trust, verify=True) -> None:
    import cv2

    from tqgd.data.readers import read_ct
    from tqgd.engine.detect import DetectOptions, detect_volume
    from tqgd.engine.detect_model import load_slice_detector
    from tqgd.errors import ConfigError
    from tqgd.explain.cam import Explainer
    from tqgd.explain.render import PanelCell, overlay, panel
    from tqgd.explain.run import CompareModel, choose_slices, compare_cell, native_size
    from tqgd.explain.scan import model_image
    from tqgd.io import check_writable, write_bytes, write_json

    titles = [t.strip() for t in names.split(",")] if names else [
        (p.parent.parent.name if p.parent.name == "weights" else p.stem) for p in models]
    if len(titles) != len(models):
        raise ConfigError(f"--names gives {len(titles)} titles for {len(models)} models")
    wanted = None
    if slices:
        try:
            wanted = [[int(v) for v in group.split(",") if v.strip()] for group in slices.split(";")]
        except ValueError:
            raise ConfigError(f"--slices must be slice indices like 30,41 (or 30,41;52,60: one group per source), "
                              f"got {slices!r}") from None
        if len(wanted) not in (1, len(sources)):
            raise ConfigError(f"--slices gives {len(wanted)} groups for {len(sources)} sources; give one group for "
                              "all sources or one per source, separated by ';'")
    check_writable(out)
    columns = []
    for title, path in zip(titles, models, strict=True):
        detector = load_slice_detector(path, device=device, trust=trust)
        columns.append(CompareModel(title, detector, Explainer(detector.model, native_size(detector), method, layer,
                                                               device)))
    options = DetectOptions(conf=conf, verify=verify)
    grid, labels, record = [], [], []
    for number, source in enumerate(sources):
        volume = read_ct(source)
        results = []
        for column in columns:
            heart = _roi(roi, volume, column.detector, heart_weights, device, trust)
            results.append(detect_volume(volume, column.detector, heart, options))
        chosen = (wanted[number] if len(wanted) > 1 else wanted[0]) if wanted else choose_slices(results, rows)
        for z in chosen:
            if not 0 <= z < volume.shape[0]:
                raise ConfigError(f"--slices {z}: {source.name} has slices 0..{volume.shape[0] - 1}")
            first = columns[0]
            crop = tuple(int(v) for v in results[0].model["model_crop_xyxy"])
            truth = _reference_boxes(source, z, crop)
            plain = overlay(model_image(volume, first.detector, z, crop), None, truth or [],
                            first.detector.input_spec.context)
            cells = [PanelCell(plain, "slice" if truth is None else f"slice, {len(truth)} reference box(es)")]
            for column, result in zip(columns, results, strict=True):
                cells.append(compare_cell(volume, column, result, z, options))
            grid.append(cells)
            name = volume.meta.scan_id or source.name
            if source.parent.name == "Images":  # OrCaScore layout: the set's folder tells same-named scans apart
                name = f"{source.parent.parent.name}\n{name}"
            labels.append(f"{name}\nz={z}")
            record.append({"source": name.replace("\n", "/"), "slice_index": z,
                           "cells": [c.caption for c in cells[1:]]})
        console.print(f"{source.name}: slices {chosen}")
    picture = panel(["slice"] + titles, grid, labels)
    write_bytes(out / "compare.png", cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))[1].tobytes())
    write_json(out / "compare.json", {"method": method, "layers": layer, "conf": conf, "roi": roi,
                                      "models": [{"title": t, "weights": str(p)} for t, p in zip(titles, models)],
                                      "rows": record})
    console.print(f"Fig. 9 panel: {out / 'compare.png'}")


def register(app: typer.Typer) -> None:
    """Attach ``tqgd explain``."""
    app.command("explain")(explain)
