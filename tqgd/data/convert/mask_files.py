"""Reading label masks from disk: PNG/TIFF/BMP (2D) with OpenCV, MetaImage and NIfTI (2D or 3D) with SimpleITK.

Masks come back as integer arrays, (H, W) or (Z, H, W) like ``CTVolume.hu``; values are labels, never
rescaled. A colour PNG is accepted only when its channels are identical (a grey mask saved as RGB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqgd.errors import LabelError

IMAGE_2D_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mhd", ".mha")
MASK_SUFFIXES = VOLUME_SUFFIXES + IMAGE_2D_SUFFIXES


def file_suffix(path: str | Path) -> str:
    """Lower-case suffix including ``.nii.gz``; '' when the name has none."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def file_stem(path: str | Path) -> str:
    """Name without its (double) suffix: ``case1.nii.gz`` -> ``case1``."""
    name, suffix = Path(path).name, file_suffix(path)
    return name[: len(name) - len(suffix)] if suffix else name


def _read_2d(path: Path) -> np.ndarray:
    import cv2

    from tqgd.data.readers.image2d import check_declared_size
    from tqgd.errors import ScanReadError

    try:
        check_declared_size(path)  # a tiny file declaring gigapixels would be allocated before decoding fails
    except ScanReadError as exc:
        raise LabelError(f"cannot read the mask: {exc.detail}", path) from exc
    data = np.fromfile(path, dtype=np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if mask is None:
        raise LabelError("not a readable image mask (empty, truncated or not PNG/TIFF/BMP)", path)
    if mask.ndim == 3:
        if mask.shape[2] == 4:
            mask = mask[..., :3]
        if not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, mask.shape[2])):
            raise LabelError(f"colour mask with {mask.shape[2]} different channels; expected one channel of label "
                             "values (save the mask as greyscale, one integer label per pixel)", path)
        mask = mask[..., 0]
    return mask


def _check_volume_file(path: Path) -> None:
    """The reader's integrity checks (truncated data, repeated or mismatched header fields), as ``LabelError``s.

    ITK would zero-fill a truncated NIfTI or read a MetaImage whose header does not match its data file, which here
    would silently drop labelled lesions. Geometry is not checked: masks pair with their images by voxel index.
    """
    from tqgd.data.readers.metaimage_checks import check_metaimage_header
    from tqgd.data.readers.nifti_checks import check_nifti
    from tqgd.errors import ScanReadError

    suffix = file_suffix(path)
    try:
        if suffix == ".mhd":
            check_metaimage_header(path)
        elif suffix in (".nii", ".nii.gz"):
            check_nifti(path, compressed=suffix == ".nii.gz", geometry=False)
    except ScanReadError as exc:
        raise LabelError(f"cannot read the mask: {exc.detail}", path) from exc


def _read_sitk(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    _check_volume_file(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown ITK error"
        raise LabelError(f"SimpleITK could not read the mask: {last}", path) from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise LabelError(f"expected a single-channel label mask, got {image.GetNumberOfComponentsPerPixel()} "
                         "channels", path)
    return sitk.GetArrayFromImage(image)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a label mask file as an integer array (H, W) or (Z, H, W).

    Raises:
        LabelError: unreadable file, unsupported format, several channels, or non-integer labels.
    """
    path = Path(path)
    suffix = file_suffix(path)
    if suffix not in MASK_SUFFIXES:
        raise LabelError(f"unknown mask format {suffix or '(no extension)'!r}; expected one of {MASK_SUFFIXES}", path)
    if not path.is_file():
        raise LabelError("mask file does not exist", path)
    mask = _read_2d(path) if suffix in IMAGE_2D_SUFFIXES else _read_sitk(path)
    if mask.ndim not in (2, 3):
        raise LabelError(f"expected a 2D or 3D mask, got shape {mask.shape}", path)
    if not np.issubdtype(mask.dtype, np.integer):
        if not np.all(np.isfinite(mask)) or not np.array_equal(mask, np.round(mask)):
            raise LabelError(f"mask has non-integer values (dtype {mask.dtype}); expected integer labels; threshold "
                             "probability maps first", path)
        mask = mask.astype(np.int64)
    if (mask < 0).any():
        raise LabelError(f"mask has negative values (min {int(mask.min())}); expected labels 0 (background) and up",
                         path)
    return mask
