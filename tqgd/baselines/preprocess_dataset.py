"""A pre-processed copy of a converted dataset, so any model (detectors, U-Net) trains and validates on it unchanged.

``preprocess_dataset(SRC, OUT, reference=..., remove_lungs=...)`` rewrites every image of SRC: lungs removed (the
lung mask of the whole source slice, from the scan named in ``manifest.csv``, cut to the image's crop; lung pixels
get the windowed value of -1000 HU) and / or the histogram matched to a reference image. Everything else (labels,
VOC, COCO, fold lists, masks, manifest) is copied byte for byte; the dataset YAMLs get OUT as ``path:``; OUT's
``convert.json`` records the pre-processing and is written last. SRC is never modified.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tqgd.data.convert.dataset_yaml import CONVERT_JSON
from tqgd.data.convert.manifest import MANIFEST_NAME, read_manifest
from tqgd.data.convert.output import MARKER_NAME, prepare_output
from tqgd.errors import ConfigError, DatasetError
from tqgd.io import atomic_path, write_bytes, write_json, write_text

YAML_SUFFIXES = (".yaml", ".yml")


def _read_pixels(path: Path) -> np.ndarray:
    """An 8-bit dataset image as (H, W) grey or (H, W, 3) RGB."""
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint8:
        raise DatasetError("not a readable 8-bit image", path)
    return pixels[..., ::-1] if pixels.ndim == 3 else pixels


def _relocated_yaml(text: str, out: Path) -> str:
    """The YAML text with its top-level ``path:`` line pointing at ``out`` (comments kept)."""
    import yaml

    line = yaml.safe_dump({"path": str(out)}, default_flow_style=False).strip()
    return "".join(f"{line}\n" if raw.startswith("path:") else raw for raw in text.splitlines(keepends=True))


def preprocess_dataset(src: str | Path, out: str | Path, reference: str | Path | None = None,
                       remove_lungs: bool = False, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the pre-processed copy of ``src`` into ``out`` (see the module docstring); returns ``out``.

    Raises:
        ConfigError: nothing to do. DatasetError: ``src`` is not a converted dataset or its scans are missing.
        OutputError: ``out`` is unsafe (inside ``src``, not ours) or not writable.
    """
    from tqgd.baselines.dataset import source_root_of
    from tqgd.baselines.preprocess import REMOVED_LUNG_HU, lung_mask, match_histogram
    from tqgd.data.convert.writer import encode_png
    from tqgd.data.readers import read_ct
    from tqgd.data.windowing import Windowing, apply_window

    if reference is None and not remove_lungs:
        raise ConfigError("nothing to do: give a histogram reference image and/or lung removal")
    src = Path(src).resolve()
    convert_path = src / CONVERT_JSON
    if not (src / MANIFEST_NAME).is_file() or not convert_path.is_file():
        raise DatasetError(f"not a finished tqgd dataset (needs {MANIFEST_NAME} and {CONVERT_JSON})", src)
    convert = json.loads(convert_path.read_text(encoding="utf-8"))
    reference_pixels = _read_pixels(Path(reference)) if reference is not None else None
    out = prepare_output(out, [src])
    rows = read_manifest(src / MANIFEST_NAME)
    window = Windowing.from_json(convert["window"])
    air_pixel = apply_window(np.full((1, 1), REMOVED_LUNG_HU, dtype=np.float32), window)[0, 0]  # grey or RGB
    source_root = source_root_of(convert, src)
    scan: tuple[Path, object] | None = None
    for done, row in enumerate(rows, start=1):
        pixels = _read_pixels(src / row.image)
        if remove_lungs:
            path = source_root / row.source
            if scan is None or scan[0] != path:
                scan = (path, read_ct(path))
            volume = scan[1]
            lungs = lung_mask(volume.hu[row.slice_index], volume.spacing_mm[1:])
            pixels = pixels.copy()
            pixels[lungs[row.crop_y0:row.crop_y0 + row.height, row.crop_x0:row.crop_x0 + row.width]] = air_pixel
        if reference_pixels is not None:
            pixels = match_histogram(pixels, reference_pixels)
        write_bytes(out / row.image, encode_png(pixels))
        if progress:
            progress(done, len(rows))
    images = {(src / row.image).resolve() for row in rows}
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        if not path.is_file() or path.resolve() in images or relative.name in (MARKER_NAME, CONVERT_JSON):
            continue
        if path.suffix in YAML_SUFFIXES and path.parent == src:
            write_text(out / relative, _relocated_yaml(path.read_text(encoding="utf-8"), out))
        else:
            with atomic_path(out / relative) as tmp:
                shutil.copyfile(path, tmp)
    write_json(out / CONVERT_JSON, {**convert, "preprocess": {
        "preprocessed_from": str(src), "remove_lungs": remove_lungs,
        "histogram_reference": None if reference is None else str(Path(reference).resolve())}})
    return out
