"""2D PNG/JPEG slices (e.g. Concord-style exports): grey values, not HU.

The volume has one slice, spacing 1 mm (unknown) and ``meta.has_hu = False``, so HU-based steps (calcium
threshold, Agatston) know they cannot run on it. 16-bit PNGs keep their full range.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tqgd.data.readers import reader, refuse_dicom_options
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.errors import ScanReadError


#: A slice larger than this is a corrupt or hostile header, not a CT image (DICOM's limit is the same 8192 a side).
MAX_SLICE_PIXELS = 8192 * 8192


#: PIL's reader class per suffix: opened directly, it reads only the header (PIL.Image.open is patched by ultralytics
#: to go looking for a HEIF plugin on files it cannot identify).
_HEADER_READERS = {".png": ("PngImagePlugin", "PngImageFile"), ".jpg": ("JpegImagePlugin", "JpegImageFile"),
                   ".jpeg": ("JpegImagePlugin", "JpegImageFile"), ".tif": ("TiffImagePlugin", "TiffImageFile"),
                   ".tiff": ("TiffImagePlugin", "TiffImageFile"), ".bmp": ("BmpImagePlugin", "BmpImageFile")}


def check_declared_size(path: Path) -> None:
    """Refuse an image whose header declares more than ``MAX_SLICE_PIXELS`` before anything is decoded.

    A few kilobytes of PNG can declare gigapixels of zeros; OpenCV would allocate them (and tqgd then 4 bytes per
    pixel more) before noticing anything. A header PIL cannot read is left to OpenCV's decoder to report.
    """
    import importlib

    module, name = _HEADER_READERS[path.suffix.lower()]
    header_reader = getattr(importlib.import_module(f"PIL.{module}"), name)
    try:
        with header_reader(str(path)) as image:
            width, height = image.size
    except Exception:  # not this format, or a damaged header: the decoder below says so
        return
    if width * height > MAX_SLICE_PIXELS:
        raise ScanReadError(f"the image header declares {width} x {height} pixels, more than any CT slice (at most "
                            f"{MAX_SLICE_PIXELS:,} pixels); the file is corrupt", path)


@reader(".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
def read_image_slice(path: Path, **options: object) -> CTVolume:
    """Read a 2D image as a one-slice volume of grey values (colour images are converted to grey)."""
    path = Path(path)
    refuse_dicom_options(path, options)
    check_declared_size(path)
    data = np.fromfile(path, dtype=np.uint8) if path.stat().st_size else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ScanReadError("not a readable image (empty, truncated or not PNG/JPEG/TIFF/BMP)", path)
    if image.ndim == 3:
        channels = image.shape[2]
        code = cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    meta = ScanMetadata(source=path, format="image", has_hu=False, modality=None, scan_id=path.stem,
                        extra={"note": "2D image: grey values, not Hounsfield units; spacing unknown (1 mm assumed)",
                               "dtype": str(image.dtype)})
    return CTVolume(hu=image[None].astype(np.float32), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0),
                    direction=np.eye(3), meta=meta)
