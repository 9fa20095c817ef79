"""MetaImage (``.mhd`` + ``.raw``/``.zraw``, as OrCaScore ships) and NIfTI volumes through SimpleITK.

SimpleITK returns voxels in (z, y, x) order and geometry in LPS, matching ``CTVolume``. Values are taken as
HU as stored (OrCaScore and NIfTI CT exports store HU); a NIfTI ``scl_slope``/``scl_inter`` is applied by ITK.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tqgd.data.readers import reader
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.errors import ScanReadError

_FORMAT_BY_SUFFIX = {".mhd": "metaimage", ".mha": "metaimage", ".nii": "nifti", ".nii.gz": "nifti"}


def _check_metaimage_header(path: Path) -> None:
    """Catch the common MetaImage breakages with a clear message before ITK prints a generic one."""
    try:
        header = path.read_text(errors="replace")
    except OSError as exc:
        raise ScanReadError(f"cannot read MetaImage header ({exc.strerror})", path) from exc
    fields = dict(re.findall(r"^\s*(\w+)\s*=\s*(.*?)\s*$", header, flags=re.MULTILINE))
    if "DimSize" not in fields or "ElementType" not in fields:
        raise ScanReadError("not a MetaImage header: DimSize and ElementType are required", path)
    try:
        dims = [int(v) for v in fields["DimSize"].split()]
    except ValueError as exc:
        raise ScanReadError(f"DimSize must be whole numbers, got {fields['DimSize']!r}", path) from exc
    if not dims or any(d <= 0 for d in dims):
        raise ScanReadError(f"DimSize must be positive, got {fields['DimSize']!r}", path)
    data_file = fields.get("ElementDataFile", "")
    if data_file and data_file.upper() not in {"LOCAL", "LIST"} and "%" not in data_file:
        data_path = path.parent / data_file
        if not data_path.exists():
            raise ScanReadError(f"pixel data file {data_file!r} named by ElementDataFile is missing; copy it next to "
                                "the header", path)
        compressed = fields.get("CompressedData", "False").lower() == "true"
        if not compressed:
            item = {"MET_UCHAR": 1, "MET_CHAR": 1, "MET_USHORT": 2, "MET_SHORT": 2, "MET_UINT": 4, "MET_INT": 4,
                    "MET_FLOAT": 4, "MET_DOUBLE": 8}.get(fields["ElementType"], 0)
            channels = int(fields.get("ElementNumberOfChannels", "1") or 1)
            expected = int(np.prod(dims)) * item * channels
            actual = data_path.stat().st_size
            if item and actual < expected:
                raise ScanReadError(f"pixel data file {data_file!r} holds {actual} bytes but DimSize {dims} needs "
                                    f"{expected}; the file is truncated or the header is wrong", path)


@reader(".mhd", ".mha", ".nii", ".nii.gz")
def read_sitk_volume(path: Path, **_options) -> CTVolume:
    """Read a MetaImage or NIfTI CT volume; see the module docstring."""
    path = Path(path)
    suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix.lower()
    if suffix == ".mhd":
        _check_metaimage_header(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown ITK error"
        raise ScanReadError(f"SimpleITK could not read it: {first_line}", path) from exc
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
    meta = ScanMetadata(
        source=path,
        format=_FORMAT_BY_SUFFIX.get(suffix, "metaimage"),
        has_hu=True,
        slice_thickness_mm=None,
        slice_spacing_mm=float(sz),
        modality="CT",
        scan_id=path.name[: -len(suffix)] if suffix else path.stem,
    )
    return CTVolume(hu=hu, spacing_mm=(sz, sy, sx), origin_mm=image.GetOrigin(),
                    direction=np.array(image.GetDirection()).reshape(3, 3), meta=meta)
