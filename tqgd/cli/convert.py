"""``tqgd convert``: make detection datasets from segmentation labels (OrCaScore folders, image + mask pairs)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

convert_app = typer.Typer(help="Make detection datasets (YOLO / COCO / VOC) from segmentation labels.",
                          no_args_is_help=True)


class ClassScheme(str, Enum):
    """Box classes: one ``calcium`` class, or the artery (LAD, LCX, RCA, undetermined) from the label value."""

    single = "single"
    artery = "artery"


class OutputFormat(str, Enum):
    """Box annotation formats the mask converter can write."""

    yolo = "yolo"
    coco = "coco"
    voc = "voc"


class _Progress:
    """Rich progress bars: one over patients (or pairs), one over the current patient's slices."""

    def __init__(self, total: int, unit: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self.outer = self.bars.add_task(unit, total=total)
        self.inner = self.bars.add_task("slices", total=1, visible=False)
        self.current: str | None = None

    def case(self, name: str, done: int, total: int) -> None:
        """Per-slice callback for the OrCaScore converter."""
        if name != self.current:
            self.current = name
            self.bars.reset(self.inner, total=max(total, 1), visible=True, description=f"  {name} slices")
        self.bars.update(self.inner, completed=done, total=max(total, 1))
        if done == total:
            self.bars.advance(self.outer)

    def pair(self, name: str, done: int, total: int) -> None:
        """Per-pair callback for the mask converter."""
        self.bars.update(self.outer, completed=done, description=f"pairs ({name})")


def orcascore(
    src: Path = typer.Argument(..., exists=True, file_okay=False, readable=True,
                               help="OrCaScore-layout folder (Images/, Reference standard/), real or phantom."),
    out: Path = typer.Argument(..., help="New or empty folder for the dataset (never inside SRC)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Patient-grouped folds; fold 0 is orcascore.yaml (5 = 4:1)."),
    window: str = typer.Option("paper", "--window",
                               help="HU window: paper (-1200..1800), mediastinum, calcium, rgb (3 windows), "
                                    "LOW,HIGH or A+B+C. Write negative values as --window=-1000,1000."),
    classes: ClassScheme = typer.Option(ClassScheme.single, "--classes",
                                        help="single: calcium; artery: LAD/LCX/RCA/undetermined (label 4)."),
    negatives: str = typer.Option("0", "--negatives",
                                  help="Slices without calcium per patient: 0 (paper), a ratio to positive slices "
                                       "such as 0.5, or all; hard:0.5 takes the slices with the most "
                                       "unlabelled >= 130 HU regions in the ROI."),
    seed: int = typer.Option(0, "--seed", help="Seed for fold assignment and negative sampling."),
    connectivity: int = typer.Option(6, "--connectivity", help="Lesion connectivity in 3D: 6 (OrCaScore) or 26."),
    min_area: int = typer.Option(1, "--min-area", min=1, help="Drop per-slice lesion pieces smaller than this (px)."),
    write_masks: bool = typer.Option(False, "--masks",
                                     help="Also write each image's reference labels as masks/<stem>.png (cropped like "
                                          "the image), for segmentation baselines."),
    context: int = typer.Option(1, "--context",
                                help="Slices per image: 1, or 3 for 2.5D (slices z-1, z, z+1 as the three channels; "
                                     "needs a one-window --window such as calcium)."),
    context_step: int = typer.Option(1, "--context-step", min=1,
                                     help="With --context 3: slices z-K, z, z+K instead of adjacent ones (a wider "
                                          "look along z; recorded in the weights and used by tqgd detect)."),
    crop_size: str = typer.Option(None, "--crop-size",
                                  help="Cut a fixed square of N native pixels around each scan's ROI (multiple of 32) "
                                       "instead of the ROI itself; 'auto' = the largest ROI rounded up to 32. Train "
                                       "with --imgsz N (tqgd train reads it from the dataset)."),
    heart_weights: Path = typer.Option(None, "--heart-weights", exists=True, dir_okay=False,
                                       help="Heart detector weights (tqgd heart train): crop every scan to its heart "
                                            "ROI as tqgd detect does, and record the crop for detection."),
    trust_weights: bool = typer.Option(False, "--trust-weights",
                                       help="Load --heart-weights with full pickle (only for files you trust)."),
) -> None:
    """Convert an OrCaScore-layout folder into an ultralytics dataset with YOLO, COCO and VOC boxes.

    Writes per-slice PNGs, labels, patient-grouped folds (fold<i>.yaml, orcascore.yaml), COCO JSON per split,
    Pascal VOC XML, manifest.csv (image -> patient, slice, crop) and convert.json (options, for later stages).

    With --heart-weights every slice of a scan is cut to one heart ROI (tqgd.engine.heart_crop), the same crop
    tqgd detect applies with the weights trained on this dataset.

    Example: tqgd convert orcascore data/orcascore datasets/orca --folds 5 --classes artery
    """
    from rich.console import Console

    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.orcascore import discover_cases

    options = OrcaConvertOptions(window=window, classes=classes.value, folds=folds, seed=seed, negatives=negatives,
                                 connectivity=connectivity, min_area_px=min_area, masks=write_masks,
                                 context=context, crop_size=crop_size, context_step=context_step)
    crop = None
    if heart_weights is not None:
        from tqgd.engine.heart_crop import HeartCropper

        crop = HeartCropper(heart_weights, trust=trust_weights or None)
    progress = _Progress(len(discover_cases(src)), "patients")
    with progress.bars:
        report = convert_orcascore(src, out, options, crop=crop, progress=progress.case)
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in report.seconds.items() if k != "total")
    Console().print(f"Wrote {report.images} images ({report.positive_images} with calcium, {report.boxes} boxes from "
                    f"{report.lesions} lesions) of {report.patients} patients to {report.out} in "
                    f"{report.seconds['total']:.1f} s ({report.source_slices} source slices, "
                    f"{report.slices_per_second:.1f} slices/s; {stages}).")
    if report.patients_without_images:
        Console().print(f"No images for patients without calcium: {', '.join(report.patients_without_images)} "
                        "(use --negatives to include their slices).")


