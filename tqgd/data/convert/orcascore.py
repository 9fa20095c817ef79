"""OrCaScore-layout folder (real or phantom) -> ultralytics dataset with YOLO, COCO and VOC annotations.

Layout of OUT (every path below is relative to OUT):

    images/<ID>_z012.png         one slice, HU windowed to 8 bits (grey, or RGB for 3-window or 2.5D specs)
    labels/<ID>_z012.txt         YOLO boxes, normalised to the (cropped) image
    masks/<ID>_z012.png          (with ``masks=True``) the reference labels of that slice, cropped like the image
    voc/<ID>_z012.xml            the same boxes as Pascal VOC
    annotations/all.json         COCO for every image; fold<i>_train.json / fold<i>_val.json per split
    folds/fold<i>_{train,val}.txt  ultralytics image lists, patient-grouped (no patient in two splits)
    fold<i>.yaml, orcascore.yaml ultralytics dataset YAMLs (orcascore.yaml = fold 0, the paper's 4:1 split)
    manifest.csv                 image -> patient, slice_index, crop offset, COCO image id (see manifest.py)
    convert.json                 the options used (window, classes, negatives, folds, seed, source); last

Boxes come from ``tqgd.data.boxes`` (3D lesions, one box per 2D piece of a lesion on a slice). Every slice
with a box becomes an image, plus negatives as asked (``slices.py``). A crop hook (e.g. the heart
detector) may return one (x0, y0, x1, y1) ROI per scan: images are cut to it, boxes are clipped to it and
given relative to it, and the offset goes into the manifest. With ``crop_size`` the cut is a fixed square at native
pixel size around that ROI, and with ``context=3`` each image holds slices z-1, z, z+1 (``tqgd.data.model_input``, the
same code ``tqgd detect`` uses). The per-image files are written first and the
manifest, YAMLs and ``convert.json`` last, so a killed run re-run ends identical to an uninterrupted one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqgd.data.boxes import Box, boxes_by_slice, mask_to_boxes, structure_for
from tqgd.data.convert.dataset_yaml import write_convert_json, write_dataset_yaml, write_fold_list
from tqgd.data.convert.manifest import MANIFEST_NAME, write_manifest
from tqgd.data.convert.mask_files import read_mask
from tqgd.data.convert.output import prepare_output, remove_stale
from tqgd.data.convert.slices import choose_negatives, is_hard, lookalike_count, parse_negatives, slice_stem
from tqgd.data.convert.writer import MASKS_DIR, DatasetWriter
from tqgd.data.folds import make_patient_folds, validation_fold_of
from tqgd.data.model_input import InputSpec, auto_crop_size, crop_box, slice_images
from tqgd.data.formats.coco import write_coco
from tqgd.data.orcascore import REFERENCE_LABELS, OrcaCase, discover_cases
from tqgd.data.volume import CTVolume
from tqgd.data.windowing import parse_window
from tqgd.errors import ConfigError, DatasetError, LabelError

#: Given a scan, the region to keep as pixel edges (x0, y0, x1, y1), or None for the whole slice.
CropHook = Callable[[CTVolume], "tuple[int, int, int, int] | None"]
#: Called as progress(case_id, slices_done, slices_total) when a case starts (0) and after each slice.
ProgressFn = Callable[[str, int, int], None]

#: ``--classes``: label value -> class id, and class id -> name. Every reference label (1 LAD, 2 LCX, 3 RCA,
#: 4 undetermined artery) is calcium in ``single``; ``artery`` keeps them apart as LAD 0, LCX 1, RCA 2, undetermined 3
#: (the ids of the three arteries are those of datasets made before label 4 was accepted). Other values are refused.
CLASS_SCHEMES: dict[str, tuple[dict[int, int], dict[int, str]]] = {
    "single": ({value: 0 for value in REFERENCE_LABELS}, {0: "calcium"}),
    "artery": ({value: i for i, value in enumerate(sorted(REFERENCE_LABELS))},
               {i: REFERENCE_LABELS[value] for i, value in enumerate(sorted(REFERENCE_LABELS))}),
}


@dataclass(frozen=True)
class OrcaConvertOptions:
    """Conversion options; ``negatives`` is '0', a ratio like '0.5', or 'all' (see ``slices.py``).

    ``masks`` also writes each image's reference label slice (0 background, 1 LAD, 2 LCX, 3 RCA) as
    ``masks/<stem>.png``, cropped exactly like the image, for segmentation baselines and mask metrics.
    ``context`` 3 makes 2.5D images (slices z-1, z, z+1 as channels, one window; ``context_step`` k takes z-k, z,
    z+k instead); ``crop_size`` cuts a fixed square of that many native pixels around the ROI, ``"auto"`` the
    largest ROI of the dataset rounded up to 32 px.
    """

    window: str = "paper"
    classes: str = "single"
    folds: int = 5
    seed: int = 0
    negatives: str = "0"
    connectivity: int = 6
    min_area_px: int = 1
    masks: bool = False
    context: int = 1
    crop_size: int | str | None = None
    context_step: int = 1


@dataclass
class ConversionReport:
    """What a conversion wrote, and where its time went (seconds per stage)."""

    out: Path
    patients: int = 0
    source_slices: int = 0
    images: int = 0
    positive_images: int = 0
    boxes: int = 0
    lesions: int = 0
    boxes_outside_crop: int = 0
    patients_without_images: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def slices_per_second(self) -> float:
        """Source slices converted (read, boxed, and written when selected) per second of total time."""
        total = self.seconds.get("total", 0.0)
        return self.source_slices / total if total > 0 else 0.0


def _crop_roi(crop: CropHook | None, volume: CTVolume, case_id: str) -> tuple[int, int, int, int]:
    _, height, width = volume.shape
    roi = crop(volume) if crop is not None else None
    if roi is None:
        return 0, 0, width, height
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in roi)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"case {case_id}: the crop hook must return (x0, y0, x1, y1) or None, got {roi!r}") from exc
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ConfigError(f"case {case_id}: crop ROI {(x0, y0, x1, y1)} is not inside the {width} x {height} slice")
    return x0, y0, x1, y1


def _input_spec(options: OrcaConvertOptions, rois: dict[str, tuple[int, int, int, int]]) -> InputSpec:
    """The model input of this conversion; ``rois`` (every case's ROI) sizes an ``auto`` crop."""
    crop = options.crop_size
    if isinstance(crop, str):
        if crop.strip().lower() != "auto":
            try:
                crop = int(crop)
            except ValueError as exc:
                raise ConfigError(f"crop size must be a whole number of pixels or 'auto', got {crop!r}") from exc
        else:
            crop = auto_crop_size(list(rois.values()))
    return InputSpec(parse_window(options.window), context=options.context, crop_size=crop,
                     context_step=options.context_step)


def _case_rois(cases: list[OrcaCase], crop: CropHook | None) -> dict[str, tuple[int, int, int, int]]:
    """Every case's ROI (read once, before any image is written), for sizing an ``auto`` crop."""
    from tqgd.data.readers import read_ct

    return {case.case_id: _crop_roi(crop, read_ct(case.image), case.case_id) for case in cases}


def _read_case(case: OrcaCase) -> tuple[CTVolume, object]:
    from tqgd.data.readers import read_ct

    volume = read_ct(case.image)
    labels = read_mask(case.reference)
    if labels.shape != volume.shape:
        raise LabelError(f"label volume has shape {labels.shape} (z, y, x) but its image {case.image.name} has "
                         f"{volume.shape}; the reference standard must match its scan voxel for voxel", case.reference)
    return volume, labels


def _convert_case(case: OrcaCase, src: Path, writer: DatasetWriter, options: OrcaConvertOptions,
                  spec: InputSpec, negative_ratio: float | None, crop: CropHook | None,
                  report: ConversionReport, progress: ProgressFn | None,
                  roi: tuple[int, int, int, int] | None = None) -> int:
    """Write one patient's slices; returns its number of positive (boxed) images."""
    seconds = report.seconds
    start = time.perf_counter()
    volume, labels = _read_case(case)
    seconds["read"] += time.perf_counter() - start
    start = time.perf_counter()
    class_of_value, _ = CLASS_SCHEMES[options.classes]
    boxes = mask_to_boxes(labels, options.connectivity, options.min_area_px, class_of_value, source=case.reference)
    roi = roi or _crop_roi(crop, volume, case.case_id)
    x0, y0, x1, y1 = crop_box(roi, volume.shape[1:], spec.crop_size)
    kept: list[Box] = [b for b in (box.in_crop(x0, y0, x1, y1) for box in boxes) if b is not None]
    report.boxes_outside_crop += len(boxes) - len(kept)
    by_slice = boxes_by_slice(kept)
    hardness = (lambda z: lookalike_count(volume.hu[z, max(y0, 0):y1, max(x0, 0):x1])) if is_hard(options.negatives) else None
    negatives = choose_negatives([z for z in range(volume.shape[0]) if z not in by_slice], len(by_slice),
                                 negative_ratio, options.seed, case.case_id, hardness)
    selected = sorted([*by_slice, *negatives])
    seconds["boxes"] += time.perf_counter() - start
    start = time.perf_counter()
    pixels = slice_images(volume.hu, selected, (x0, y0, x1, y1), spec)
    seconds["window"] += time.perf_counter() - start
    if progress:
        progress(case.case_id, 0, len(selected))
    source, mask = os.path.relpath(case.image, src), os.path.relpath(case.reference, src)
    for i, z in enumerate(selected):
        stem = slice_stem(case.case_id, z, volume.shape[0])
        writer.add_pixels(stem, pixels[i], by_slice.get(z, []), patient=case.case_id, slice_index=z, crop_xy=(x0, y0),
                          source=source, mask=mask)
        if options.masks:
            writer.add_mask(stem, _mask_crop(labels[z], (x0, y0, x1, y1)))
        if progress:
            progress(case.case_id, i + 1, len(selected))
    report.source_slices += volume.shape[0]
    report.images += len(selected)
    report.positive_images += len(by_slice)
    report.boxes += len(kept)
    report.lesions += len({b.lesion_id for b in kept})
    return len(by_slice)


def _mask_crop(labels: object, box: tuple[int, int, int, int]):
    """Reference labels of one slice cut like its image (zeros where the box reaches past the slice)."""
    import numpy as np

    x0, y0, x1, y1 = box
    region = labels[y0:y1, x0:x1]
    out = np.zeros((y1 - y0, x1 - x0), dtype=region.dtype)
    out[:region.shape[0], :region.shape[1]] = region
    return out


def _check_options(options: OrcaConvertOptions, n_cases: int) -> None:
    if options.classes not in CLASS_SCHEMES:
        raise ConfigError(f"classes must be one of {sorted(CLASS_SCHEMES)}, got {options.classes!r}")
    if not 2 <= options.folds <= n_cases:
        raise ConfigError(f"--folds must be between 2 and the number of patients ({n_cases}), got {options.folds}")
    structure_for(options.connectivity, 3)  # 6 or 26, checked before anything is written
    InputSpec(parse_window(options.window), context=options.context,  # 2.5D needs one window
              context_step=options.context_step)
    if not (isinstance(options.crop_size, str) and options.crop_size.strip().lower() == "auto"):
        _input_spec(options, {})
    if options.min_area_px < 1:
        raise ConfigError(f"minimum area must be at least 1 pixel, got {options.min_area_px}")


def convert_orcascore(src: str | Path, out: str | Path, options: OrcaConvertOptions = OrcaConvertOptions(),
                      crop: CropHook | None = None, progress: ProgressFn | None = None) -> ConversionReport:
    """Convert the OrCaScore-layout folder ``src`` into a dataset in ``out`` (layout in the module docstring).

    Raises:
        DatasetError / LabelError / ScanReadError: bad input, naming the file.
        ConfigError: bad options. OutputError: ``out`` is unsafe (inside ``src``, not ours) or not writable.
    """
    total_start = time.perf_counter()
    src = Path(src).resolve()
    parse_window(options.window)  # a bad window fails before anything is read
    negative_ratio = parse_negatives(options.negatives)
    cases = discover_cases(src)
    _check_options(options, len(cases))
    out = prepare_output(out, [src])
    _, names = CLASS_SCHEMES[options.classes]
    writer = DatasetWriter(out, names, description=f"OrCaScore-layout calcium dataset from {src.name}")
    report = ConversionReport(out=out, patients=len(cases),
                              seconds={"read": 0.0, "boxes": 0.0, "window": 0.0, "encode": 0.0, "write": 0.0})
    auto = isinstance(options.crop_size, str) and options.crop_size.strip().lower() == "auto"
    rois = _case_rois(cases, crop) if auto else {}
    spec = _input_spec(options, rois)
    positives = {case.case_id: _convert_case(case, src, writer, options, spec, negative_ratio, crop, report,
                                             progress, rois.get(case.case_id)) for case in cases}
    with_images = {row.patient for row in writer.rows}
    report.patients_without_images = sorted(set(positives) - with_images)
    if len(with_images) < options.folds:
        raise DatasetError(f"only {len(with_images)} patients have images to use, too few for {options.folds} folds; "
                           "use fewer --folds or include negative slices (--negatives)", src)
    start = time.perf_counter()
    folds = make_patient_folds({p: positives[p] for p in sorted(with_images)}, options.folds, options.seed)
    _write_dataset_files(out, src, writer, folds, options, spec, report, crop)
    report.seconds["encode"] += writer.seconds["encode"]
    report.seconds["write"] += writer.seconds["write"] + time.perf_counter() - start
    report.seconds["total"] = time.perf_counter() - total_start
    return report


def _crop_record(crop: CropHook | None) -> dict | str | None:
    """What convert.json records of the crop hook: its own ``to_json()`` (the heart cropper: weights and settings,
    so detection repeats the crop), else its name; None without one."""
    if crop is None:
        return None
    to_json = getattr(crop, "to_json", None)
    return to_json() if callable(to_json) else getattr(crop, "__name__", type(crop).__name__)


def _write_dataset_files(out: Path, src: Path, writer: DatasetWriter, folds, options: OrcaConvertOptions,
                         spec: InputSpec, report: ConversionReport, crop: CropHook | None) -> None:
    """COCO files and fold lists, then (after clearing leftovers) manifest, YAMLs and convert.json."""
    val_fold = validation_fold_of(folds)
    for row in writer.rows:
        row.val_fold = val_fold[row.patient]
    keep = set(writer.written)
    keep.add(write_coco(out / "annotations" / "all.json", writer.coco.subset()))
    for fold in folds:
        for split, patients in (("train", set(fold.train)), ("val", set(fold.val))):
            rows = [r for r in writer.rows if r.patient in patients]
            name = f"fold{fold.index}_{split}"
            coco = writer.coco.subset(r.coco_image_id for r in rows)
            keep.add(write_coco(out / "annotations" / f"{name}.json", coco))
            keep.add(write_fold_list(out, name, [r.image for r in rows]))
    yamls = [out / f"fold{fold.index}.yaml" for fold in folds] + [out / "orcascore.yaml"]
    keep |= {out / MANIFEST_NAME, out / "convert.json", *yamls}
    remove_stale(out, keep)
    write_manifest(out / MANIFEST_NAME, writer.rows)
    names = writer.names
    targets = [(out / f"fold{fold.index}.yaml", fold) for fold in folds] + [(out / "orcascore.yaml", folds[0])]
    for target, fold in targets:
        comment = (f"OrCaScore calcium dataset from {src.name}, fold {fold.index} of {len(folds)} (patient-grouped).\n"
                   f"Validation patients: {', '.join(fold.val)}")
        if target.name == "orcascore.yaml":
            comment += "\nSame split as fold0.yaml (with 5 folds: the paper's 4:1 train/validation split)."
        write_dataset_yaml(target, out, f"folds/fold{fold.index}_train.txt", f"folds/fold{fold.index}_val.txt",
                           names, comment)
    write_convert_json(out, {
        "command": "tqgd convert orcascore", "source": str(src), "window": spec.windowing.to_json(),
        "input": spec.to_json(),
        "classes": options.classes, "names": names, "negatives": options.negatives, "folds": options.folds,
        "seed": options.seed, "connectivity": options.connectivity, "min_area_px": options.min_area_px,
        **({"masks": MASKS_DIR} if options.masks else {}),
        "crop": _crop_record(crop),
        "fold_patients": [asdict(fold) for fold in folds],
        "counts": {"patients": report.patients, "source_slices": report.source_slices, "images": report.images,
                   "positive_images": report.positive_images,
                   "boxes": report.boxes, "lesions": report.lesions, "boxes_outside_crop": report.boxes_outside_crop,
                   "patients_without_images": report.patients_without_images},
    })
