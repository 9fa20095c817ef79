"""Predicted masks and probability maps on disk, matched to the images of a dataset split.

Files: PNG/TIFF/BMP (2D, read with OpenCV), NIfTI and MetaImage (2D or 3D, read with SimpleITK). Values: a float
array is a probability map (every value in [0, 1]); an integer array is a label mask (non-zero = calcium) unless a
``probability_scale`` is given, in which case ``value / scale`` is the probability (255 for 8-bit probability PNGs).

Matching: a 2D file matches the dataset image with the same stem (``TRV1P1_z012.png`` <- ``TRV1P1_z012.mha``); a 3D
file matches a patient (``TRV1P1.nii.gz``) and is sliced with the manifest: slice ``slice_index``, rows
``crop_y0 .. crop_y0 + height``, columns ``crop_x0 .. crop_x0 + width``, so it lands in the image's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqgd.baselines.dataset import SplitImage
from tqgd.data.convert.mask_files import file_stem, file_suffix
from tqgd.errors import ConfigError, LabelError

RASTER_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd")
PREDICTION_SUFFIXES = RASTER_SUFFIXES + VOLUME_SUFFIXES


@dataclass(frozen=True)
class PredictionMap:
    """One image's prediction: ``values`` (H, W) float probabilities or integer labels (``is_probability``)."""

    values: np.ndarray
    is_probability: bool


def read_prediction(path: Path, probability_scale: float | None = None) -> PredictionMap:
    """Read a 2D or 3D prediction file (see the module docstring for how values are read)."""
    values = _read_raster(path) if file_suffix(path) in RASTER_SUFFIXES else _read_volume(path)
    if values.ndim not in (2, 3):
        raise LabelError(f"expected a 2D or 3D prediction, got shape {values.shape}", path)
    if np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise LabelError(f"float prediction with values outside [0, 1] (min {np.nanmin(values):g}, max "
                             f"{np.nanmax(values):g}); write probabilities in [0, 1], or integer labels", path)
        return PredictionMap(values.astype(np.float32), True)
    if values.dtype == bool:
        values = values.astype(np.uint8)
    if probability_scale is None:
        return PredictionMap(values, False)
    probability = values.astype(np.float32) / np.float32(probability_scale)
    if probability.min() < 0 or probability.max() > 1:
        raise LabelError(f"values / probability scale {probability_scale:g} leave [0, 1] (max value "
                         f"{values.max()}); give the scale of a value meaning probability 1 (e.g. 255)", path)
    return PredictionMap(probability, True)


def _read_raster(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise LabelError("not a readable image (empty, truncated or not PNG/TIFF/BMP)", path)
    if image.ndim == 3:
        image = image[..., :3]
        if not all(np.array_equal(image[..., 0], image[..., c]) for c in range(1, image.shape[2])):
            raise LabelError(f"colour prediction with {image.shape[2]} different channels; save one channel", path)
        image = image[..., 0]
    return image


def _read_volume(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown ITK error"
        raise LabelError(f"SimpleITK could not read the prediction: {last}", path) from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise LabelError(f"expected one channel, got {image.GetNumberOfComponentsPerPixel()}", path)
    return sitk.GetArrayFromImage(image)


class PredictionFolder:
    """The prediction files of one folder, looked up by image stem (2D) or patient (3D); one volume is cached."""

    def __init__(self, folder: str | Path, probability_scale: float | None = None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"prediction folder {self.folder} does not exist or is not a folder")
        if probability_scale is not None and not probability_scale > 0:
            raise ConfigError(f"probability scale must be > 0, got {probability_scale}")
        self.probability_scale = probability_scale
        self.by_stem: dict[str, Path] = {}
        for path in sorted(self.folder.iterdir()):
            if path.is_file() and not path.name.startswith(".") and file_suffix(path) in PREDICTION_SUFFIXES:
                stem = file_stem(path)
                if stem in self.by_stem:
                    raise LabelError(f"{self.by_stem[stem].name} and {path.name} share the stem {stem!r}; keep one "
                                     "prediction per image or patient", self.folder)
                self.by_stem[stem] = path
        self._cached: tuple[Path, PredictionMap] | None = None

    def has(self, image: SplitImage) -> bool:
        """Whether a file for this image (its stem) or its patient exists."""
        return image.stem in self.by_stem or (image.row is not None and image.row.patient in self.by_stem)

    def for_image(self, image: SplitImage) -> PredictionMap:
        """The (H, W) prediction for ``image``; raises LabelError on a missing file or a size mismatch."""
        if image.stem in self.by_stem:
            path = self.by_stem[image.stem]
            prediction = self._read(path)
            if prediction.values.shape != (image.height, image.width):
                raise LabelError(f"prediction shape {prediction.values.shape} does not match image {image.stem} "
                                 f"({image.height}, {image.width}); a 2D prediction must cover the image exactly", path)
            return prediction
        if image.row is None or image.row.patient not in self.by_stem:
            raise LabelError(f"no prediction for image {image.stem}: expected {image.stem}.png/.mha/.nii.gz (2D) or a "
                             f"volume named after its patient", self.folder)
        return self._slice(self.by_stem[image.row.patient], image)

    def _read(self, path: Path) -> PredictionMap:
        if self._cached is None or self._cached[0] != path:
            self._cached = (path, read_prediction(path, self.probability_scale))
        return self._cached[1]

    def _slice(self, path: Path, image: SplitImage) -> PredictionMap:
        volume = self._read(path)
        row = image.row
        values = volume.values if volume.values.ndim == 3 else None
        if values is None:
            raise LabelError(f"patient file is 2D {volume.values.shape}; a patient's prediction must be a 3D volume "
                             "(z, y, x) like its scan", path)
        z, y0, x0 = row.slice_index, row.crop_y0, row.crop_x0
        if z >= values.shape[0] or y0 + image.height > values.shape[1] or x0 + image.width > values.shape[2]:
            raise LabelError(f"volume shape {values.shape} (z, y, x) is too small for image {image.stem} (slice {z}, "
                             f"rows {y0}..{y0 + image.height}, columns {x0}..{x0 + image.width}); predict on the whole "
                             "source scan", path)
        return PredictionMap(values[z, y0:y0 + image.height, x0:x0 + image.width], volume.is_probability)
