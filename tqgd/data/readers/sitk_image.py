"""MetaImage (``.mhd`` + ``.raw``/``.zraw``, as OrCaScore ships) and NIfTI volumes through SimpleITK.

SimpleITK returns voxels in (z, y, x) order and geometry in LPS, matching ``CTVolume``. Values are taken as
HU as stored (OrCaScore and NIfTI CT exports store HU); a NIfTI ``scl_slope``/``scl_inter`` is applied by ITK.
Files are checked first (``metaimage_checks``, ``nifti_checks``) because ITK reads damaged files without complaint
(zero-filled NIfTI, repeated MetaImage keys, data files longer than the header says).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tqgd.data.readers import reader, refuse_dicom_options
from tqgd.data.readers.metaimage_checks import check_metaimage_header
from tqgd.data.readers.nifti_checks import check_nifti
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.errors import ScanReadError

#: Direction cosines may differ from a rotation by rounding in the file (ITK itself allows about this much).
DIRECTION_TOLERANCE = 1e-4
_FORMAT_BY_SUFFIX = {".mhd": "metaimage", ".mha": "metaimage", ".nii": "nifti", ".nii.gz": "nifti"}


@reader(".mhd", ".mha", ".nii", ".nii.gz")
def read_sitk_volume(path: Path, **options: object) -> CTVolume:
    """Read a MetaImage or NIfTI CT volume; see the module docstring."""
    path = Path(path)
    refuse_dicom_options(path, options)
    suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix.lower()
    if suffix == ".mhd":
        check_metaimage_header(path)
    elif suffix in (".nii", ".nii.gz"):
        check_nifti(path, compressed=suffix == ".nii.gz")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown ITK error"
        raise ScanReadError(f"SimpleITK could not read it ({first_line}); the file is damaged, truncated or not "
                            f"{_FORMAT_BY_SUFFIX.get(suffix, 'MetaImage')}", path) from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ScanReadError(f"expected a single-channel CT volume, got {image.GetNumberOfComponentsPerPixel()} "
                            "channels", path)
    if image.GetDimension() == 2:
        image = sitk.JoinSeries([image])
    if image.GetDimension() != 3:
        raise ScanReadError(f"expected a 3D volume, got {image.GetDimension()}D", path)
    hu = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    if not np.isfinite(hu).all():
        raise ScanReadError("voxel values contain NaN or infinity", path)
    sx, sy, sz = image.GetSpacing()
    if min(sx, sy, sz) <= 0 or not np.isfinite([sx, sy, sz]).all():
        raise ScanReadError(f"voxel spacing must be positive, got (x, y, z) = {(sx, sy, sz)}", path)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if not np.isfinite([*image.GetOrigin(), *direction.ravel()]).all():
        raise ScanReadError(f"origin {image.GetOrigin()} or direction {image.GetDirection()} is not finite; the "
                            "scan cannot be placed in space", path)
    if not np.allclose(direction.T @ direction, np.eye(3), atol=DIRECTION_TOLERANCE):
        raise ScanReadError(f"the direction matrix {np.round(direction, 4).tolist()} is not a rotation (its columns "
                            "must be perpendicular unit vectors), so voxel sizes and positions would be wrong; fix "
                            "the orientation in the header", path)
    meta = ScanMetadata(
        source=path,
        format=_FORMAT_BY_SUFFIX.get(suffix, "metaimage"),
        has_hu=True,
        slice_thickness_mm=None,
        slice_spacing_mm=float(sz),
        modality="CT",
        scan_id=path.name[: -len(suffix)] if suffix else path.stem,
    )
    return CTVolume(hu=hu, spacing_mm=(sz, sy, sx), origin_mm=image.GetOrigin(), direction=direction, meta=meta)
