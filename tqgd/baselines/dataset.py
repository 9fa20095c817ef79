"""One split of a converted dataset as the baselines read it: images, ground-truth boxes, manifest rows and sources.

A split is named by a data YAML (``OUT/fold0.yaml``) and a split key (``val``); its image list is expanded the way
ultralytics does it (a ``.txt`` list whose ``./`` lines are relative to the list's folder, a folder, or one image).
Ground truth comes from the images' YOLO label files through ``tqgd.engine.val.ground_truth``, the reader
``tqgd val`` uses, keyed like ultralytics' ``predictions.json`` (``image_key``). The manifest (``manifest.csv``) maps
each image back to its patient, source slice and crop offset; ``convert.json`` names the source folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.convert.manifest import MANIFEST_NAME, ManifestRow, read_manifest
from tqgd.data.convert.writer import MASKS_DIR
from tqgd.errors import ConfigError, DatasetError

#: Image suffixes an ultralytics split may list (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class SplitImage:
    """One image of the split: ``key`` as in predictions.json, pixel size, and its manifest row (None without one)."""

    key: int | str
    stem: str
    path: Path
    width: int
    height: int
    row: ManifestRow | None


@dataclass
class DatasetSplit:
    """A loaded split; ``gt`` maps image key -> (N, 5) ``x0 y0 x1 y1 class`` in image pixels."""

    yaml_path: Path
    root: Path
    split: str
    names: dict[int, str]
    images: list[SplitImage]
    gt: dict[int | str, np.ndarray]
    convert: dict[str, Any] = field(default_factory=dict)

    def source_root(self) -> Path:
        """Folder the manifest's ``source`` paths are relative to (from convert.json)."""
        return source_root_of(self.convert, self.root)

    def source_of(self, image: SplitImage) -> Path:
        """The scan an image was cut from."""
        if image.row is None or not image.row.source:
            raise DatasetError(f"image {image.stem} has no manifest row naming its source scan; this needs a dataset "
                               "written by 'tqgd convert'", self.root / MANIFEST_NAME)
        path = self.source_root() / image.row.source
        if not path.exists():
            raise DatasetError(f"the source scan of image {image.stem} is missing; the dataset's input folder "
                               "(convert.json 'source') has moved or been deleted: restore it, or re-run the "
                               "conversion", path)
        return path

    def reference_mask_path(self, image: SplitImage) -> Path | None:
        """``masks/<stem>.png`` written by ``tqgd convert orcascore --masks``, or None when the dataset has none."""
        path = self.root / MASKS_DIR / f"{image.stem}.png"
        return path if path.is_file() else None


def source_root_of(convert: dict[str, Any], root: Path) -> Path:
    """The input folder named in a dataset's convert.json (``source`` of orcascore, ``images`` of masks)."""
    if "source" in convert:
        return Path(convert["source"])
    if "images" in convert:
        images = Path(convert["images"])
        return images if images.is_dir() else images.parent
    raise DatasetError("convert.json names no source folder, so the source scans cannot be found; re-run "
                       "'tqgd convert'", root / "convert.json")


def image_files(entries: tuple[Path, ...], yaml_path: Path) -> list[Path]:
    """Expand split entries (``.txt`` lists, folders, image files) into image paths, sorted and unique."""
    files: list[Path] = []
    for entry in entries:
        if entry.is_dir():
            files += [p for p in entry.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        elif entry.suffix.lower() == ".txt":
            for line in entry.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line:
                    files.append((entry.parent / line[2:]) if line.startswith("./") else Path(line))
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            files.append(entry)
        else:
            raise DatasetError(f"split entry {entry} is neither an image list (.txt), a folder nor an image", yaml_path)
    files = sorted({p.resolve() for p in files})
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} listed image(s) do not exist, e.g. {missing[:3]}; re-run the conversion",
                           yaml_path)
    return files


def load_split(data_yaml: str | Path, split: str = "val") -> DatasetSplit:
    """Read the split ``split`` of ``data_yaml``: images, ground-truth boxes, manifest rows, convert.json.

    Raises:
        DatasetError: bad YAML, missing split, missing files, duplicate image stems.
        ConfigError: a multi-class dataset (the baselines segment one class, calcium).
    """
    from tqgd.engine.dataset_check import check_data_yaml
    from tqgd.engine.val import ground_truth, image_key

    spec = check_data_yaml(data_yaml, splits=(split,))
    if split not in spec.splits:
        raise DatasetError(f"the data YAML has no '{split}' split; choose one of {sorted(spec.splits)}", spec.yaml_path)
    if len(spec.names) != 1:
        raise ConfigError(f"{spec.yaml_path}: the baselines segment one class (calcium) but this dataset has "
                          f"{len(spec.names)} ({', '.join(spec.names.values())}); convert with --classes single")
    files = image_files(spec.splits[split], spec.yaml_path)
    if not files:
        raise DatasetError(f"the '{split}' split lists no images", spec.yaml_path)
    gt = ground_truth([str(p) for p in files], len(spec.names))
    manifest = spec.root / MANIFEST_NAME
    rows = {Path(r.image).stem: r for r in read_manifest(manifest)} if manifest.is_file() else {}
    images = []
    for path in files:
        row = rows.get(path.stem)
        width, height = (row.width, row.height) if row is not None else _image_size(path)
        images.append(SplitImage(key=image_key(path), stem=path.stem, path=path, width=width, height=height, row=row))
    convert_json = spec.root / "convert.json"
    convert = json.loads(convert_json.read_text(encoding="utf-8")) if convert_json.is_file() else {}
    return DatasetSplit(yaml_path=spec.yaml_path, root=spec.root, split=split, names=spec.names, images=images, gt=gt,
                        convert=convert)


def fold_yaml(data_dir: str | Path, fold: int) -> Path:
    """``DATA_DIR/fold<fold>.yaml`` of a converted dataset, checked to exist."""
    path = Path(data_dir) / f"fold{fold}.yaml"
    if not path.is_file():
        folds = sorted(p.name for p in Path(data_dir).glob("fold*.yaml"))
        raise DatasetError(f"no fold{fold}.yaml here; the dataset has {folds or 'no fold YAMLs'} (is this a folder "
                           "written by 'tqgd convert orcascore'?)", data_dir)
    return path


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as opened:
        return opened.size