def masks(
    images: Path = typer.Argument(..., exists=True, readable=True, help="An image file, or a folder of images."),
    mask_path: Path = typer.Argument(..., exists=True, readable=True, metavar="MASKS",
                                     help="The matching mask file, or a folder of masks with the same stems."),
    out: Path = typer.Argument(..., help="New or empty output folder."),
    output_format: list[OutputFormat] = typer.Option(["yolo"], "--format", help="Repeat for several formats."),
    names: str = typer.Option("calcium", "--names",
                              help="Comma-separated class names; one name = binary mask, N names = labels 1..N."),
    connectivity: int | None = typer.Option(None, "--connectivity",
                                            help="4 or 8 (2D), 6 or 26 (3D); default 4 / 6."),
    min_area: int = typer.Option(1, "--min-area", min=1, help="Drop mask pieces smaller than this (pixels)."),
    window: str = typer.Option("paper", "--window", help="HU window for volume images (see tqgd convert orcascore)."),
    negatives: str = typer.Option("0", "--negatives", help="Volumes: slices without boxes, 0, a ratio, all, or "
                                                                 "hard:<ratio> (most >= 130 HU regions first)."),
    seed: int = typer.Option(0, "--seed", help="Seed for negative sampling."),
    mask_suffix: str = typer.Option("", "--mask-suffix", help="Suffix of mask stems, e.g. _mask for a_mask.png."),
) -> None:
    """Turn image + mask pairs (PNG, NIfTI or MetaImage, 2D or 3D) into YOLO, COCO or VOC boxes.

    Example: tqgd convert masks scans/ masks/ boxes/ --format yolo --format coco --names calcium
    """
    from rich.console import Console

    from tqgd.data.convert.masks import MaskConvertOptions, convert_masks, pair_files

    options = MaskConvertOptions(names=tuple(n.strip() for n in names.split(",") if n.strip()),
                                 connectivity=connectivity, min_area_px=min_area,
                                 formats=tuple(dict.fromkeys(f.value for f in output_format)), window=window,
                                 negatives=negatives, seed=seed, mask_suffix=mask_suffix)
    progress = _Progress(len(pair_files(images, mask_path, mask_suffix)), "pairs")
    with progress.bars:
        report = convert_masks(images, mask_path, out, options, progress=progress.pair)
    Console().print(f"Wrote {report.images} images ({report.positive_images} with boxes, {report.boxes} boxes) from "
                    f"{report.pairs} pairs to {report.out} as {', '.join(options.formats)}.")


convert_app.command("orcascore")(orcascore)
convert_app.command("masks")(masks)


def register(app: typer.Typer) -> None:
    """Attach ``tqgd convert orcascore`` and ``tqgd convert masks`` (once, however often it is called)."""
    if not any(group.typer_instance is convert_app for group in app.registered_groups):
        app.add_typer(convert_app, name="convert")
