"""The classical baseline: 130 HU threshold + connected components inside the heart ROI, scored like a detector.

For every image of the split the source scan named in ``manifest.csv`` is read (HU, through ``read_ct``), its slice
``slice_index`` is cut to the image's crop, and pixels strictly above 130 HU (OrCaScore's reference rule) inside the
heart ROI (``roi.RoiSource``) form the mask; each 4-connected component becomes a box. A box's confidence ranks it by
density: the peak of ``min(1, (HU - 130) / 1000)`` over its pixels (Agatston also weights lesions by peak HU), so
mAP sees a ranking rather than a tie. Lung removal (``preprocess.remove_lungs``) and the geometric prior
(``postprocess``) are options. Whatever survives is what a learned model has to remove: aortic and valve calcium,
bone, noise spikes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tqgd.baselines.dataset import DatasetSplit, SplitImage, load_split
from tqgd.baselines.mask_eval import BaselineResult, MaskToBoxOptions, ProgressFn, _artery_masks, score_maps
from tqgd.baselines.roi import RoiSource
from tqgd.errors import ConfigError, DatasetError

#: OrCaScore's calcium threshold (a calcium pixel is strictly above it).
CALCIUM_THRESHOLD_HU = 130.0
#: HU above the threshold at which the confidence reaches 1.
CONFIDENCE_SPAN_HU = 1000.0


@dataclass(frozen=True)
class ThresholdOptions:
    """``roi``: auto, none or x0,y0,x1,y1 (see ``roi.py``); ``remove_lungs`` before thresholding."""

    threshold_hu: float = CALCIUM_THRESHOLD_HU
    roi: str = "auto"
    remove_lungs: bool = False
    connectivity: int = 4
    min_area_px: int = 1

    def __post_init__(self) -> None:
        if not np.isfinite(self.threshold_hu):
            raise ConfigError(f"threshold must be a finite HU value, got {self.threshold_hu}")


def _by_patient(images: Iterable[SplitImage]) -> list[SplitImage]:
    return sorted(images, key=lambda i: (i.row.patient if i.row else "", i.row.slice_index if i.row else 0, i.stem))


def threshold_maps(split: DatasetSplit, options: ThresholdOptions,
                   progress: ProgressFn | None = None) -> Iterator[tuple[SplitImage, np.ndarray, np.ndarray]]:
    """``(image, mask, confidence map)`` per image, in the image's pixels (see the module docstring)."""
    from tqgd.baselines.preprocess import remove_lungs
    from tqgd.data.readers import read_ct

    rois = RoiSource(split, options.roi)
    images = _by_patient(split.images)
    loaded: tuple[Path, object] | None = None
    for done, image in enumerate(images, start=1):
        source = split.source_of(image)
        if loaded is None or loaded[0] != source:
            loaded = (source, read_ct(source))
            if not loaded[1].meta.has_hu:
                raise DatasetError("this source image holds grey values, not Hounsfield units, so a 130 HU threshold "
                                   "means nothing; the threshold baseline needs CT volumes (MetaImage, NIfTI, DICOM)",
                                   source)
        volume = loaded[1]
        row = image.row
        hu = volume.hu[row.slice_index]
        if options.remove_lungs:
            hu = remove_lungs(hu, volume.spacing_mm[1:])
        hu = hu[row.crop_y0:row.crop_y0 + image.height, row.crop_x0:row.crop_x0 + image.width]
        if hu.shape != (image.height, image.width):
            raise ConfigError(f"image {image.stem} is {image.width} x {image.height} px at offset "
                              f"({row.crop_x0}, {row.crop_y0}) but its source slice is only {volume.shape[2]} x "
                              f"{volume.shape[1]}; the manifest does not belong to this scan", source)
        mask = (hu > options.threshold_hu) & rois.for_image(image)
        confidence = np.clip((hu - options.threshold_hu) / CONFIDENCE_SPAN_HU, 0.0, 1.0)
        yield image, mask, confidence
        if progress:
            progress(done, len(images))


def run_threshold_baseline(data: str | Path, split: str = "val", options: ThresholdOptions = ThresholdOptions(),
                           arteries: str | Path | None = None, artery_radius_mm: float | None = None,
                           masks_out: str | Path | None = None, progress: ProgressFn | None = None) -> BaselineResult:
    """Run and score the threshold baseline on ``split`` of ``data``; ``masks_out`` also saves each mask as PNG.

    Raises:
        DatasetError: the dataset lacks a manifest or its source scans. ConfigError: bad options.
    """
    loaded = load_split(data, split)
    box_options = MaskToBoxOptions(threshold=1.0, confidence="max", connectivity=options.connectivity,
                                   min_area_px=options.min_area_px)
    maps: Iterable = threshold_maps(loaded, options, progress)
    if masks_out is not None:
        maps = _saving(maps, Path(masks_out))
    artery_masks = _artery_masks(loaded, arteries, artery_radius_mm)
    settings = {"threshold": asdict(options), "roi": RoiSource(loaded, options.roi).describe()}
    return score_maps(loaded, maps, box_options, "HU threshold", artery_masks, settings)


def _saving(maps: Iterable, folder: Path) -> Iterator:
    """Pass maps through, writing each mask as ``folder/<stem>.png`` (0 / 1)."""
    from tqgd.data.convert.writer import encode_png
    from tqgd.io import write_bytes

    for image, mask, confidence in maps:
        write_bytes(folder / f"{image.stem}.png", encode_png(mask.astype(np.uint8)))
        yield image, mask, confidence
