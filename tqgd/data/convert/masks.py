"""Generic image + mask pairs -> YOLO / COCO / VOC boxes: how any segmentation output becomes a detection dataset.

Inputs are one image and one mask file, or two folders paired by file stem (``case1.png`` with
``case1.png``, or with ``case1_mask.png`` given ``mask_suffix="_mask"``). 2D raster images (PNG, JPEG, TIFF,
BMP) are copied byte for byte; volumes (NIfTI, MetaImage) are windowed like OrCaScore scans and written as
one PNG per slice that has a box (plus ``negatives``). With one class name every non-zero mask value is
that class; with N names, label value v is class v - 1 and other values are an error.

Output (relative to OUT): ``images/``, ``labels/`` and ``dataset.yaml`` (yolo), ``voc/`` (voc),
``annotations/all.json`` (coco), ``manifest.csv`` and, last, ``convert.json``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tqgd.data.boxes import boxes_by_slice, mask_to_boxes
from tqgd.data.convert.dataset_yaml import write_convert_json, write_dataset_yaml
from tqgd.data.convert.manifest import MANIFEST_NAME, write_manifest
from tqgd.data.convert.mask_files import MASK_SUFFIXES, VOLUME_SUFFIXES, file_stem, file_suffix, read_mask
from tqgd.data.convert.output import prepare_output, remove_stale
from tqgd.data.convert.slices import choose_negatives, is_hard, lookalike_count, parse_negatives, slice_stem
from tqgd.data.convert.writer import FORMATS, DatasetWriter
from tqgd.data.formats.coco import write_coco
from tqgd.data.windowing import Windowing, apply_window, parse_window
from tqgd.errors import ConfigError, LabelError

RASTER_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
IMAGE_SUFFIXES = RASTER_IMAGE_SUFFIXES + VOLUME_SUFFIXES
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MaskConvertOptions:
    """Options: class ``names``; ``connectivity`` 4/8 (2D) or 6/26 (3D), None for 4 / 6; output ``formats``."""

    names: tuple[str, ...] = ("calcium",)
    connectivity: int | None = None
    min_area_px: int = 1
    formats: tuple[str, ...] = ("yolo",)
    window: str = "paper"
    negatives: str = "0"
    seed: int = 0
    mask_suffix: str = ""


@dataclass
class MaskConversionReport:
    """What the conversion wrote."""

    out: Path
    pairs: int = 0
    images: int = 0
    positive_images: int = 0
    boxes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def class_of_value_for(names: tuple[str, ...]) -> dict[int, int] | None:
    """None (binary: any non-zero is class 0) for one name; label v -> class v - 1 for several."""
    if not names:
        raise ConfigError("give at least one class name, e.g. --names calcium or --names LAD,LCX,RCA")
    return None if len(names) == 1 else {value: value - 1 for value in range(1, len(names) + 1)}


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and file_suffix(p) in suffixes and not p.name.startswith("."))


def _by_stem(paths: list[Path], suffix: str, folder: Path) -> dict[str, Path]:
    by_stem: dict[str, Path] = {}
    for path in paths:
        stem = file_stem(path)
        stem = stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem
        if stem in by_stem:
            raise LabelError(f"{by_stem[stem].name} and {path.name} have the same name stem {stem!r}, so pairing is "
                             "ambiguous; keep one file per stem", folder)
        by_stem[stem] = path
    return by_stem


def pair_files(images: Path, masks: Path, mask_suffix: str = "") -> list[tuple[Path, Path]]:
    """Image/mask pairs: two files, or two folders matched by stem (mask stem = image stem + ``mask_suffix``)."""
    images, masks = Path(images), Path(masks)
    if images.is_file() and masks.is_file():
        return [(images, masks)]
    if not (images.is_dir() and masks.is_dir()):
        raise ConfigError(f"give two files or two folders; got {images} ({'folder' if images.is_dir() else 'file'}) "
                          f"and {masks} ({'folder' if masks.is_dir() else 'file'})")
    image_by_stem = _by_stem(_files(images, IMAGE_SUFFIXES), "", images)
    mask_by_stem = _by_stem(_files(masks, MASK_SUFFIXES), mask_suffix, masks)
    lonely_images = sorted(set(image_by_stem) - set(mask_by_stem))
    lonely_masks = sorted(set(mask_by_stem) - set(image_by_stem))
    if lonely_images or lonely_masks:
        raise LabelError(f"images and masks do not pair up by name: images without a mask {lonely_images[:5]}, masks "
                         f"without an image {lonely_masks[:5]}; add the missing files or set the mask suffix", masks)
    if not image_by_stem:
        raise LabelError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found", images)
    return [(image_by_stem[s], mask_by_stem[s]) for s in sorted(image_by_stem)]


def _raster_size(data: bytes, path: Path) -> tuple[int, int, int]:
    import cv2

    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if decoded is None:
        raise LabelError("not a readable image (empty, truncated or not PNG/JPEG/TIFF/BMP)", path)
    return decoded.shape[1], decoded.shape[0], 1 if decoded.ndim == 2 else decoded.shape[2]


def _convert_pair(image: Path, mask_path: Path, rel: tuple[str, str], writer: DatasetWriter,
                  options: MaskConvertOptions, windowing: Windowing, ratio: float | None) -> tuple[int, int, int]:
    """Write one pair; returns (images, positive images, boxes)."""
    mask = read_mask(mask_path)
    class_of_value = class_of_value_for(options.names)
    stem = file_stem(image)
    if file_suffix(image) in RASTER_IMAGE_SUFFIXES:
        data = image.read_bytes()
        width, height, depth = _raster_size(data, image)
        if mask.shape != (height, width):
            raise LabelError(f"mask shape {mask.shape} does not match its image {image.name} ({height}, {width}); "
                             "expected a 2D mask of the same size", mask_path)
        boxes = mask_to_boxes(mask, options.connectivity, options.min_area_px, class_of_value, source=mask_path)
        writer.add_image(stem, file_suffix(image), data, width, height, depth, boxes, patient=stem,
                         source=rel[0], mask=rel[1])
        return 1, int(bool(boxes)), len(boxes)
    from tqgd.data.readers import read_ct

    volume = read_ct(image)
    mask = mask[None] if mask.ndim == 2 else mask
    if mask.shape != volume.shape:
        raise LabelError(f"mask shape {mask.shape} does not match its image {image.name} {volume.shape} (z, y, x)",
                         mask_path)
    connectivity = options.connectivity if options.connectivity not in (4, 8) else {4: 6, 8: 26}[options.connectivity]
    by_slice = boxes_by_slice(mask_to_boxes(mask, connectivity, options.min_area_px, class_of_value, source=mask_path))
    hardness = (lambda z: lookalike_count(volume.hu[z])) if is_hard(options.negatives) else None
    negatives = choose_negatives([z for z in range(volume.shape[0]) if z not in by_slice], len(by_slice), ratio,
                                 options.seed, stem, hardness)
    selected = sorted([*by_slice, *negatives])
    pixels = apply_window(volume.hu[selected], windowing)
    for i, z in enumerate(selected):
        writer.add_pixels(slice_stem(stem, z, volume.shape[0]), pixels[i], by_slice.get(z, []), patient=stem,
                          slice_index=z, source=rel[0], mask=rel[1])
    return len(selected), len(by_slice), sum(len(b) for b in by_slice.values())


def convert_masks(images: str | Path, masks: str | Path, out: str | Path,
                  options: MaskConvertOptions = MaskConvertOptions(), progress: ProgressFn | None = None
                  ) -> MaskConversionReport:
    """Convert image + mask pairs to boxes in ``out`` (layout in the module docstring).

    A 4/8 connectivity given for volumes means its 3D counterpart 6/26 (same in-plane neighbourhood).
    """
    start = time.perf_counter()
    unknown = sorted(set(options.formats) - set(FORMATS))
    if unknown or not options.formats:
        raise ConfigError(f"formats must be some of {FORMATS}, got {list(options.formats)}")
    windowing, ratio = parse_window(options.window), parse_negatives(options.negatives)
    class_of_value_for(options.names)
    pairs = pair_files(Path(images), Path(masks), options.mask_suffix)
    out = prepare_output(out, [images, masks])
    names = dict(enumerate(options.names))
    writer = DatasetWriter(out, names, options.formats, description="tqgd boxes from segmentation masks")
    report = MaskConversionReport(out=out, pairs=len(pairs))
    roots = [Path(images) if Path(images).is_dir() else Path(images).parent,
             Path(masks) if Path(masks).is_dir() else Path(masks).parent]
    for number, (image, mask) in enumerate(pairs, start=1):
        rel = (os.path.relpath(image, roots[0]), os.path.relpath(mask, roots[1]))
        written, positive, boxes = _convert_pair(image, mask, rel, writer, options, windowing, ratio)
        report.images, report.positive_images, report.boxes = (report.images + written,
                                                               report.positive_images + positive, report.boxes + boxes)
        if progress:
            progress(file_stem(image), number, len(pairs))
    keep = set(writer.written) | {out / MANIFEST_NAME, out / "convert.json"}
    if "yolo" in writer.formats:
        keep.add(out / "dataset.yaml")
    if "coco" in writer.formats:
        keep.add(write_coco(out / "annotations" / "all.json", writer.coco.subset()))
    remove_stale(out, keep)
    write_manifest(out / MANIFEST_NAME, writer.rows)
    if "yolo" in writer.formats:
        write_dataset_yaml(out / "dataset.yaml", out, "images", "images", names,
                           "Boxes from segmentation masks (tqgd convert masks). No train/validation split:\n"
                           "train and val both list every image; use it to evaluate, or split it first.")
    write_convert_json(out, {"command": "tqgd convert masks", "images": str(Path(images).resolve()),
                             "masks": str(Path(masks).resolve()), "names": names, "formats": list(writer.formats),
                             "connectivity": options.connectivity, "min_area_px": options.min_area_px,
                             "window": windowing.to_json(), "negatives": options.negatives, "seed": options.seed,
                             "counts": {"pairs": report.pairs, "images": report.images,
                                        "positive_images": report.positive_images, "boxes": report.boxes}})
    report.seconds = {**writer.seconds, "total": time.perf_counter() - start}
    return report
